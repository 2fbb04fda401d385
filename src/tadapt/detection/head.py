"""Classification and regression heads, shared across pyramid levels.

ActionFormer's ``PtTransformerClsHead`` / ``PtTransformerRegHead`` (``libs/modeling/meta_archs.py``
of happyharrycn/actionformer_release; OpenTAD ``AnchorFreeHead``), written anew: each head is
``num_layers - 1`` x (masked conv -> LayerNorm -> ReLU) followed by an output masked conv, with
the same weights at every level. The classifier's bias starts at ``-log((1 - p) / p)`` so that
every point initially predicts probability ``p`` (Lin et al., "Focal Loss for Dense Object
Detection", ICCV 2017). The regressor outputs ``ReLU(scale_l * x)``, the distances to the start
and end in units of the level's stride, with one learnable ``scale_l`` per level.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.layers import LayerNorm1d, MaskedConv1d, Scale

__all__ = ["ClassificationHead", "RegressionHead"]


class _ConvTower(nn.Module):
    """``num_convs`` x (masked conv -> LayerNorm or identity -> ReLU)."""

    def __init__(
        self, in_channels: int, feat_channels: int, num_convs: int, kernel_size: int, with_ln: bool
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            MaskedConv1d(
                in_channels if i == 0 else feat_channels,
                feat_channels,
                kernel_size,
                bias=not with_ln,
            )
            for i in range(num_convs)
        )
        self.norms = nn.ModuleList(
            LayerNorm1d(feat_channels) if with_ln else nn.Identity() for _ in range(num_convs)
        )

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x, _ = conv(x, mask)
            x = F.relu(norm(x))
        return x


def _check_levels(feats: Sequence[Tensor], masks: Sequence[Tensor]) -> None:
    if len(feats) != len(masks):
        raise ValueError(f"{len(feats)} pyramid levels of features but {len(masks)} of masks")


class ClassificationHead(nn.Module):
    """Per-point class logits at every pyramid level.

    Args:
        in_channels: ``C`` of the pyramid.
        feat_channels: channels of the hidden convolutions.
        num_classes: ``K``.
        num_layers: convolutions including the output one (``>= 1``).
        kernel_size: odd temporal kernel.
        with_ln: LayerNorm after each hidden convolution.
        prior_prob: initial foreground probability of every point and class.
    """

    def __init__(
        self,
        in_channels: int,
        feat_channels: int,
        num_classes: int,
        *,
        num_layers: int = 3,  # ActionFormer head_num_layers (2 hidden convs + output)
        kernel_size: int = 3,  # ActionFormer head_kernel_size
        with_ln: bool = True,  # ActionFormer head_with_ln
        prior_prob: float = 0.01,  # ActionFormer train_cfg cls_prior_prob
    ) -> None:
        super().__init__()
        if num_layers < 1 or not 0.0 < prior_prob < 1.0:
            raise ValueError(
                f"need num_layers >= 1 and prior_prob in (0, 1), got {num_layers}, {prior_prob}"
            )
        self.tower = _ConvTower(in_channels, feat_channels, num_layers - 1, kernel_size, with_ln)
        tower_out = feat_channels if num_layers > 1 else in_channels
        self.cls_conv = MaskedConv1d(tower_out, num_classes, kernel_size)
        assert self.cls_conv.conv.bias is not None
        nn.init.constant_(self.cls_conv.conv.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(self, feats: Sequence[Tensor], masks: Sequence[Tensor]) -> list[Tensor]:
        """Per level ``(B, C, T_l)`` features and ``(B, T_l)`` masks -> ``(B, K, T_l)`` logits."""
        _check_levels(feats, masks)
        return [
            self.cls_conv(self.tower(x, mask), mask)[0]
            for x, mask in zip(feats, masks, strict=True)
        ]


class RegressionHead(nn.Module):
    """Per-point distances to the action's start and end, in strides, at every level.

    Args:
        in_channels: ``C`` of the pyramid.
        feat_channels: channels of the hidden convolutions.
        num_levels: pyramid levels (one learnable scale each).
        num_layers: convolutions including the output one (``>= 1``).
        kernel_size: odd temporal kernel.
        with_ln: LayerNorm after each hidden convolution.
        offset_bias: initial bias of both outputs before the scale and ReLU. ActionFormer's
            is 0; on a small detector one output can then start below 0 at every positive
            point and never get a gradient (:mod:`tadapt.detection.offset_health`). A
            positive value (e.g. 1, one stride) starts both outputs alive.
    """

    def __init__(
        self,
        in_channels: int,
        feat_channels: int,
        num_levels: int,
        *,
        num_layers: int = 3,  # ActionFormer head_num_layers (2 hidden convs + output)
        kernel_size: int = 3,  # ActionFormer head_kernel_size
        with_ln: bool = True,  # ActionFormer head_with_ln
        offset_bias: float = 0.0,  # ActionFormer: every conv bias starts at 0
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.tower = _ConvTower(in_channels, feat_channels, num_layers - 1, kernel_size, with_ln)
        tower_out = feat_channels if num_layers > 1 else in_channels
        self.offset_conv = MaskedConv1d(tower_out, 2, kernel_size)
        assert self.offset_conv.conv.bias is not None
        nn.init.constant_(self.offset_conv.conv.bias, offset_bias)
        self.scales = nn.ModuleList(Scale() for _ in range(num_levels))

    def forward(self, feats: Sequence[Tensor], masks: Sequence[Tensor]) -> list[Tensor]:
        """Per level ``(B, C, T_l)`` features and masks -> ``(B, 2, T_l)`` non-negative offsets."""
        _check_levels(feats, masks)
        if len(feats) != len(self.scales):
            raise ValueError(f"RegressionHead has {len(self.scales)} levels, got {len(feats)}")
        return [
            F.relu(scale(self.offset_conv(self.tower(x, mask), mask)[0]))
            for x, mask, scale in zip(feats, masks, self.scales, strict=True)
        ]
