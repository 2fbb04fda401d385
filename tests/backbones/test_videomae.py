"""The VideoMAE ViT: chunked long inputs, position tables, taps, memory controls, precision."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tadapt.backbones import TokenLayout, autocast_context
from tadapt.backbones.checkpointing import CheckpointPolicy
from tadapt.backbones.tokens import interpolate_pos_table, sinusoid_table


class TimelineMix(nn.Module):
    """Test adapter: adds the previous temporal position of the whole video (crosses chunks)."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.tensor(0.5))

    def forward(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        timeline = layout.to_timeline(x)  # (B, n * t, h, w, C)
        shifted = F.pad(timeline[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))
        return layout.from_timeline(timeline + self.gamma * shifted)


def _frames(batch: int = 1, frames: int = 16, size: int = 64, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed))


# ---- shapes and chunking ----------------------------------------------------------------


def test_forward_features_shape(make_tiny):
    model = make_tiny()
    out = model.forward_features(_frames(batch=2, frames=32))
    assert out.shape == (2, 96, 16)  # (B, C, T / tubelet)


def test_long_input_equals_separate_chunks(make_tiny):
    model = make_tiny()
    x = _frames(batch=2, frames=32)
    with torch.no_grad():
        whole = model.forward_features(x)
        parts = [model.forward_features(x[:, :, i : i + 16]) for i in (0, 16)]
    torch.testing.assert_close(whole, torch.cat(parts, dim=2), rtol=0, atol=1e-6)


def test_rejects_frames_not_a_multiple_of_the_chunk(make_tiny):
    with pytest.raises(ValueError, match="multiple of the chunk length 16"):
        make_tiny().forward_features(_frames(frames=24))


def test_token_layout_regroups_the_whole_timeline():
    layout = TokenLayout(batch=2, num_chunks=3, grid=(2, 2, 1))
    # token value encodes (video, temporal position on the whole timeline, h)
    b, n, t, h = torch.meshgrid(
        torch.arange(2), torch.arange(3), torch.arange(2), torch.arange(2), indexing="ij"
    )
    tokens = (100 * b + 10 * (n * 2 + t) + h).reshape(6, 4, 1).float()
    timeline = layout.to_timeline(tokens)
    assert timeline.shape == (2, 6, 2, 1, 1)
    expected = 100 * torch.arange(2)[:, None, None] + 10 * torch.arange(6)[None, :, None]
    assert torch.equal(timeline[..., 0, 0], (expected + torch.arange(2)).float())
    assert torch.equal(layout.from_timeline(timeline), tokens)
    pooled = layout.pool(tokens)  # (B, C, n * t): mean over h of 10 * pos + 100 * b + h
    assert torch.equal(pooled[:, 0], expected[..., 0].float() + 0.5)


def test_adapter_sees_the_whole_video_timeline(make_tiny):
    model = make_tiny()
    model.blocks[0].adapter = TimelineMix()
    x = _frames(frames=32)
    with torch.no_grad():
        whole = model.forward_features(x)
        second_alone = model.forward_features(x[:, :, 16:])
    # the adapter reaches across the chunk boundary, so chunk 2 alone differs
    assert not torch.allclose(whole[..., 8:], second_alone, atol=1e-3)
    with pytest.raises(ValueError, match="adapters"):
        model.forward_features(x, clips_per_pass=1)


# ---- position table ---------------------------------------------------------------------


def test_pos_table_native_grid_is_the_sinusoid(make_tiny):
    model = make_tiny()
    table = model.pos_table((8, 14, 14), torch.device("cpu"))
    assert torch.equal(table, sinusoid_table(8 * 14 * 14, 96))
    assert model.pos_table((8, 14, 14), torch.device("cpu")) is table  # cached


def test_interpolation_at_the_native_grid_is_the_identity():
    table = torch.randn(4 * 5 * 5, 8)
    assert torch.equal(interpolate_pos_table(table, (4, 5, 5), (4, 5, 5)), table)


def test_spatial_interpolation_is_bicubic_per_time_slice():
    table = torch.randn(3 * 14 * 14, 6)
    out = interpolate_pos_table(table, (3, 14, 14), (3, 10, 10))
    assert out.shape == (3 * 10 * 10, 6)
    for t in range(3):
        slice_ = table.reshape(3, 14, 14, 6)[t].permute(2, 0, 1)[None]
        expected = F.interpolate(slice_, size=(10, 10), mode="bicubic", align_corners=False)
        torch.testing.assert_close(out.reshape(3, 10, 10, 6)[t], expected[0].permute(1, 2, 0))


def test_temporal_interpolation_is_linear():
    # halving 8 -> 4 positions with align_corners=False samples at 2i + 0.5
    table = torch.randn(8 * 2 * 2, 4)
    out = interpolate_pos_table(table, (8, 2, 2), (4, 2, 2)).reshape(4, 2, 2, 4)
    grid = table.reshape(8, 2, 2, 4)
    torch.testing.assert_close(out, 0.5 * (grid[0::2] + grid[1::2]))


def test_160_px_and_other_chunk_lengths_run(make_tiny):
    model = make_tiny()  # table for 224 px: 14 x 14 -> 10 x 10 at 160 px
    assert model.forward_features(_frames(size=160)).shape == (1, 96, 8)
    short_chunks = make_tiny(chunk_frames=8)  # 8 temporal positions -> 4
    assert short_chunks.forward_features(_frames(frames=16)).shape == (1, 96, 8)


# ---- intermediates ----------------------------------------------------------------------


def test_forward_intermediates_indices_and_early_stop(make_tiny):
    model = make_tiny(depth=4)
    calls: list[int] = []
    for i, block in enumerate(model.blocks):
        block.register_forward_hook(lambda *_, i=i: calls.append(i))
    x = _frames(batch=2, frames=32)
    with torch.no_grad():
        pooled = model.forward_intermediates(x, [2, 0])
        assert calls == [0, 1, 2]  # block 3 never ran
        tokens = model.forward_intermediates(x, 1, output="tokens")
        last = model.forward_features(x)
    assert [p.shape for p in pooled] == [(2, 96, 16)] * 2
    layout = model.token_layout(x.shape)
    assert tokens[0].shape == (2 * 2, layout.num_tokens, 96)
    torch.testing.assert_close(layout.pool(tokens[0]), last)
    assert not torch.allclose(pooled[0], pooled[1])
    with pytest.raises(ValueError, match="out of range"):
        model.forward_intermediates(x, [4])


# ---- memory controls --------------------------------------------------------------------


def _loss_and_grads(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model.zero_grad()
    torch.manual_seed(0)  # stochastic depth draws the same masks in both runs
    loss = model.forward_features(x).pow(2).mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def test_grad_checkpointing_gives_identical_outputs_and_grads(make_tiny):
    model = make_tiny(drop_path_rate=0.2).train()
    x = _frames(frames=32)
    plain_loss, plain_grads = _loss_and_grads(model, x)
    model.set_grad_checkpointing(True)
    ckpt_loss, ckpt_grads = _loss_and_grads(model, x)
    torch.testing.assert_close(ckpt_loss, plain_loss, rtol=0, atol=1e-7)
    for a, b in zip(ckpt_grads, plain_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_frozen_prefix_is_not_checkpointed(make_tiny, monkeypatch):
    model = make_tiny(depth=4)
    model.set_grad_checkpointing(True, skip_first=False)  # also blocks with a gradless input
    checkpointed: list[int] = []
    real = CheckpointPolicy.call

    def counting(self, block, *args):
        checkpointed.append(list(model.blocks).index(block))
        return real(self, block, *args)

    monkeypatch.setattr(CheckpointPolicy, "call", counting)
    for module in (model.patch_embed, model.blocks[0], model.blocks[1]):
        module.requires_grad_(False)
    model.forward_features(_frames()).sum().backward()
    assert checkpointed == [2, 3]
    # a trainable adapter inside a frozen block makes that block worth checkpointing
    checkpointed.clear()
    model.blocks[0].adapter = TimelineMix()
    model.forward_features(_frames()).sum().backward()
    assert checkpointed == [0, 1, 2, 3]  # block 1 now gets an input that requires grad
    checkpointed.clear()
    with torch.no_grad():
        model.forward_features(_frames())
    assert checkpointed == []


def test_clips_per_pass_matches_one_pass(make_tiny):
    model = make_tiny()
    x = _frames(batch=2, frames=48)  # 6 chunks in groups of 4 and 2
    with torch.no_grad():
        expected = model.forward_features(x)
        grouped = model.forward_features(x, clips_per_pass=4)
        taps = model.forward_intermediates(x, [0, 1], output="tokens", clips_per_pass=4)
        expected_taps = model.forward_intermediates(x, [0, 1], output="tokens")
    torch.testing.assert_close(grouped, expected, rtol=0, atol=1e-6)
    for a, b in zip(taps, expected_taps, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    # under grad each group runs under a checkpoint: same gradients
    _, plain = _loss_and_grads(model, x)
    model.zero_grad()
    model.forward_features(x, clips_per_pass=4).pow(2).mean().backward()
    for param, grad in zip(model.parameters(), plain, strict=True):
        torch.testing.assert_close(param.grad, grad, rtol=1e-5, atol=1e-7)


def test_no_weight_decay_and_group_matcher(make_tiny):
    model = make_tiny()
    skip = model.no_weight_decay()
    assert {"blocks.0.attn.q_bias", "blocks.1.attn.v_bias", "blocks.0.norm1.weight"} <= skip
    assert {"patch_embed.proj.bias", "blocks.1.mlp.fc2.bias"} <= skip
    assert not {"blocks.0.attn.qkv.weight", "patch_embed.proj.weight"} & skip
    assert len(skip) == 1 + 2 * 9  # conv bias + per block: q, v, 2 norms x 2, 3 linear biases
    matcher = model.group_matcher()
    for name, _ in model.named_parameters():
        block = re.match(matcher["blocks"], name)
        assert bool(re.match(matcher["stem"], name)) != bool(block), name
        if block:
            assert name.startswith(f"blocks.{block.group(1)}.")


# ---- precision --------------------------------------------------------------------------


def test_bf16_autocast_on_cpu(make_tiny):
    model = make_tiny()
    x = _frames()
    with torch.no_grad():
        reference = model.forward_features(x)
        with autocast_context("cpu", "bf16"):
            low = model.forward_features(x)
    assert low.dtype == torch.bfloat16
    error = (low.float() - reference).norm() / reference.norm()
    assert error < 0.05


def test_precision_errors():
    with pytest.raises(ValueError, match="CUDA"), autocast_context("cpu", "fp16"):
        pass
    with pytest.raises(ValueError, match="unknown precision"), autocast_context("cpu", "fp64"):
        pass
    with autocast_context(torch.device("cpu"), "fp32"):
        assert not torch.is_autocast_enabled("cpu")
