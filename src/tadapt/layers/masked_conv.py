"""A 1-D convolution over time that ignores padded positions: :class:`MaskedConv1d`.

The masked convolution of ActionFormer (Zhang et al., "ActionFormer: Localizing Moments of
Actions with Transformers", ECCV 2022; ``MaskedConv1D`` in ``libs/modeling/blocks.py`` of
happyharrycn/actionformer_release), written anew. One deliberate difference: the input is
zeroed at padded positions before the convolution. ActionFormer relies on the caller having
zero-padded (its embedding LayerNorm leaves ``ReLU(bias)`` there); zeroing here makes every
valid output independent of what lies in the padding and of how much padding there is, which
is what a batch of videos of different lengths needs (and what a backbone whose padded
outputs are not zero needs).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MaskedConv1d", "downsample_mask"]


def downsample_mask(mask: Tensor, stride: int) -> Tensor:
    """Nearest-neighbour downsampling of a validity mask: keep every ``stride``-th position.

    Position ``i`` of the output is valid when input position ``i * stride`` is, as
    ActionFormer's ``F.interpolate(mask, size=T // stride, mode="nearest")``. A valid prefix of
    length ``L`` becomes one of length ``ceil(L / stride)``.

    Args:
        mask: ``(B, T)`` bool, ``True`` at valid positions; ``T`` divisible by ``stride``.
        stride: the downsampling factor, ``>= 1``.

    Returns:
        ``(B, T // stride)`` bool.
    """
    return mask if stride == 1 else mask[:, ::stride]


class MaskedConv1d(nn.Module):
    """``Conv1d`` with "same" padding whose valid outputs never read padded inputs.

    Args:
        in_channels: input channels ``C``.
        out_channels: output channels ``C'``.
        kernel_size: odd kernel size; the padding is ``kernel_size // 2`` so that a stride-1
            convolution keeps ``T``.
        stride: temporal stride; ``T`` must be divisible by it.
        groups: as :class:`torch.nn.Conv1d` (``groups=C`` for a depth-wise convolution).
        bias: learn an additive bias (initialised to zero, as ActionFormer does).

    Raises:
        ValueError: an even kernel size or a stride below 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"MaskedConv1d needs an odd kernel_size, got {kernel_size}")
        if stride < 1:
            raise ValueError(f"MaskedConv1d stride must be >= 1, got {stride}")
        self.stride = stride
        self.conv = nn.Conv1d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2,
            groups=groups,
            bias=bias,
        )
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Convolve the valid part of ``x``; zero the output at padded positions.

        Args:
            x: ``(B, C, T)`` features.
            mask: ``(B, T)`` bool validity.

        Returns:
            ``(B, C', T // stride)`` features and their ``(B, T // stride)`` mask.
        """
        if x.shape[-1] % self.stride != 0:
            raise ValueError(
                f"MaskedConv1d: length T={x.shape[-1]} is not divisible by the stride "
                f"{self.stride}; pad the input to a multiple of it"
            )
        out = self.conv(torch.where(mask[:, None, :], x, 0.0))  # (B, C', T')
        out_mask = downsample_mask(mask, self.stride)  # (B, T')
        return out * out_mask[:, None, :].to(out.dtype), out_mask
