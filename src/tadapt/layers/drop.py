"""Stochastic depth (:class:`DropPath`, :class:`AffineDropPath`) and a learnable :class:`Scale`.

Stochastic depth is Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016; the
per-channel, near-zero initialised scale of :class:`AffineDropPath` is the LayerScale of Touvron
et al., "Going deeper with Image Transformers" (CaiT), ICCV 2021, as ActionFormer uses it
(``AffineDropPath`` and ``Scale`` in ``libs/modeling/blocks.py`` of
happyharrycn/actionformer_release). Written anew.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AffineDropPath", "DropPath", "Scale", "drop_path"]


def drop_path(x: Tensor, drop_prob: float, *, training: bool) -> Tensor:
    """Zero whole samples of a residual branch with probability ``drop_prob``.

    Kept samples are divided by ``1 - drop_prob`` so that the expectation is unchanged.

    Args:
        x: ``(B, ...)`` the output of a residual branch.
        drop_prob: probability of dropping a sample's branch, in ``[0, 1)``.
        training: only drop in training; otherwise return ``x`` unchanged.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)  # one draw per sample
    keep = torch.rand(shape, dtype=x.dtype, device=x.device) < keep_prob
    return x * keep.to(x.dtype) / keep_prob


class DropPath(nn.Module):
    """Module form of :func:`drop_path`.

    Args:
        drop_prob: probability of dropping a sample's residual branch, in ``[0, 1)``.
    """

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        """Drop whole samples of ``x`` in training; identity in evaluation."""
        return drop_path(x, self.drop_prob, training=self.training)

    def extra_repr(self) -> str:
        """The drop probability, for ``repr``."""
        return f"drop_prob={self.drop_prob}"


class AffineDropPath(nn.Module):
    """A learnable per-channel scale (LayerScale) followed by :func:`drop_path`.

    Args:
        num_channels: ``C`` of the ``(B, C, T)`` input.
        drop_prob: probability of dropping a sample's residual branch, in ``[0, 1)``.
        init_scale: initial value of every channel's scale.
    """

    def __init__(
        self,
        num_channels: int,
        *,
        drop_prob: float = 0.0,
        init_scale: float = 1e-4,  # ActionFormer AffineDropPath init_scale_value
    ) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.scale = nn.Parameter(torch.full((1, num_channels, 1), init_scale))
        self.drop_prob = drop_prob

    def forward(self, x: Tensor) -> Tensor:
        """Scale ``x`` of shape ``(B, C, T)`` per channel, then drop whole samples in training."""
        return drop_path(self.scale * x, self.drop_prob, training=self.training)

    def extra_repr(self) -> str:
        """Channels and drop probability, for ``repr``."""
        return f"{self.scale.shape[1]}, drop_prob={self.drop_prob}"


class Scale(nn.Module):
    """Multiply the input by one learnable scalar (one per pyramid level in the regression head).

    Args:
        init_value: the initial scalar.
    """

    def __init__(self, init_value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(init_value, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        """``scale * x``."""
        return x * self.scale
