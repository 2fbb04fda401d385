"""What a dataset yields and what a model consumes: :class:`VideoSample` and :class:`VideoBatch`.

A sample is one window (or the whole, resized, timeline) of one video: its inputs on a
temporal *grid* of ``T`` positions, a validity mask, and the ground truth in grid units
(``Segments`` with unit ``"idx"``). Grid position ``i`` lies at
``i * grid_stride_sec + grid_offset_sec`` seconds on the video's timeline, so predictions on
the grid map back to seconds with :meth:`Segments.to_seconds` and the sample's two numbers:

* frames mode: ``grid_stride_sec = frame_stride / fps``, ``grid_offset_sec = first_frame / fps``;
* feature mode (ActionFormer convention): ``grid_stride_sec = feat_stride / fps`` and
  ``grid_offset_sec = (window_start * feat_stride + 0.5 * num_frames) / fps``;
* resize mode: ``grid_stride_sec = duration / T`` and ``grid_offset_sec = 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from tadapt.structures.segments import Segments

__all__ = ["VideoBatch", "VideoSample", "collate_samples"]


@dataclass(frozen=True)
class VideoSample:
    """One window of one video, ready for a model.

    Attributes:
        video_id: the video's identifier in the annotation file.
        inputs: frames ``(C, T, H, W)`` or features ``(C, T)``.
        mask: ``(T,)`` bool, ``True`` at valid (not padded) grid positions.
        segments: ``N`` ground-truth segments in grid units (``"idx"``), possibly extending
            past the window when an action is cut by it.
        labels: ``(N,)`` int64 class indices (a multi-label instance appears once per label).
        grid_stride_sec: seconds between two grid positions.
        grid_offset_sec: time in seconds of grid position 0.
        duration_sec: the whole video's duration, when known (to clip predictions).
        fps: the video's frame rate, when known.
    """

    video_id: str
    inputs: torch.Tensor
    mask: torch.Tensor
    segments: Segments
    labels: torch.Tensor
    grid_stride_sec: float
    grid_offset_sec: float = 0.0
    duration_sec: float | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        length = self.inputs.shape[1] if self.inputs.dim() >= 2 else -1
        if self.mask.dim() != 1 or self.mask.shape[0] != length:
            raise ValueError(
                f"VideoSample({self.video_id!r}): mask has shape {tuple(self.mask.shape)}, "
                f"expected ({length},) to match inputs {tuple(self.inputs.shape)} (C, T, ...)"
            )
        if self.segments.unit != "idx":
            raise ValueError(f"VideoSample({self.video_id!r}): segments must be in grid units")
        if self.labels.shape != (len(self.segments),):
            raise ValueError(
                f"VideoSample({self.video_id!r}): {len(self.segments)} segments but labels "
                f"of shape {tuple(self.labels.shape)}"
            )
        if not self.grid_stride_sec > 0:
            raise ValueError(
                f"VideoSample({self.video_id!r}): grid_stride_sec must be > 0, "
                f"got {self.grid_stride_sec}"
            )

    @property
    def num_steps(self) -> int:
        """``T``, the number of grid positions (padding included)."""
        return int(self.inputs.shape[1])

    def to_seconds(self, segments: Segments) -> Segments:
        """Map grid-unit segments of this sample to seconds on the video's timeline."""
        return segments.to_seconds(stride_sec=self.grid_stride_sec, offset_sec=self.grid_offset_sec)


@dataclass(frozen=True)
class VideoBatch:
    """Samples padded to a common ``T`` and stacked.

    Attributes:
        video_ids: ``B`` video identifiers.
        inputs: ``(B, C, T, H, W)`` frames or ``(B, C, T)`` features.
        masks: ``(B, T)`` bool validity.
        segments: per sample, its ground truth in grid units.
        labels: per sample, ``(N_b,)`` int64 labels.
        grid_stride_sec: ``(B,)`` float64 seconds per grid step.
        grid_offset_sec: ``(B,)`` float64 time of grid position 0.
        durations_sec: per sample, the video duration or ``None``.
        temporal_reduction: the grid keeps one step in this many of the full-fidelity grid
            (LoFi's ``r_t``, :func:`tadapt.engine.apply_fidelity`); the detector samples its
            position encoding at this step.
    """

    video_ids: list[str]
    inputs: torch.Tensor
    masks: torch.Tensor
    segments: list[Segments]
    labels: list[torch.Tensor]
    grid_stride_sec: torch.Tensor
    grid_offset_sec: torch.Tensor
    durations_sec: list[float | None] = field(default_factory=list)
    temporal_reduction: int = 1

    def __len__(self) -> int:
        return len(self.video_ids)

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> VideoBatch:
        """Move the tensors a model reads (inputs, masks, ground truth) to ``device``."""
        return VideoBatch(
            self.video_ids,
            self.inputs.to(device, non_blocking=non_blocking),
            self.masks.to(device, non_blocking=non_blocking),
            [s.to(device) for s in self.segments],
            [lab.to(device) for lab in self.labels],
            self.grid_stride_sec,
            self.grid_offset_sec,
            self.durations_sec,
            self.temporal_reduction,
        )


def collate_samples(samples: Sequence[VideoSample], *, pad_multiple: int = 1) -> VideoBatch:
    """Stack samples into a batch, zero-padding ``T`` to the longest (rounded up).

    Args:
        samples: at least one sample; all with the same channel (and spatial) shape.
        pad_multiple: round the padded length up to a multiple of this (e.g. the detector's
            largest stride, or the backbone's 16-frame chunk).

    Raises:
        ValueError: no samples, mixed shapes, or ``pad_multiple < 1``.
    """
    if not samples:
        raise ValueError("collate_samples needs at least one sample")
    if pad_multiple < 1:
        raise ValueError(f"pad_multiple must be >= 1, got {pad_multiple}")
    first = samples[0].inputs
    for s in samples:
        if (
            s.inputs.dim() != first.dim()
            or s.inputs.shape[0] != first.shape[0]
            or (s.inputs.shape[2:] != first.shape[2:])
        ):
            raise ValueError(
                f"cannot batch {s.video_id!r} with shape {tuple(s.inputs.shape)} next to "
                f"{samples[0].video_id!r} with shape {tuple(first.shape)}"
            )
    longest = max(s.num_steps for s in samples)
    length = -(-longest // pad_multiple) * pad_multiple
    inputs = first.new_zeros((len(samples), first.shape[0], length, *first.shape[2:]))
    masks = torch.zeros(len(samples), length, dtype=torch.bool)
    for b, s in enumerate(samples):
        inputs[b, :, : s.num_steps] = s.inputs
        masks[b, : s.num_steps] = s.mask
    return VideoBatch(
        video_ids=[s.video_id for s in samples],
        inputs=inputs,
        masks=masks,
        segments=[s.segments for s in samples],
        labels=[s.labels for s in samples],
        grid_stride_sec=torch.tensor([s.grid_stride_sec for s in samples], dtype=torch.float64),
        grid_offset_sec=torch.tensor([s.grid_offset_sec for s in samples], dtype=torch.float64),
        durations_sec=[s.duration_sec for s in samples],
    )
