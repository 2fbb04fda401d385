"""Per-video containers: predicted :class:`Detections` and annotated :class:`GroundTruth`.

Modelled on detectron2's ``Instances``, but with fixed, typed fields instead of a bag of
attributes: every consumer (post-processing, evaluation, writers) knows exactly what a video's
detections and ground truth hold. Labels are integer indices into a class-name list kept by
the caller (e.g. :class:`tadapt.io.Annotations`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tadapt.structures.segments import Segments

__all__ = ["Detections", "GroundTruth"]


def _check_lengths(owner: str, video_id: str, segments: Segments, **columns: torch.Tensor) -> None:
    for name, column in columns.items():
        if column.dim() != 1 or column.shape[0] != len(segments):
            raise ValueError(
                f"{owner}({video_id!r}): {name} has shape {tuple(column.shape)}, "
                f"expected ({len(segments)},) to match the segments"
            )


@dataclass(frozen=True)
class Detections:
    """Scored, labelled segments predicted for one video.

    Attributes:
        video_id: the video's identifier as in the annotation file.
        segments: ``N`` predicted segments (usually in seconds).
        scores: ``(N,)`` confidence scores.
        labels: ``(N,)`` int64 class indices.
    """

    video_id: str
    segments: Segments
    scores: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        _check_lengths(
            "Detections", self.video_id, self.segments, scores=self.scores, labels=self.labels
        )

    @staticmethod
    def empty(video_id: str, unit: str = "sec") -> Detections:
        """No detections for ``video_id``."""
        return Detections(
            video_id,
            Segments(torch.zeros(0, 2, dtype=torch.float64), unit),  # type: ignore[arg-type]
            torch.zeros(0, dtype=torch.float64),
            torch.zeros(0, dtype=torch.int64),
        )

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, item: int | slice | torch.Tensor) -> Detections:
        """Select detections by index, slice or boolean mask."""
        if isinstance(item, int):
            item = slice(item, item + 1)
        return Detections(self.video_id, self.segments[item], self.scores[item], self.labels[item])

    def sorted_by_score(self) -> Detections:
        """The same detections, highest score first (stable for ties)."""
        order = torch.sort(self.scores, descending=True, stable=True).indices
        return self[order]


@dataclass(frozen=True)
class GroundTruth:
    """Annotated action instances of one video.

    Attributes:
        video_id: the video's identifier as in the annotation file.
        segments: ``N`` annotated segments in seconds.
        labels: ``(N,)`` int64 class indices.
        subset: the split the video belongs to, as the file names it (e.g. ``"Test"``).
        duration_sec: video duration in seconds, when the file gives it.
        fps: frame rate, when the file gives it.
        ambiguous: segments marked ``Ambiguous`` (THUMOS-14); not part of the evaluation
            ground truth, optionally used to ignore false positives that overlap them.
    """

    video_id: str
    segments: Segments
    labels: torch.Tensor
    subset: str = ""
    duration_sec: float | None = None
    fps: float | None = None
    ambiguous: Segments = field(
        default_factory=lambda: Segments(torch.zeros(0, 2, dtype=torch.float64), "sec")
    )

    def __post_init__(self) -> None:
        _check_lengths("GroundTruth", self.video_id, self.segments, labels=self.labels)

    def __len__(self) -> int:
        return len(self.segments)
