"""Channels-first layer normalisation for ``(B, C, T)`` sequences: :class:`LayerNorm1d`.

ActionFormer (Zhang et al., ECCV 2022; ``LayerNorm`` in ``libs/modeling/blocks.py`` of
happyharrycn/actionformer_release) normalises over ``C`` at every time step with a biased
variance and ``eps = 1e-5``; :func:`torch.nn.functional.layer_norm` on the transposed tensor
computes the same and runs as one fused kernel (in float32 under autocast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LayerNorm1d"]


class LayerNorm1d(nn.Module):
    """Layer normalisation over the channels of a ``(B, C, T)`` tensor, per time step.

    Args:
        num_channels: ``C``.
        eps: added to the variance (``1e-5``: ActionFormer and :class:`torch.nn.LayerNorm`).
        affine: learn a per-channel scale (init 1) and shift (init 0).
    """

    def __init__(self, num_channels: int, *, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_channels = num_channels
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_channels)) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape ``(B, C, T)``; returns the same shape."""
        if x.dim() != 3 or x.shape[1] != self.num_channels:
            raise ValueError(
                f"LayerNorm1d({self.num_channels}) expects (B, {self.num_channels}, T), "
                f"got {tuple(x.shape)}"
            )
        # (B, C, T) -> (B, T, C) -> normalise C -> (B, C, T)
        out = F.layer_norm(
            x.transpose(1, 2), (self.num_channels,), self.weight, self.bias, self.eps
        )
        return out.transpose(1, 2)

    def extra_repr(self) -> str:
        """Channels, eps and affine, for ``repr``."""
        return f"{self.num_channels}, eps={self.eps}, affine={self.weight is not None}"
