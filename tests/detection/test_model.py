"""Encoder, heads and detector: shapes, initialisation, padding invariance, contracts."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from tadapt.detection import (
    ClassificationHead,
    IdentityFPN,
    PointGenerator,
    PrecomputedFeatures,
    PyramidEncoder,
    RegressionHead,
    TemporalDetector,
    TransformerBlock,
    build_actionformer,
    sinusoid_position_encoding,
)
from tadapt.structures import Detections, Segments, VideoSample, collate_samples


def lengths_to_mask(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


def test_pyramid_encoder_levels_and_masks() -> None:
    torch.manual_seed(0)
    enc = PyramidEncoder(6, embed_dim=16, num_heads=2, window_size=[5, 5, 3, 3, -1, -1]).eval()
    assert enc.strides == (1, 2, 4, 8, 16, 32)
    assert enc.size_divisor == 32
    mask = lengths_to_mask([64, 37], 64)
    feats, masks = enc(torch.randn(2, 6, 64), mask)
    assert [tuple(f.shape) for f in feats] == [(2, 16, 64 // s) for s in enc.strides]
    assert [m.sum(dim=1).tolist() for m in masks] == [[64 // s, -(-37 // s)] for s in enc.strides]
    for f, m in zip(feats, masks, strict=True):
        assert torch.all(f.masked_select(~m[:, None, :]) == 0)  # padded outputs are zero
    with pytest.raises(ValueError, match="not a multiple of 32"):
        enc(torch.randn(1, 6, 48), torch.ones(1, 48, dtype=torch.bool))
    with pytest.raises(ValueError, match="one value or 6"):
        PyramidEncoder(6, embed_dim=16, window_size=[5, 5])


def test_strided_block_max_pools_only_valid_positions() -> None:
    torch.manual_seed(0)
    block = TransformerBlock(8, 2, stride=2, window_size=-1).eval()
    mask = lengths_to_mask([5], 8)
    x = -torch.rand(1, 8, 8) - 1  # all negative: a zero from padding would win a max-pool
    out, out_mask = block(x, mask)
    assert out.shape == (1, 8, 4)
    assert out_mask.tolist() == [[True, True, True, False]]
    x_noisy = torch.where(mask[:, None], x, torch.full_like(x, 100.0))
    torch.testing.assert_close(block(x_noisy, mask)[0], out)
    alone, _ = block(x[:, :, :6], lengths_to_mask([5], 6))
    torch.testing.assert_close(alone[:, :, :3], out[:, :, :3])


def test_sinusoid_position_encoding_formula() -> None:
    table = sinusoid_position_encoding(50, 6)
    assert table.shape == (6, 50)
    for t in (0, 7, 49):
        for c in range(6):
            angle = t / 10000 ** (2 * (c // 2) / 6)
            expected = math.sin(angle) if c % 2 == 0 else math.cos(angle)
            assert table[c, t].item() == pytest.approx(expected, abs=1e-6)


def test_absolute_position_encoding_lengths() -> None:
    enc = PyramidEncoder(4, embed_dim=8, num_heads=2, use_abs_pe=True, max_seq_len=64)
    assert enc.pos_embed is not None
    table = sinusoid_position_encoding(64, 8) / math.sqrt(8)
    torch.testing.assert_close(enc._position_encoding(32)[0], table[:, :32])
    with pytest.raises(ValueError, match="exceeds max_seq_len=64"):
        enc.train()._position_encoding(96)
    assert enc.eval()._position_encoding(96).shape == (1, 8, 96)  # stretched for evaluation
    assert PyramidEncoder(4, embed_dim=8, num_heads=2).pos_embed is None


def test_input_dropout_drops_whole_channels_in_training_only() -> None:
    enc = PyramidEncoder(32, embed_dim=8, num_heads=2, arch=(2, 1, 1), input_drop=0.5)
    assert isinstance(enc.input_drop, torch.nn.Dropout1d)
    x = torch.ones(2, 32, 16)
    torch.manual_seed(0)
    dropped = enc.input_drop(x)  # (B, C, T): per sample and channel, all steps or none
    zero = (dropped == 0).all(dim=-1)
    assert zero.any()
    assert ((dropped == 0) == zero[..., None]).all()
    torch.testing.assert_close(dropped[~zero], torch.full_like(dropped[~zero], 2.0))
    mask = torch.ones(2, 16, dtype=torch.bool)
    enc.eval()
    first, _ = enc(x, mask)
    second, _ = enc(x, mask)
    torch.testing.assert_close(first[0], second[0])
    assert isinstance(PyramidEncoder(4, embed_dim=8, num_heads=2).input_drop, torch.nn.Identity)


def test_position_encoding_follows_a_temporal_reduction() -> None:
    # LoFi's T-LoFi: 16 steps that each stand for 4 full-fidelity steps read every 4th entry
    enc = PyramidEncoder(4, embed_dim=8, num_heads=2, use_abs_pe=True, max_seq_len=64).train()
    table = sinusoid_position_encoding(64, 8) / math.sqrt(8)
    torch.testing.assert_close(enc._position_encoding(16, 4)[0], table[:, 0:64:4])
    half = enc._position_encoding(8, 2.5)[0]  # fractional steps: linear between entries
    torch.testing.assert_close(half[:, 1], (table[:, 2] + table[:, 3]) / 2)
    # padding past the table is allowed, valid steps past it are not
    assert enc._position_encoding(32, 4, valid=16).shape == (1, 8, 32)
    with pytest.raises(ValueError, match="temporal reduction of 4 covers 65 steps"):
        enc._position_encoding(32, 4, valid=17)


def test_detector_passes_the_batch_temporal_reduction_to_the_encoder() -> None:
    torch.manual_seed(0)
    model = build_actionformer(8, 2, embed_dim=16, use_abs_pe=True, max_seq_len=256).eval()
    batch = collate_samples([sample("a", 64)])
    reduced = dataclasses.replace(batch, temporal_reduction=4)
    seen: list[float] = []
    original = model.encoder.forward

    def spy(x: torch.Tensor, mask: torch.Tensor, *, position_step: float = 1.0):
        seen.append(position_step)
        return original(x, mask, position_step=position_step)

    model.encoder.forward = spy  # type: ignore[method-assign]
    with torch.no_grad():
        plain = model.forward_heads(batch.inputs, batch.masks)
        model(batch)
        model(reduced)
        stepped = model.forward_heads(reduced.inputs, reduced.masks, position_step=4)
    assert seen == [1, 1, 4, 4]
    assert not torch.equal(plain.cls_logits, stepped.cls_logits)  # a different encoding


def test_heads_prior_and_non_negative_offsets() -> None:
    torch.manual_seed(0)
    feats = [torch.zeros(2, 16, 32), torch.randn(2, 16, 16)]
    masks = [lengths_to_mask([32, 20], 32), lengths_to_mask([16, 10], 16)]
    cls_head = ClassificationHead(16, 16, 3, prior_prob=0.01)
    logits = cls_head(feats, masks)
    assert [tuple(x.shape) for x in logits] == [(2, 3, 32), (2, 3, 16)]
    # zero features: every hidden activation is zero, so the output is the prior bias
    probs = torch.sigmoid(logits[0][0])
    torch.testing.assert_close(probs, torch.full_like(probs, 0.01))
    reg_head = RegressionHead(16, 16, 2)
    offsets = reg_head(feats, masks)
    assert [tuple(x.shape) for x in offsets] == [(2, 2, 32), (2, 2, 16)]
    assert all(torch.all(x >= 0) for x in offsets)
    with pytest.raises(ValueError, match="has 2 levels, got 1"):
        reg_head(feats[:1], masks[:1])
    fpn = IdentityFPN(16, 2)
    normed = fpn(feats, masks)
    torch.testing.assert_close(normed[1].mean(dim=1), torch.zeros(2, 16), atol=1e-5, rtol=0)


def sample(vid: str, length: int, channels: int = 8, seed: int = 0) -> VideoSample:
    g = torch.Generator().manual_seed(seed)
    return VideoSample(
        vid,
        torch.randn(channels, length, generator=g),
        torch.ones(length, dtype=torch.bool),
        Segments([[3.0, 20.0], [30.0, 34.0]], "idx"),
        torch.tensor([0, 1]),
        grid_stride_sec=0.5,
        duration_sec=length * 0.5,
    )


@pytest.mark.parametrize("window_size", [5, -1])
def test_detector_outputs_do_not_depend_on_padding(window_size: int) -> None:
    torch.manual_seed(0)
    model = build_actionformer(8, 2, embed_dim=16, window_size=window_size).eval()
    short, long = sample("a", 70), sample("b", 128, seed=1)
    alone = collate_samples([short])  # padded to 96 by the detector
    both = collate_samples([short, long])  # padded to 128 by the batch
    out_alone = model.forward_heads(alone.inputs, alone.masks)
    out_both = model.forward_heads(both.inputs, both.masks)
    for name in ("cls_logits", "offsets"):
        levels_alone = out_alone.points.split(getattr(out_alone, name)[0])
        levels_both = out_both.points.split(getattr(out_both, name)[0])
        valid_alone = out_alone.points.split(out_alone.valid[0])
        for la, lb, v in zip(levels_alone, levels_both, valid_alone, strict=True):
            n = int(v.sum())
            torch.testing.assert_close(la[:n], lb[:n], rtol=1e-4, atol=1e-5)
    det_alone = model(alone)[0]
    det_both = model(both)[0]
    torch.testing.assert_close(det_alone.scores, det_both.scores, rtol=1e-4, atol=1e-6)


def test_training_forward_backward_and_inference() -> None:
    torch.manual_seed(0)
    model = build_actionformer(8, 2, embed_dim=16)
    batch = collate_samples([sample("a", 70), sample("b", 64, seed=1)])
    losses = model(batch)
    assert set(losses) == {"cls_loss", "reg_loss", "final_loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(model.loss.normalizer.value) != 100.0  # updated in training
    losses["final_loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []
    model.eval()
    results = model(batch)
    assert [r.video_id for r in results] == ["a", "b"]
    for r, duration in zip(results, [35.0, 32.0], strict=True):
        assert isinstance(r, Detections)
        assert r.segments.unit == "sec"
        assert len(r) <= 200
        assert torch.all(r.segments.tensor >= 0)
        assert torch.all(r.segments.tensor <= duration)
        assert torch.all(r.scores[:-1] >= r.scores[1:])


def test_build_actionformer_defaults() -> None:
    model = build_actionformer(2048, 20)
    assert model.encoder.strides == (1, 2, 4, 8, 16, 32)
    assert model.point_generator.regression_ranges[0] == (0.0, 4.0)
    assert model.encoder.stem[0].attn.window_radius == 9  # window 19
    assert len(model.encoder.stem) == 2
    assert len(model.encoder.branch) == 5
    assert len(model.cls_head.tower.convs) == 2
    assert model.center_sample_radius == 1.5
    assert float(model.loss.normalizer.value) == 100.0
    assert model.loss.normalizer.momentum == 0.9
    assert (model.loss.alpha, model.loss.gamma, model.loss.label_smoothing) == (0.25, 2.0, 0.0)
    settings = model.postprocessing
    assert (settings.nms_method, settings.sigma, settings.max_segments) == ("gaussian", 0.5, 200)
    assert settings.multiclass
    assert settings.voting_threshold == 0.7
    assert isinstance(model.feature_extractor, PrecomputedFeatures)


def test_detector_contracts() -> None:
    class NoStride(nn.Module):
        def forward(self, x, m):
            return x, m

    with pytest.raises(TypeError, match="temporal_stride"):
        build_actionformer(8, 2, embed_dim=16, feature_extractor=NoStride())
    enc = PyramidEncoder(8, embed_dim=16, arch=(2, 2, 2))
    with pytest.raises(ValueError, match="differ from the encoder"):
        TemporalDetector(
            encoder=enc,
            neck=IdentityFPN(16, 3),
            cls_head=ClassificationHead(16, 16, 2),
            reg_head=RegressionHead(16, 16, 3),
            point_generator=PointGenerator([1, 2, 8], [(0, 4), (4, 8), (8, 16)]),
            loss=build_actionformer(8, 2, embed_dim=16).loss,
        )
    with pytest.raises(ValueError, match="frames need a backbone"):
        PrecomputedFeatures()(torch.zeros(1, 3, 8, 4, 4), torch.ones(1, 8, dtype=torch.bool))
