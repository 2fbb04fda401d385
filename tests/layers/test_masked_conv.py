"""MaskedConv1d, LayerNorm1d and the drop-path layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tadapt.layers import (
    AffineDropPath,
    DropPath,
    LayerNorm1d,
    MaskedConv1d,
    Scale,
    downsample_mask,
    drop_path,
)


def lengths_to_mask(lengths: list[int], total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize(("stride", "groups"), [(1, 1), (2, 1), (2, 6), (4, 3)])
def test_masked_conv_equals_conv_of_the_valid_prefix(stride: int, groups: int) -> None:
    torch.manual_seed(0)
    conv = MaskedConv1d(6, 12, 5 if stride == 4 else 3, stride=stride, groups=groups)
    nn_conv = conv.conv
    torch.nn.init.normal_(nn_conv.bias)  # a non-zero bias must not leak into padding either
    lengths, total = [16, 11, 5], 16
    x = torch.randn(3, 6, total)
    mask = lengths_to_mask(lengths, total)
    x_garbage = torch.where(mask[:, None], x, torch.randn_like(x) * 100)

    out, out_mask = conv(x_garbage, mask)
    assert out.shape == (3, 12, total // stride)
    assert torch.equal(out_mask, mask[:, ::stride])
    for b, length in enumerate(lengths):
        # reference: the valid prefix alone, zero-padded like an unpadded sequence would be
        alone = F.conv1d(
            x[b : b + 1, :, :length],
            nn_conv.weight,
            nn_conv.bias,
            stride=stride,
            padding=nn_conv.padding,
            groups=groups,
        )
        n_valid = int(out_mask[b].sum())
        assert n_valid == -(-length // stride)
        torch.testing.assert_close(out[b, :, :n_valid], alone[0, :, :n_valid])
        assert torch.all(out[b, :, n_valid:] == 0)


def test_masked_conv_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="odd kernel_size"):
        MaskedConv1d(2, 2, 4)
    conv = MaskedConv1d(2, 2, 3, stride=2)
    with pytest.raises(ValueError, match="not divisible by the stride"):
        conv(torch.zeros(1, 2, 7), torch.ones(1, 7, dtype=torch.bool))


def test_downsample_mask_keeps_every_stride_th_position() -> None:
    mask = lengths_to_mask([5, 8, 0], 8)
    assert downsample_mask(mask, 1) is mask
    assert downsample_mask(mask, 2).sum(dim=1).tolist() == [3, 4, 0]
    assert downsample_mask(mask, 4).sum(dim=1).tolist() == [2, 2, 0]


def test_layer_norm_1d_matches_torch_layer_norm() -> None:
    torch.manual_seed(0)
    norm = LayerNorm1d(5)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x = torch.randn(2, 5, 7) * 3 + 1
    ref = torch.nn.LayerNorm(5)
    ref.load_state_dict({"weight": norm.weight, "bias": norm.bias})
    torch.testing.assert_close(norm(x), ref(x.transpose(1, 2)).transpose(1, 2))
    # the definition, by hand: biased variance over channels, eps 1e-5
    mu = x.mean(dim=1, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=1, keepdim=True)
    by_hand = (x - mu) / torch.sqrt(var + 1e-5) * norm.weight[:, None] + norm.bias[:, None]
    torch.testing.assert_close(norm(x), by_hand)
    with pytest.raises(ValueError, match=r"expects \(B, 5, T\)"):
        norm(torch.zeros(2, 4, 7))


def test_drop_path_drops_whole_samples_and_keeps_the_expectation() -> None:
    torch.manual_seed(0)
    x = torch.ones(4000, 3, 5)
    out = drop_path(x, 0.25, training=True)
    per_sample = out.flatten(1)
    # each sample is either all zero or all 1 / 0.75
    assert torch.all((per_sample == 0).all(dim=1) | (per_sample == 1 / 0.75).all(dim=1))
    kept = (per_sample[:, 0] > 0).float().mean().item()
    assert kept == pytest.approx(0.75, abs=0.03)
    assert drop_path(x, 0.25, training=False) is x
    assert drop_path(x, 0.0, training=True) is x
    layer = DropPath(0.5).eval()
    assert layer(x) is x
    with pytest.raises(ValueError, match="drop_prob"):
        DropPath(1.0)


def test_affine_drop_path_scales_channels_and_scale_multiplies() -> None:
    layer = AffineDropPath(3, drop_prob=0.1).eval()
    assert torch.all(layer.scale == 1e-4)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(layer(x), x * 1e-4)
    scale = Scale(2.5)
    torch.testing.assert_close(scale(x), 2.5 * x)
