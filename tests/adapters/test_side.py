"""Side strategies (tia_side, losa): head-only at init, no backbone gradient, flat memory."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from tadapt.adapters import (
    LongRangeAdapter,
    LoSA,
    LoSAOptions,
    ShortRangeAdapter,
    TemporalInformativeLadder,
    apply_strategy,
    build_side_network,
    default_ladder_taps,
    default_losa_taps,
    get_strategy,
)
from tadapt.adapters.base import SideNetwork
from tadapt.backbones import TokenLayout, VisionTransformer, create_backbone
from tadapt.detection import BackboneFeatures

# option sets covering every LoSA choice (defaults, and each alternative once)
LOSA_VARIANTS: list[dict[str, Any]] = [
    {},
    {
        "query": "clip",
        "long_range": "conv",
        "gate": "channel",
        "position": "sinusoid",
        "norm": False,
        "window": 2,
    },
]
SIDES: list[tuple[str, dict[str, Any]]] = [
    ("tia_side", {}),
    *[("losa", options) for options in LOSA_VARIANTS],
]


def _masks(frames: int = 32, valid: tuple[int, ...] = (32, 20)) -> torch.Tensor:
    """``(B, T)`` frame validity: video ``b`` has ``valid[b]`` real frames."""
    return torch.arange(frames)[None, :] < torch.tensor(valid)[:, None]


def _perturb(module: torch.nn.Module, seed: int = 3) -> None:
    """Random values in every parameter (zero up-projections and gates included)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(0.3 * torch.randn(param.shape, generator=generator))


def _side(backbone: VisionTransformer, name: str, options: dict[str, Any], **kwargs: Any):
    side = build_side_network(backbone, name, **kwargs, **options)
    assert side is not None
    return side


def test_side_strategies_are_registered_with_their_defaults(make_backbone):
    backbone = make_backbone()
    for name, cls, taps in [
        ("tia_side", TemporalInformativeLadder, [2, 3]),
        ("losa", LoSA, [0, 1, 2, 3]),
    ]:
        strategy = get_strategy(name)
        assert (strategy.trains, strategy.no_grad, strategy.checkpoint) == ("none", True, "none")
        side = build_side_network(backbone, name)
        assert isinstance(side, cls)
        assert isinstance(side, SideNetwork)
        assert side.taps == taps
        # apply_strategy freezes the whole backbone and inserts nothing
        apply_strategy(backbone, name)
        assert not any(p.requires_grad for p in backbone.parameters())
        assert all(block.adapter is None for block in backbone.blocks)
    assert build_side_network(backbone, "losa", blocks=[-1]).taps == [3]
    assert build_side_network(backbone, "tia", blocks=[0]) is None
    assert default_ladder_taps(40) == list(range(20, 40))  # AdaTAD† on ViT-g
    assert default_losa_taps(40) == [9, 19, 29, 39]
    assert default_losa_taps(12) == [2, 5, 8, 11]
    assert default_losa_taps(2) == [0, 1]


def test_tia_side_ratio_and_kernel_reach_the_branches(make_backbone):
    side = build_side_network(make_backbone(), "tia_side", ratio=0.125, kernel_size=5)
    assert isinstance(side, TemporalInformativeLadder)
    assert [a.down.out_features for a in side.adapters] == [12, 12]  # 96 / 8
    assert all(a.dwconv.kernel_size == (5,) for a in side.adapters)


@pytest.mark.parametrize(("name", "options"), SIDES)
def test_side_features_equal_head_only_at_init(make_backbone, clip, name, options):
    backbone = make_backbone()
    masks = _masks()
    frozen = BackboneFeatures(backbone, no_grad=True)
    side = BackboneFeatures(backbone, no_grad=True, side=_side(backbone, name, options))
    with torch.no_grad():
        expected, expected_masks = frozen(clip, masks)
    features, feature_masks = side(clip, masks)
    assert torch.equal(features, expected)
    assert torch.equal(feature_masks, expected_masks)
    assert features.requires_grad  # the side network's parameters are in the graph


@pytest.mark.parametrize(("name", "options"), SIDES)
def test_no_gradient_reaches_the_backbone(make_backbone, clip, name, options):
    backbone = make_backbone()
    apply_strategy(backbone, name)
    backbone.requires_grad_(True)  # even a trainable backbone gets nothing: it runs no-grad
    side = _side(backbone, name, options)
    _perturb(side)
    features, _ = BackboneFeatures(backbone, no_grad=True, side=side)(clip, _masks())
    features.square().mean().backward()
    assert all(param.grad is None for param in backbone.parameters())
    for param_name, param in side.named_parameters():
        assert param.grad is not None, param_name
        assert param.grad.abs().sum() > 0, param_name


def test_zero_gates_still_receive_gradient(make_backbone, clip):
    backbone = make_backbone()
    side = _side(backbone, "losa", {})
    features, _ = BackboneFeatures(backbone, no_grad=True, side=side)(clip, _masks())
    features.square().mean().backward()
    assert isinstance(side, LoSA)
    for gates in (side.short_gates, side.long_gates):
        assert gates.grad is not None
        assert (gates.grad != 0).all()  # up-projections are not zero, so the gates can open
    assert side.short_gates.shape == (4, 1)


def test_tia_side_conv_crosses_chunk_boundaries(make_backbone, clip):
    backbone = make_backbone()
    side = _side(backbone, "tia_side", {})
    _perturb(side)
    changed = clip.clone()
    changed[:, :, 16:] += torch.randn_like(changed[:, :, 16:])  # chunk 1's frames only
    steps = 16 // 2  # temporal tokens per chunk (tubelet 2)
    masks = _masks(valid=(32, 32))
    with torch.no_grad():
        ladder = BackboneFeatures(backbone, no_grad=True, side=side)
        frozen = BackboneFeatures(backbone, no_grad=True)
        moved = (ladder(changed, masks)[0] - ladder(clip, masks)[0])[..., :steps].abs()
        still = (frozen(changed, masks)[0] - frozen(clip, masks)[0])[..., :steps].abs()
    assert still.max() == 0  # the backbone itself mixes nothing across chunks
    # kernel 3: only chunk 0's last step sees chunk 1 (through the tapped blocks' branches)
    assert moved[..., : steps - 1].max() == 0
    assert moved[..., steps - 1].min() > 1e-4


def test_tia_side_sums_tia_branches_onto_the_last_block(make_backbone, clip):
    backbone = make_backbone()
    side = _side(backbone, "tia_side", {}, blocks=[1, 3])
    assert isinstance(side, TemporalInformativeLadder)
    _perturb(side)
    layout = backbone.token_layout(clip.shape)
    with torch.no_grad():
        taps = backbone.forward_intermediates(clip, [1, 3], output="tokens")
        features = side(taps, taps[1], layout, torch.ones(2, 16, dtype=torch.bool))
        # independent: each in-backbone TIA forward minus its identity, summed on the last
        expected = taps[1] + sum(a(t, layout) - t for a, t in zip(side.adapters, taps, strict=True))
    torch.testing.assert_close(features, layout.pool(expected), rtol=1e-5, atol=1e-5)


def test_tia_side_checkpointing_changes_nothing_but_memory(make_backbone, clip):
    backbone = make_backbone()
    grads, saved = [], []
    for checkpoint in (False, True):
        side = _side(backbone, "tia_side", {"checkpoint": checkpoint})
        _perturb(side)
        extractor = BackboneFeatures(backbone, no_grad=True, side=side)
        features = _saved_bytes(lambda e=extractor: e(clip, _masks())[0], saved)
        features.square().mean().backward()
        grads.append([p.grad for p in side.parameters()])
    for plain, recomputed in zip(*grads, strict=True):
        torch.testing.assert_close(plain, recomputed)
    assert saved[1] < saved[0] / 2  # only the branches' inputs (the taps) are kept


# ---- LoSA modules against direct computations ---------------------------------------------

CLIP_LEN = 4
LAYOUT = TokenLayout(batch=2, num_chunks=4, grid=(CLIP_LEN, 1, 1))  # T' = 16 steps


def _sequence(seed: int, dim: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 16, dim, generator=generator)  # (B, T', C)


def _step_masks() -> torch.Tensor:
    """Video 0 whole, video 1 with 6 valid steps (clip 1 half padded, clips 2-3 padded)."""
    return torch.arange(16)[None, :] < torch.tensor([[16], [6]])


def _heads_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int):
    """Naive softmax attention of one query ``(d,)`` to ``(K, d)`` keys, head by head."""
    out = []
    for qh, kh, vh in zip(
        q.chunk(heads), k.chunk(heads, dim=1), v.chunk(heads, dim=1), strict=True
    ):
        weights = torch.softmax(kh @ qh / math.sqrt(qh.numel()), dim=0)
        out.append(weights @ vh)
    return torch.cat(out)


@pytest.mark.parametrize("query", ["token", "clip"])
def test_short_range_attention_matches_a_per_step_loop(query):
    options = LoSAOptions(num_heads=2, window=1, query=query)
    adapter = ShortRangeAdapter(16, ratio=0.5, options=options)
    _perturb(adapter)
    x, masks = _sequence(0), _step_masks()
    out = adapter(x, masks, CLIP_LEN)

    h = adapter.down(adapter.norm(x))
    q, k, v = adapter.query(h), adapter.key(h), adapter.value(h)
    expected = torch.zeros_like(out)
    n = 16 // CLIP_LEN
    for b in range(2):
        for step in range(16):
            if not masks[b, step]:
                continue  # padded steps stay zero
            clip_index = step // CLIP_LEN
            window = range(max(0, clip_index - 1) * CLIP_LEN, min(n, clip_index + 2) * CLIP_LEN)
            keys = [j for j in window if masks[b, j]]
            if query == "token":
                query_vector = q[b, step]
            else:
                own = range(clip_index * CLIP_LEN, (clip_index + 1) * CLIP_LEN)
                query_vector = q[b, [j for j in own if masks[b, j]]].mean(0)
            attended = _heads_attention(query_vector, k[b, keys], v[b, keys], heads=2)
            expected[b, step] = adapter.up(attended)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["attention", "conv"])
def test_long_range_on_a_padded_sequence_equals_the_trimmed_one(kind):
    options = LoSAOptions(num_heads=2, long_range=kind, conv_kernel=5, position="sinusoid")
    adapter = LongRangeAdapter(16, ratio=0.5, options=options)
    _perturb(adapter)
    x, masks = _sequence(1), _step_masks()
    out = adapter(x, masks)
    alone = adapter(x[1:, :6], torch.ones(1, 6, dtype=torch.bool))  # video 1 without padding
    torch.testing.assert_close(out[1, :6], alone[0], rtol=1e-5, atol=1e-6)
    assert out[1, 6:].abs().max() == 0
    # attention is global: the first step of video 0 sees its last one; the conv (kernel 5)
    # only reaches 2 steps
    changed = x.clone()
    changed[0, -1] += torch.randn(16)  # not a constant shift, which the LayerNorm removes
    moved = (adapter(changed, masks)[0] - out[0]).abs().amax(dim=-1) > 1e-4  # (T',)
    reached = 16 if kind == "attention" else 3  # the conv: steps 13-15
    assert moved.tolist() == [step >= 16 - reached for step in range(16)]


@pytest.mark.parametrize("options", LOSA_VARIANTS)
def test_losa_padding_does_not_leak_into_valid_steps(options):
    losa = LoSA(16, [0, 1], ratio=0.5, options=LoSAOptions(num_heads=2, **options))
    _perturb(losa)
    masks = _step_masks()
    taps = [_sequence(seed).transpose(1, 2) for seed in (2, 3)]  # (B, C, T')
    last = _sequence(4).transpose(1, 2)
    out = losa(taps, last, LAYOUT, masks)

    noisy_taps = [tap.clone() for tap in taps]
    noisy_last = last.clone()
    for tensor in (*noisy_taps, noisy_last):
        tensor[1, :, 6:] = 1e3 * torch.randn(16, 10)  # garbage in the padded steps only
    noisy = losa(noisy_taps, noisy_last, LAYOUT, masks)
    valid = masks[:, None, :].expand_as(out)
    assert torch.equal(noisy[valid], out[valid])
    # at padded steps the adapters add nothing: the feature is the last block's
    assert torch.equal(noisy[1, :, 6:], noisy_last[1, :, 6:])
    assert not torch.equal(out[valid], last[valid])  # ... while valid steps are adapted


def test_losa_fusion_is_the_gated_sum_of_both_adapters():
    options = LoSAOptions(num_heads=2, gate="channel")
    losa = LoSA(16, [0, 1], ratio=0.5, options=options)
    _perturb(losa)
    masks = _step_masks()
    taps = [_sequence(seed).transpose(1, 2) for seed in (5, 6)]
    last = _sequence(7).transpose(1, 2)
    out = losa(taps, last, LAYOUT, masks)
    expected = last.transpose(1, 2).clone()
    for i, tap in enumerate(taps):
        x = tap.transpose(1, 2)
        expected += torch.tanh(losa.short_gates[i]) * losa.short[i](x, masks, CLIP_LEN)
        expected += torch.tanh(losa.long_gates[i]) * losa.long[i](x, masks)
    torch.testing.assert_close(out, expected.transpose(1, 2))
    assert losa.short_gates.shape == (2, 16)


def test_losa_options_are_validated(make_backbone):
    backbone = make_backbone()
    with pytest.raises(ValueError, match="unknown LoSA options"):
        build_side_network(backbone, "losa", kernel=3)
    with pytest.raises(ValueError, match="query='frame'"):
        build_side_network(backbone, "losa", query="frame")
    with pytest.raises(ValueError, match="conv_kernel"):
        LoSAOptions(conv_kernel=4)
    with pytest.raises(ValueError, match="divisible by num_heads=5"):
        build_side_network(backbone, "losa", num_heads=5)  # d = 24
    side = build_side_network(backbone, "losa", ratio=0.125, window=2, query="clip")
    assert isinstance(side, LoSA)
    assert side.options == LoSAOptions(window=2, query="clip")
    assert side.short[0].down.out_features == 12


# ---- memory and checkpoints ---------------------------------------------------------------


def _saved_bytes(run: Callable[[], torch.Tensor], record: list[int]) -> torch.Tensor:
    """``run()``, appending to ``record`` the bytes autograd saved for the backward pass.

    Counts what the outermost graph packs (numel * element size per saved tensor); tensors a
    non-reentrant checkpoint drops and recomputes are not counted, as they are not kept.
    """
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = run()
    record.append(total)
    return out


def _deep_backbone(depth: int) -> VisionTransformer:
    torch.manual_seed(depth)
    return create_backbone("videomae_tiny_patch16", img_size=32, depth=depth).eval()


@pytest.mark.parametrize(("name", "options"), [*SIDES, ("tia_side", {"checkpoint": False})])
def test_side_memory_does_not_grow_with_backbone_depth(clip, name, options):
    masks = _masks()
    saved: list[int] = []
    for depth in (2, 8):
        backbone = _deep_backbone(depth)
        side = _side(backbone, name, options, blocks=[-2, -1])  # same number of taps
        extractor = BackboneFeatures(backbone, no_grad=True, side=side)
        _saved_bytes(lambda e=extractor: e(clip, masks)[0], saved)
    assert saved[0] > 0
    assert saved[0] == saved[1]


def test_in_backbone_tia_memory_grows_with_depth(clip):
    saved: list[int] = []
    for depth in (2, 8):
        # two adapters, as the side networks' two taps; the gradient of the first one's
        # parameters flows back through every frozen block after it
        backbone = apply_strategy(_deep_backbone(depth), "tia", blocks=[0, -1])
        _saved_bytes(lambda b=backbone: b.forward_features(clip), saved)
    assert saved[1] > 3 * saved[0]  # 8 blocks in the backward pass instead of 2


@pytest.mark.parametrize(("name", "options"), SIDES)
def test_side_state_dict_round_trip_reproduces_features(make_backbone, clip, name, options):
    backbone = make_backbone()
    trained = _side(backbone, name, options)
    _perturb(trained, seed=11)
    fresh = _side(backbone, name, options)
    masks = _masks()
    with torch.no_grad():
        before = BackboneFeatures(backbone, no_grad=True, side=fresh)(clip, masks)[0]
        expected = BackboneFeatures(backbone, no_grad=True, side=trained)(clip, masks)[0]
        assert not torch.equal(before, expected)
        fresh.load_state_dict(trained.state_dict())
        features = BackboneFeatures(backbone, no_grad=True, side=fresh)(clip, masks)[0]
    assert torch.equal(features, expected)


def test_side_network_handles_clips_per_pass(make_backbone, clip):
    backbone = make_backbone()
    side = _side(backbone, "losa", {})
    _perturb(side)
    masks = _masks()
    with torch.no_grad():
        whole = BackboneFeatures(backbone, no_grad=True, side=side)(clip, masks)[0]
        grouped = BackboneFeatures(backbone, no_grad=True, side=side, clips_per_pass=1)
        torch.testing.assert_close(grouped(clip, masks)[0], whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "options"), [("frozen", {}), *SIDES])
def test_no_grad_backbone_stays_in_eval_mode_when_training(clip, name, options):
    torch.manual_seed(0)
    backbone = create_backbone("videomae_tiny_patch16", drop_path_rate=0.5)
    side = None if name == "frozen" else _side(backbone, name, options)
    extractor = BackboneFeatures(backbone, no_grad=True, side=side).train()
    assert not any(module.training for module in backbone.modules())
    assert side is None or all(module.training for module in side.modules())
    masks = _masks()
    first, second = extractor(clip, masks)[0], extractor(clip, masks)[0]
    head_only = BackboneFeatures(backbone, no_grad=True).eval()
    with torch.no_grad():
        expected = head_only(clip, masks)[0]
    assert torch.equal(first, second)  # drop path off: two training passes agree
    assert torch.equal(first, expected)  # ... and start exactly at the head-only model
    # a trainable backbone keeps its stochastic depth
    assert BackboneFeatures(backbone, no_grad=False).train().backbone.training
