"""Label assignment: which pyramid points learn which ground-truth action.

Faithful to ActionFormer's ``label_points`` (``PtTransformer.label_points_single_video`` in
``libs/modeling/meta_archs.py`` of happyharrycn/actionformer_release; OpenTAD's
``AnchorFreeHead.prepare_targets`` is the same), written anew. A point at position ``t`` with
stride ``s`` and regression range ``[low, high]`` is a candidate for a ground truth
``[start, end]`` when

1. **centre sampling**: ``t`` lies strictly inside ``[c - r s, c + r s]`` clipped to
   ``[start, end]``, where ``c`` is the action's centre and ``r`` the radius (without centre
   sampling: strictly inside ``[start, end]``);
2. **regression range**: ``low <= max(t - start, end - t) <= high``.

Among its candidates a point takes the **shortest** action; every candidate whose length is
within ``1e-3`` of the shortest contributes its label too (multi-label targets, e.g. THUMOS-14's
CliffDiving instances that are also Diving), while the regression target comes from the first
shortest one. Points without candidates are negatives (all-zero class targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from tadapt.detection.points import Points

__all__ = ["PointTargets", "assign_targets", "assign_video_targets"]

# ActionFormer label_points: lengths within this of the shortest count as equally short.
_EQUAL_LENGTH_TOL = 1e-3


@dataclass(frozen=True)
class PointTargets:
    """Training targets of every point of a batch.

    Attributes:
        cls: ``(B, P, K)`` float one-hot (or multi-hot) class targets; all zero for negatives.
        offsets: ``(B, P, 2)`` distances from the point to the action's start and end, divided
            by the point's stride; zero for negatives.
    """

    cls: Tensor
    offsets: Tensor

    @property
    def positive(self) -> Tensor:
        """``(B, P)`` bool: points assigned to an action."""
        return self.cls.sum(dim=-1) > 0


@torch.no_grad()
def assign_video_targets(
    points: Points,
    segments: Tensor,
    labels: Tensor,
    *,
    num_classes: int,
    center_sample_radius: float | None = 1.5,
) -> tuple[Tensor, Tensor]:
    """Assign the points of one video to its ground truth.

    Args:
        points: the ``P`` points of the pyramid.
        segments: ``(N, 2)`` ground truth ``[start, end]`` on the level-0 feature grid.
        labels: ``(N,)`` int64 class indices in ``[0, num_classes)``.
        num_classes: ``K``.
        center_sample_radius: ``r`` of centre sampling in units of the point's stride;
            ``None`` accepts any point inside the action.

    Returns:
        ``(P, K)`` float32 class targets and ``(P, 2)`` float32 stride-normalised offsets.

    Raises:
        ValueError: mismatched shapes or a label outside ``[0, num_classes)``.
    """
    num_points, device = len(points), points.positions.device
    if segments.dim() != 2 or segments.shape[-1] != 2 or labels.shape != segments.shape[:1]:
        raise ValueError(
            f"segments must be (N, 2) and labels (N,), got {tuple(segments.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.tolist()}")
    cls_targets = torch.zeros(num_points, num_classes, device=device)
    offsets = torch.zeros(num_points, 2, device=device)
    if segments.shape[0] == 0:
        return cls_targets, offsets

    seg = segments.to(device=device, dtype=torch.float32)
    t = points.positions[:, None]  # (P, 1)
    stride = points.strides[:, None]  # (P, 1)
    start, end = seg[None, :, 0], seg[None, :, 1]  # (1, N)
    left, right = t - start, end - t  # (P, N) distances to the boundaries

    if center_sample_radius is None:
        inside = torch.minimum(left, right) > 0
    else:
        center = 0.5 * (start + end)
        low = torch.maximum(center - center_sample_radius * stride, start)  # (P, N)
        high = torch.minimum(center + center_sample_radius * stride, end)
        inside = torch.minimum(t - low, high - t) > 0
    reach = torch.maximum(left, right)  # (P, N)
    in_range = (reach >= points.range_low[:, None]) & (reach <= points.range_high[:, None])

    # the shortest qualifying action wins; inf marks actions a point may not take
    lengths = (end - start).expand(num_points, -1)  # (P, N)
    lengths = lengths.masked_fill(~(inside & in_range), torch.inf)
    min_length, best = lengths.min(dim=1)  # (P,)
    chosen = (lengths <= min_length[:, None] + _EQUAL_LENGTH_TOL) & torch.isfinite(lengths)

    one_hot = F.one_hot(labels.to(device), num_classes).to(torch.float32)  # (N, K)
    cls_targets = (chosen.to(torch.float32) @ one_hot).clamp_(max=1.0)  # (P, K)
    positive = torch.isfinite(min_length)  # (P,)
    rows = torch.arange(num_points, device=device)
    best_offsets = torch.stack((left[rows, best], right[rows, best]), dim=-1) / stride  # (P, 2)
    offsets = torch.where(positive[:, None], best_offsets, offsets)
    return cls_targets, offsets


def assign_targets(
    points: Points,
    segments: Sequence[Tensor],
    labels: Sequence[Tensor],
    *,
    num_classes: int,
    center_sample_radius: float | None = 1.5,  # ActionFormer train_cfg center_sample_radius
) -> PointTargets:
    """Assign the points of every video of a batch; see :func:`assign_video_targets`.

    Args:
        points: the ``P`` points of the pyramid (shared by the batch).
        segments: per video, ``(N_b, 2)`` ground truth on the level-0 feature grid.
        labels: per video, ``(N_b,)`` class indices.
        num_classes: ``K``.
        center_sample_radius: centre sampling radius in strides, or ``None``.
    """
    if len(segments) != len(labels):
        raise ValueError(f"{len(segments)} segment tensors but {len(labels)} label tensors")
    per_video = [
        assign_video_targets(
            points, seg, lab, num_classes=num_classes, center_sample_radius=center_sample_radius
        )
        for seg, lab in zip(segments, labels, strict=True)
    ]
    return PointTargets(
        cls=torch.stack([cls for cls, _ in per_video]),
        offsets=torch.stack([off for _, off in per_video]),
    )
