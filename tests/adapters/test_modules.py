"""PlainAdapter and TemporalInformativeAdapter as modules, against direct computations."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from tadapt.adapters import PlainAdapter, TemporalInformativeAdapter, apply_strategy
from tadapt.backbones import TokenLayout

LAYOUT = TokenLayout(batch=2, num_chunks=2, grid=(3, 2, 3))  # N = 18 tokens per chunk


def _tokens(seed: int = 0, dim: int = 16) -> torch.Tensor:
    rows = LAYOUT.batch * LAYOUT.num_chunks
    return torch.randn(rows, LAYOUT.num_tokens, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("cls", [PlainAdapter, TemporalInformativeAdapter])
def test_adapter_is_identity_at_init(cls):
    adapter = cls(16)
    x = _tokens()
    assert torch.equal(adapter(x, LAYOUT), x)
    assert adapter.down.out_features == 4  # ratio 1/4
    assert cls(16, ratio=0.125).down.out_features == 2
    assert adapter.gamma.item() == 1.0


def test_bad_ratio_and_kernel_are_rejected():
    with pytest.raises(ValueError, match="ratio"):
        PlainAdapter(16, ratio=0.01)
    with pytest.raises(ValueError, match="kernel_size"):
        TemporalInformativeAdapter(16, kernel_size=2)


def test_tia_matches_a_per_position_loop(perturb):
    adapter = TemporalInformativeAdapter(16)
    perturb(adapter)
    x = _tokens()
    out = adapter(x, LAYOUT)

    # independent computation: build each spatial position's timeline token by token
    t, h, w = LAYOUT.grid
    n = LAYOUT.num_chunks
    hidden = F.gelu(F.linear(x, adapter.down.weight, adapter.down.bias))
    expected = torch.empty_like(x)
    for b in range(LAYOUT.batch):
        for i in range(h):
            for j in range(w):
                rows = [(b * n + k, tt * h * w + i * w + j) for k in range(n) for tt in range(t)]
                seq = torch.stack([hidden[r, p] for r, p in rows], dim=1)  # (c, n * t)
                conv = F.conv1d(
                    seq[None],
                    adapter.dwconv.weight,
                    adapter.dwconv.bias,
                    padding=1,
                    groups=seq.shape[0],
                )
                seq = seq + F.conv1d(conv, adapter.pwconv.weight, adapter.pwconv.bias)[0]
                for step, (r, p) in enumerate(rows):
                    up = F.linear(seq[:, step], adapter.up.weight, adapter.up.bias)
                    expected[r, p] = x[r, p] + adapter.gamma * up
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_tia_conv_reaches_only_the_neighbouring_chunk_step(perturb):
    adapter = TemporalInformativeAdapter(16)
    perturb(adapter)
    x = _tokens()
    changed = x.clone()
    changed[1] += 1.0  # chunk 1 of video 0 only
    out, out_changed = adapter(x, LAYOUT), adapter(changed, LAYOUT)
    t, h, w = LAYOUT.grid
    chunk0 = (out_changed[0] - out[0]).abs().reshape(t, h * w, -1)
    assert chunk0[: t - 1].max() == 0  # kernel 3: only the last step before the boundary moves
    assert chunk0[t - 1].min(dim=-1).values.min() > 0  # ... and every spatial position of it
    assert torch.equal(out_changed[2:], out[2:])  # the other video is untouched

    plain = PlainAdapter(16)
    perturb(plain)
    assert torch.equal(plain(changed, LAYOUT)[0], plain(x, LAYOUT)[0])


@pytest.mark.parametrize("name", ["adapter", "tia"])
def test_adapted_backbone_equals_the_plain_one_at_init(make_backbone, clip, name):
    plain = make_backbone()
    adapted = apply_strategy(copy.deepcopy(plain), name)
    with torch.no_grad():
        assert torch.equal(adapted.forward_features(clip), plain.forward_features(clip))


def test_only_tia_carries_information_across_chunks(make_backbone, clip, perturb):
    changed = clip.clone()
    changed[:, :, 16:] += torch.randn_like(changed[:, :, 16:])  # chunk 1's frames only
    steps = 16 // 2  # temporal tokens per chunk (tubelet 2)
    for name, crosses in [("tia", True), ("adapter", False)]:
        model = apply_strategy(make_backbone(), name)
        perturb(model)
        with torch.no_grad():
            before = model.forward_features(clip)[..., :steps]  # (B, C, t) of chunk 0
            after = model.forward_features(changed)[..., :steps]
        difference = (after - before).abs().max().item()
        if crosses:
            assert difference > 1e-3
        else:
            assert difference < 1e-6
