"""Anchor points of the temporal pyramid: :class:`PointGenerator` and :class:`Points`.

As ActionFormer's ``PointGenerator`` (``libs/modeling/loc_generators.py`` of
happyharrycn/actionformer_release): level ``l`` with stride ``s_l`` has one point per step, at
positions ``0, s_l, 2 s_l, ...`` of the level-0 feature grid, and each point carries its level's
stride and regression range. The range bounds the distance ``max(t - start, end - t)`` (in
level-0 grid steps, *not* in units of the level's stride) of the ground truth a point may be
assigned to, so short actions go to fine levels and long ones to coarse levels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["THUMOS_REGRESSION_RANGES", "PointGenerator", "Points"]

# ActionFormer libs/core/config.py regression_range (its 10000 written as infinity);
# OpenTAD _base_/models/actionformer.py uses the same with 10000.
THUMOS_REGRESSION_RANGES: tuple[tuple[float, float], ...] = (
    (0.0, 4.0),
    (4.0, 8.0),
    (8.0, 16.0),
    (16.0, 32.0),
    (32.0, 64.0),
    (64.0, math.inf),
)


@dataclass(frozen=True)
class Points:
    """Every point of a pyramid, level after level: ``P = sum_l T_l`` points.

    Attributes:
        positions: ``(P,)`` float32 positions on the level-0 feature grid.
        strides: ``(P,)`` float32 stride of each point's level.
        range_low: ``(P,)`` float32 lower bound of the regression range (inclusive).
        range_high: ``(P,)`` float32 upper bound of the regression range (inclusive).
        level_sizes: ``T_l`` of each level, in order.
    """

    positions: Tensor
    strides: Tensor
    range_low: Tensor
    range_high: Tensor
    level_sizes: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def split(self, tensor: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
        """Cut a tensor whose dimension ``dim`` runs over the ``P`` points into its levels."""
        return tuple(torch.split(tensor, list(self.level_sizes), dim=dim))


class PointGenerator:
    """Places the points of a pyramid with given strides and regression ranges.

    Args:
        strides: stride of each level relative to the level-0 grid (e.g. ``1, 2, ..., 32``).
        regression_ranges: ``(low, high)`` per level, in level-0 grid steps.

    Raises:
        ValueError: the two sequences differ in length, or a range is empty.
    """

    def __init__(
        self, strides: Sequence[int], regression_ranges: Sequence[tuple[float, float]]
    ) -> None:
        if len(strides) != len(regression_ranges):
            raise ValueError(
                f"{len(strides)} strides but {len(regression_ranges)} regression ranges; "
                "give one range per pyramid level"
            )
        for low, high in regression_ranges:
            if not 0 <= low < high:
                raise ValueError(f"regression range ({low}, {high}) must satisfy 0 <= low < high")
        self.strides = tuple(int(s) for s in strides)
        self.regression_ranges = tuple((float(lo), float(hi)) for lo, hi in regression_ranges)

    @property
    def num_levels(self) -> int:
        """Number of pyramid levels."""
        return len(self.strides)

    def __call__(
        self, level_sizes: Sequence[int], *, device: torch.device | str | None = None
    ) -> Points:
        """The points of a pyramid whose level ``l`` has ``level_sizes[l]`` steps.

        Raises:
            ValueError: the number of levels does not match the generator.
        """
        if len(level_sizes) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} pyramid levels, got {len(level_sizes)}")
        positions, strides, lows, highs = [], [], [], []
        for size, stride, (low, high) in zip(
            level_sizes, self.strides, self.regression_ranges, strict=True
        ):
            positions.append(torch.arange(size, dtype=torch.float32, device=device) * stride)
            strides.append(torch.full((size,), float(stride), device=device))
            lows.append(torch.full((size,), low, device=device))
            highs.append(torch.full((size,), high, device=device))
        return Points(
            positions=torch.cat(positions),
            strides=torch.cat(strides),
            range_low=torch.cat(lows),
            range_high=torch.cat(highs),
            level_sizes=tuple(int(s) for s in level_sizes),
        )
