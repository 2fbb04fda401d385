"""End-to-end datasets: decoded frames of the videos of one split, as :class:`VideoSample`.

One class, three ways to cut a video (settings from :mod:`tadapt.data.sampling`):

=====================  ====================================================================
``SlidingWindows``     every window of every video is one item (THUMOS test). Grid position
                       ``p`` of the video is frame ``p * frame_stride``.
``RandomTruncation``   one item per video; each epoch a random window (THUMOS training).
``Resize``             one item per video; ``length`` frames at equal-bin centres over the
                       whole video (ActivityNet).
=====================  ====================================================================

**Grid -> seconds** (the sample's ``grid_stride_sec`` / ``grid_offset_sec``; frame ``k`` is at
``k / fps`` on the video's timeline):

* windows: ``grid_stride_sec = frame_stride / fps``, ``grid_offset_sec = start * frame_stride /
  fps`` where ``start`` is the window's first grid position; targets are ``t * fps /
  frame_stride - start``.
* resize: with ``D = num_frames / fps``, ``grid_stride_sec = D / length`` and
  ``grid_offset_sec = 0``; targets are ``t / D * length`` (OpenTAD's convention: position ``i``
  is the *start* of bin ``i``, whose centre frame was decoded).

Targets of a sliding window are all instances overlapping its valid part, in window grid units;
they may extend past the window (the detection head clips). An evaluator turns each window's
grid-unit predictions into seconds with :meth:`VideoSample.to_seconds`, concatenates all windows
of a video and runs NMS over them (AdaTAD: multi-class Soft-NMS); overlapping windows make
duplicate detections that NMS removes.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import torch

from tadapt.data.base import DataError, OnError, TADDataset, wrap_error
from tadapt.data.sampling import (
    RandomTruncation,
    Resize,
    SlidingWindows,
    Window,
    num_grid_positions,
    overlapping,
    random_truncation,
    sliding_windows,
    uniform_frame_indices,
    window_frame_indices,
)
from tadapt.data.transforms import ClipTransform, ToFloatClip
from tadapt.io import Annotations
from tadapt.io.video import VideoError, VideoReader, probe_video
from tadapt.structures import Segments, VideoSample

if TYPE_CHECKING:
    from tadapt.io.frame_cache import FrameCache

__all__ = ["FrameSource", "VideoDataset", "VideoMeta"]

logger = logging.getLogger(__name__)


class VideoMeta(Protocol):
    """What the dataset needs to know of a video (:class:`tadapt.io.video.VideoInfo` has it)."""

    @property
    def fps(self) -> float:
        """Frames per second."""
        ...

    @property
    def num_frames(self) -> int:
        """Decodable frames."""
        ...

    @property
    def duration_sec(self) -> float:
        """Duration in seconds."""
        ...


class FrameSource(Protocol):
    """An open video that reads frames by index (:class:`tadapt.io.video.VideoReader` is one)."""

    @property
    def info(self) -> VideoMeta:
        """The video's metadata."""
        ...

    def read_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """``uint8`` frames ``(T, H, W, 3)`` at ``indices`` (non-decreasing, repeats allowed)."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> object: ...


Sampling = SlidingWindows | RandomTruncation | Resize


@dataclass(frozen=True)
class _Item:
    video_id: str
    path: Path
    window: Window | None = None  # sliding windows only
    meta: VideoMeta | None = None  # probed at construction (sliding windows only)


class VideoDataset(TADDataset):
    """Frames of a folder of videos + an annotation file (THUMOS-14, ActivityNet, custom).

    Args:
        annotations: the annotations of one split (any format :func:`tadapt.io.load_annotations`
            reads; multi-label files such as MultiTHUMOS keep every instance).
        video_dir: folder holding ``prefix + video_id + ext`` (searched recursively).
        sampling: :class:`SlidingWindows`, :class:`RandomTruncation` or :class:`Resize`.
        frame_stride: frames between grid positions in the window modes (AdaTAD THUMOS: 4
            for 768 x 1; must be 1 with ``Resize``).
        transform: clip transform from ``uint8 (T, H, W, C)`` to ``(C, T, H, W)``; default
            :class:`ToFloatClip` (see :func:`train_transforms` / :func:`eval_transforms`).
        exts: video file extensions, in order of preference.
        prefix: file-name prefix before the video id.
        files: video id -> its file, instead of searching the folder for them (e.g. one
            video detected alone: a video in a large folder costs no scan of the folder).
        short_side: decode straight to this shorter side (default reader only).
        cache: a frame cache for the default reader (decoded frames reused across epochs).
        class_agnostic: every label becomes 0.
        on_error: ``"raise"`` or ``"skip"`` (:mod:`tadapt.data.base`).
        seed: base seed of the per-item generators.
        opener: ``path -> FrameSource``; default a :class:`VideoReader`.
        probe: ``path -> VideoMeta``, used by ``SlidingWindows`` at construction; default
            :func:`probe_video`.

    Raises:
        DataError: videos missing under ``on_error="raise"`` (count and first names).
        VideoError: a video cannot be probed under ``on_error="raise"`` (sliding windows).
    """

    _items: list[_Item]

    def __init__(
        self,
        annotations: Annotations,
        video_dir: str | os.PathLike[str],
        sampling: Sampling,
        *,
        frame_stride: int = 1,
        transform: ClipTransform | None = None,
        exts: Sequence[str] = (".mp4",),
        prefix: str = "",
        files: Mapping[str, Path] | None = None,
        short_side: int | None = None,
        cache: FrameCache | None = None,
        class_agnostic: bool = False,
        on_error: OnError = "raise",
        seed: int = 0,
        opener: Callable[[Path], FrameSource] | None = None,
        probe: Callable[[Path], VideoMeta] | None = None,
    ) -> None:
        super().__init__(annotations, class_agnostic=class_agnostic, on_error=on_error, seed=seed)
        if frame_stride < 1:
            raise ValueError(f"frame_stride must be >= 1, got {frame_stride}")
        if isinstance(sampling, Resize) and frame_stride != 1:
            raise ValueError("Resize spreads frames over the whole video; leave frame_stride at 1")
        self.sampling = sampling
        self.frame_stride = frame_stride
        self.transform: ClipTransform = transform if transform is not None else ToFloatClip()
        self.video_dir = Path(video_dir)
        self._opener: Callable[[Path], FrameSource] = opener or functools.partial(
            VideoReader, short_side=short_side, cache=cache
        )
        self._probe: Callable[[Path], VideoMeta] = probe or probe_video
        paths = self._locate_files(self.video_dir, files, exts, prefix)
        if isinstance(sampling, SlidingWindows):
            self._items = self._windows(paths, sampling)
        else:
            self._items = [_Item(vid, path) for vid, path in paths.items()]
        if not self._items:
            raise DataError(f"{self.video_dir}: no video of {annotations.source} could be used")

    def _windows(self, paths: dict[str, Path], config: SlidingWindows) -> list[_Item]:
        """Probe every video and cut it into windows (the item count depends on lengths)."""
        items: list[_Item] = []
        for vid, path in paths.items():
            try:
                meta = self._probe(path)
            except (VideoError, OSError) as exc:
                error = wrap_error(path, exc)
                if self.on_error == "raise":
                    raise error from exc
                logger.warning("leaving out %s: %s", vid, error)
                continue
            positions = num_grid_positions(meta.num_frames, self.frame_stride)
            items += [_Item(vid, path, w, meta) for w in sliding_windows(positions, config)]
        return items

    def _load(self, index: int, generator: torch.Generator) -> VideoSample:
        item = self._items[index]
        try:
            with self._opener(item.path) as source:
                return self._sample(item, source, generator)
        except (VideoError, DataError, OSError) as exc:
            raise wrap_error(item.path, exc) from exc

    def _sample(self, item: _Item, source: FrameSource, generator: torch.Generator) -> VideoSample:
        meta = item.meta or source.info
        if meta.num_frames < 1 or not meta.fps > 0:
            raise VideoError(item.path, f"no frames or no frame rate ({meta})")
        seconds, labels = self.ground_truth(item.video_id)
        gt = self.annotations.videos[item.video_id]
        duration = gt.duration_sec if gt.duration_sec is not None else meta.duration_sec
        if isinstance(self.sampling, Resize):
            span = meta.num_frames / meta.fps  # the decoded frames' time span
            length = self.sampling.length
            indices = uniform_frame_indices(meta.num_frames, length)
            mask = torch.ones(length, dtype=torch.bool)
            keep = (seconds[:, 1] - seconds[:, 0]) >= self.sampling.min_gt_fraction * span
            grid = seconds[keep] / span * length
            labels = labels[keep]
            stride_sec, offset_sec = span / length, 0.0
        else:
            stride_sec = self.frame_stride / meta.fps
            video_grid = seconds / stride_sec
            if isinstance(self.sampling, RandomTruncation):
                positions = num_grid_positions(meta.num_frames, self.frame_stride)
                cut = random_truncation(positions, video_grid, self.sampling, generator=generator)
                window, grid, labels = cut.window, cut.segments, labels[cut.keep]
            else:
                assert item.window is not None  # built with the item
                window = item.window
                keep = overlapping(video_grid, window.start, window.stop)
                grid, labels = video_grid[keep] - window.start, labels[keep]
            indices, mask = window_frame_indices(window, self.frame_stride, meta.num_frames)
            offset_sec = window.start * stride_sec
        frames = source.read_frames(indices.tolist())
        if frames.shape[0] != len(indices):
            raise VideoError(item.path, f"read {frames.shape[0]} of {len(indices)} frames")
        clip = self.transform(frames, generator)
        return VideoSample(
            video_id=item.video_id,
            inputs=clip,
            mask=mask,
            segments=Segments(grid, "idx"),
            labels=labels,
            grid_stride_sec=stride_sec,
            grid_offset_sec=offset_sec,
            duration_sec=duration,
            fps=meta.fps,
        )
