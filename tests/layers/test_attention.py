"""Masked attention: the local window against a naive band mask, and padding invariance."""

from __future__ import annotations

import math

import pytest
import torch

from tadapt.layers import MaskedConvAttention, masked_attention


def naive_attention(q, k, v, key_mask, radius):
    """Full score matrix, band and key masks applied by hand, softmax, weighted sum."""
    t = q.shape[2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    allowed = key_mask[:, None, None, :].expand(-1, 1, t, t)
    if radius is not None:
        idx = torch.arange(t)
        allowed = allowed & ((idx[:, None] - idx[None, :]).abs() <= radius)
    scores = scores.masked_fill(~allowed, -math.inf)
    return torch.softmax(scores, dim=-1) @ v


def random_qkv(b, h, t, d, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, h, t, d, generator=g, dtype=torch.float64) for _ in range(3))


@pytest.mark.parametrize(("t", "radius"), [(50, 0), (50, 1), (77, 9), (64, 40), (20, 100)])
def test_local_window_equals_band_masked_global_attention(t: int, radius: int) -> None:
    q, k, v = random_qkv(3, 2, t, 8, seed=t + radius)
    lengths = torch.tensor([t, t - 7, 3])
    key_mask = torch.arange(t)[None, :] < lengths[:, None]
    out = masked_attention(q, k, v, key_mask, window_radius=radius)
    ref = naive_attention(q, k, v, key_mask, radius)
    for b, length in enumerate(lengths.tolist()):  # valid queries only
        torch.testing.assert_close(out[b, :, :length], ref[b, :, :length])
    assert torch.isfinite(out).all()


def test_global_attention_equals_naive_and_window_larger_than_t() -> None:
    q, k, v = random_qkv(2, 3, 40, 4, seed=1)
    key_mask = torch.arange(40)[None, :] < torch.tensor([[40], [25]])
    glob = masked_attention(q, k, v, key_mask)
    ref = naive_attention(q, k, v, key_mask, None)
    torch.testing.assert_close(glob[0], ref[0])
    torch.testing.assert_close(glob[1, :, :25], ref[1, :, :25])
    wide = masked_attention(q, k, v, key_mask, window_radius=40)
    torch.testing.assert_close(wide[1, :, :25], glob[1, :, :25])


def test_all_padded_sample_gives_finite_output() -> None:
    q, k, v = random_qkv(2, 1, 10, 4, seed=2)
    key_mask = torch.zeros(2, 10, dtype=torch.bool)
    key_mask[0] = True
    assert torch.isfinite(masked_attention(q, k, v, key_mask)).all()
    assert torch.isfinite(masked_attention(q, k, v, key_mask, window_radius=2)).all()


@pytest.mark.parametrize("window_size", [-1, 5])
@pytest.mark.parametrize("stride", [1, 2])
def test_conv_attention_ignores_padded_values(window_size: int, stride: int) -> None:
    torch.manual_seed(0)
    attn = MaskedConvAttention(16, 4, stride=stride, window_size=window_size).eval()
    lengths, total = [32, 19, 6], 32
    mask = torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]
    x = torch.randn(3, 16, total)
    noisy = torch.where(mask[:, None], x, torch.randn_like(x) * 50)
    out, out_mask = attn(x, mask)
    out_noisy, _ = attn(noisy, mask)
    assert out.shape == (3, 16, total // stride)
    assert torch.equal(out_mask, mask[:, ::stride])
    torch.testing.assert_close(out_noisy, out)
    assert torch.all(out[~out_mask[:, None, :].expand_as(out)] == 0)
    # the shortest sample run alone (no padding at all) gives its valid outputs too
    n = int(out_mask[2].sum())
    alone, _ = attn(x[2:, :, : lengths[2]], mask[2:, : lengths[2]])  # 6 steps: any stride
    torch.testing.assert_close(alone[0, :, :n], out[2, :, :n])


def test_conv_attention_rejects_bad_configurations() -> None:
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MaskedConvAttention(10, 3)
    with pytest.raises(ValueError, match="stride must be 1 or even"):
        MaskedConvAttention(8, 2, stride=3)
    with pytest.raises(ValueError, match="window_size must be odd"):
        MaskedConvAttention(8, 2, window_size=4)
