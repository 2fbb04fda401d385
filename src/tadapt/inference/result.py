"""What :meth:`tadapt.Detector.detect` returns: one video's detections, labels as names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tadapt.structures import Detections

__all__ = ["VideoDetections"]


@dataclass(frozen=True)
class VideoDetections:
    """The detections of one video, highest score first, in seconds.

    Attributes:
        path: the video (or feature file) detected.
        detections: the :class:`~tadapt.structures.Detections` (``N`` segments in seconds,
            ``(N,)`` scores, ``(N,)`` label indices into ``class_names``).
        class_names: label index -> class name.
        duration_sec: the video's duration, when known.
    """

    path: Path
    detections: Detections
    class_names: tuple[str, ...]
    duration_sec: float | None = None

    @property
    def video_id(self) -> str:
        """The video's id: its file name without extension."""
        return self.detections.video_id

    @property
    def labels(self) -> list[str]:
        """The ``N`` class names, in order."""
        return [self.class_names[i] for i in self.detections.labels.tolist()]

    def rows(self) -> list[tuple[float, float, str, float]]:
        """``(start_sec, end_sec, label, score)`` per detection, in order."""
        segments = self.detections.segments.tensor.tolist()
        scores = self.detections.scores.tolist()
        return [
            (float(s), float(e), name, float(score))
            for (s, e), name, score in zip(segments, self.labels, scores, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.detections)

    def filtered(self, *, min_score: float = 0.0, top_k: int | None = None) -> VideoDetections:
        """The detections scoring at least ``min_score``, at most ``top_k`` of them."""
        kept = self.detections.sorted_by_score()
        kept = kept[kept.scores >= min_score]
        if top_k is not None:
            kept = kept[:top_k]
        return VideoDetections(self.path, kept, self.class_names, self.duration_sec)
