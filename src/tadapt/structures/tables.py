"""Ground truth and detections of many videos as flat numpy columns (no torch).

What file reading and evaluation work on: one array per field for all videos, each row naming
its video by an index into ``video_ids``. Loading a million detections or scoring them needs no
per-video objects and no torch, so ``tadapt evaluate`` starts fast. The per-video, torch-based
:class:`~tadapt.structures.GroundTruth` / :class:`~tadapt.structures.Detections` (what models
and datasets use) convert to and from these tables; the conversions import torch on call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from tadapt.structures.detections import Detections, GroundTruth

__all__ = ["DetectionTable", "GroundTruthTable"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _empty_segments() -> FloatArray:
    return np.zeros((0, 2), dtype=np.float64)


def _empty_index() -> IntArray:
    return np.zeros(0, dtype=np.int64)


def _group(video: IntArray, num_videos: int) -> tuple[IntArray, list[int]]:
    """Row order that groups rows by video (file order kept within a video), and the counts."""
    order = np.argsort(video, kind="stable")
    return order, np.bincount(video, minlength=num_videos).tolist()


@dataclass(frozen=True, eq=False)
class GroundTruthTable:
    """The annotated instances of many videos.

    Attributes:
        video_ids: the ``V`` videos, in file order.
        subsets: ``(V,)`` the split of each video, as the file names it.
        durations: ``(V,)`` duration in seconds, ``None`` when the file gives none.
        fps: ``(V,)`` frame rate, ``None`` when the file gives none.
        video: ``(N,)`` video index of each instance.
        segments: ``(N, 2)`` float64 start and end in seconds.
        labels: ``(N,)`` int64 class indices.
        ambiguous_video: ``(M,)`` video index of each THUMOS ``Ambiguous`` segment.
        ambiguous: ``(M, 2)`` ``Ambiguous`` segments in seconds (not ground truth).
    """

    video_ids: tuple[str, ...]
    subsets: tuple[str, ...]
    durations: tuple[float | None, ...]
    fps: tuple[float | None, ...]
    video: IntArray
    segments: FloatArray
    labels: IntArray
    ambiguous_video: IntArray = field(default_factory=_empty_index)
    ambiguous: FloatArray = field(default_factory=_empty_segments)

    def __len__(self) -> int:
        """Number of instances (not videos)."""
        return int(self.labels.shape[0])

    def select(self, video_ids: Iterable[str]) -> GroundTruthTable:
        """Only the given videos (unknown ids are ignored), in this table's order."""
        wanted = set(video_ids)
        keep = np.array([v in wanted for v in self.video_ids], dtype=bool)
        new_index = np.cumsum(keep) - 1  # old video index -> new one, where kept
        rows, amb_rows = keep[self.video], keep[self.ambiguous_video]
        return GroundTruthTable(
            video_ids=tuple(v for v, k in zip(self.video_ids, keep, strict=True) if k),
            subsets=tuple(s for s, k in zip(self.subsets, keep, strict=True) if k),
            durations=tuple(d for d, k in zip(self.durations, keep, strict=True) if k),
            fps=tuple(f for f, k in zip(self.fps, keep, strict=True) if k),
            video=new_index[self.video[rows]],
            segments=self.segments[rows],
            labels=self.labels[rows],
            ambiguous_video=new_index[self.ambiguous_video[amb_rows]],
            ambiguous=self.ambiguous[amb_rows],
        )

    def to_ground_truth(self) -> dict[str, GroundTruth]:
        """One torch :class:`~tadapt.structures.GroundTruth` per video, in table order."""
        import torch

        from tadapt.structures.detections import GroundTruth
        from tadapt.structures.segments import Segments

        order, counts = _group(self.video, len(self.video_ids))
        amb_order, amb_counts = _group(self.ambiguous_video, len(self.video_ids))
        segments = torch.split(torch.from_numpy(self.segments[order]), counts)
        labels = torch.split(torch.from_numpy(self.labels[order]), counts)
        ambiguous = torch.split(torch.from_numpy(self.ambiguous[amb_order]), amb_counts)
        return {
            vid: GroundTruth(
                vid,
                Segments(segments[i], "sec"),
                labels[i],
                subset=self.subsets[i],
                duration_sec=self.durations[i],
                fps=self.fps[i],
                ambiguous=Segments(ambiguous[i], "sec"),
            )
            for i, vid in enumerate(self.video_ids)
        }

    @staticmethod
    def from_ground_truth(videos: Iterable[GroundTruth]) -> GroundTruthTable:
        """The table of per-video ground truth (torch tensors are read, not kept)."""
        videos = list(videos)

        def column(arrays: list[FloatArray], empty: FloatArray) -> FloatArray:
            return np.concatenate(arrays) if arrays else empty

        segs = [np.asarray(gt.segments.tensor, dtype=np.float64).reshape(-1, 2) for gt in videos]
        amb = [np.asarray(gt.ambiguous.tensor, dtype=np.float64).reshape(-1, 2) for gt in videos]
        labels = [np.asarray(gt.labels, dtype=np.int64).reshape(-1) for gt in videos]
        return GroundTruthTable(
            video_ids=tuple(gt.video_id for gt in videos),
            subsets=tuple(gt.subset for gt in videos),
            durations=tuple(gt.duration_sec for gt in videos),
            fps=tuple(gt.fps for gt in videos),
            video=np.repeat(np.arange(len(videos)), [len(s) for s in segs]).astype(np.int64),
            segments=column(segs, _empty_segments()),
            labels=column(labels, _empty_index()),  # type: ignore[arg-type]
            ambiguous_video=np.repeat(np.arange(len(videos)), [len(a) for a in amb]).astype(
                np.int64
            ),
            ambiguous=column(amb, _empty_segments()),
        )


@dataclass(frozen=True, eq=False)
class DetectionTable:
    """Scored, labelled segments predicted for many videos.

    Attributes:
        video_ids: the ``V`` videos, in file order (a video may have no detections).
        video: ``(N,)`` video index of each detection.
        segments: ``(N, 2)`` float64 start and end (seconds).
        scores: ``(N,)`` float64 confidence scores.
        labels: ``(N,)`` int64 class indices.
    """

    video_ids: tuple[str, ...]
    video: IntArray
    segments: FloatArray
    scores: FloatArray
    labels: IntArray

    def __len__(self) -> int:
        """Number of detections."""
        return int(self.labels.shape[0])

    def to_detections(self) -> dict[str, Detections]:
        """One torch :class:`~tadapt.structures.Detections` per video, file order kept."""
        import torch

        from tadapt.structures.detections import Detections
        from tadapt.structures.segments import Segments

        order, counts = _group(self.video, len(self.video_ids))
        parts = zip(
            torch.split(torch.from_numpy(self.segments[order]), counts),
            torch.split(torch.from_numpy(self.scores[order]), counts),
            torch.split(torch.from_numpy(self.labels[order]), counts),
            strict=True,
        )
        return {
            vid: Detections(vid, Segments(s, "sec"), sc, lab)
            for vid, (s, sc, lab) in zip(self.video_ids, parts, strict=True)
        }

    @staticmethod
    def from_detections(detections: Iterable[Detections]) -> DetectionTable:
        """The table of per-video detections (a video may appear more than once)."""
        detections = list(detections)
        ids = tuple(dict.fromkeys(d.video_id for d in detections))
        index = {vid: i for i, vid in enumerate(ids)}
        if not detections:
            empty = _empty_index()
            return DetectionTable(ids, empty, _empty_segments(), np.zeros(0), empty.copy())
        return DetectionTable(
            video_ids=ids,
            video=np.repeat(
                [index[d.video_id] for d in detections], [len(d) for d in detections]
            ).astype(np.int64),
            segments=np.concatenate(
                [np.asarray(d.segments.tensor, dtype=np.float64).reshape(-1, 2) for d in detections]
            ),
            scores=np.concatenate([np.asarray(d.scores, dtype=np.float64) for d in detections]),
            labels=np.concatenate([np.asarray(d.labels, dtype=np.int64) for d in detections]),
        )
