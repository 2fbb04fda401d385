"""Head-only training on pre-extracted features: one ``(T, C)`` file per video.

Files are ``prefix + video_id + ext`` in one folder (``.npy`` or ``.pt``), as ActionFormer
reads them (``libs/datasets/thumos14.py``). Feature ``i`` comes from a clip of ``num_frames``
frames starting at frame ``i * feat_stride``, so its centre is at ``(i * feat_stride +
num_frames / 2) / fps`` seconds. The grid therefore maps to seconds with (ActionFormer
``FAQ.md``: ``grid = (t * fps - 0.5 * num_frames) / feat_stride``):

* ``grid_stride_sec = feat_stride / fps``
* ``grid_offset_sec = (start * feat_stride + 0.5 * num_frames) / fps`` for a window starting
  at feature ``start`` (0 for the full sequence).

Sampling: ``None`` (the full sequence, ActionFormer's test mode), :class:`RandomTruncation`
(training; ActionFormer THUMOS: 2304 steps, thresh 0.5, crop ratio (0.9, 1.0)) or
:class:`SlidingWindows`. Features come out as ``(C, T)`` float32.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tadapt.data.base import DataError, OnError, TADDataset, wrap_error
from tadapt.data.feature_files import feature_length, read_feature_array
from tadapt.data.sampling import (
    RandomTruncation,
    SlidingWindows,
    Window,
    overlapping,
    random_truncation,
    sliding_windows,
)
from tadapt.io import Annotations
from tadapt.structures import Segments, VideoSample

__all__ = ["FeatureDataset", "feature_length", "load_features"]

logger = logging.getLogger(__name__)


def load_features(path: str | os.PathLike[str]) -> torch.Tensor:
    """Read a ``(T, C)`` feature file (``.npy`` array or ``.pt`` tensor) as float32.

    Raises:
        DataError: unreadable file, not 2-D, or empty; the message names the file.
    """
    return torch.from_numpy(read_feature_array(path))


@dataclass(frozen=True)
class _Item:
    video_id: str
    path: Path
    fps: float
    window: Window | None = None  # sliding windows only


class FeatureDataset(TADDataset):
    """Pre-extracted features of the videos of one split.

    Args:
        annotations: the annotations of one split (any supported format).
        feature_dir: folder of ``prefix + video_id + ext`` files, each ``(T, C)``.
        feat_stride: frames between consecutive features (THUMOS I3D: 4).
        num_frames: frames per feature clip (THUMOS I3D: 16); ``0`` puts feature ``i`` on
            frame ``i * feat_stride`` itself.
        sampling: ``None`` (full sequence), :class:`RandomTruncation` or :class:`SlidingWindows`.
        fps: frame rate for every video; default each video's ``fps`` from the annotation
            file (ActionFormer's ``default_fps=None``).
        ext: ``.npy`` or ``.pt``.
        prefix: file-name prefix before the video id.
        files: video id -> its file, instead of searching the folder for them (e.g. one
            video detected alone: a video in a large folder costs no scan of the folder).
        class_agnostic: every label becomes 0.
        on_error: ``"raise"`` or ``"skip"`` (:mod:`tadapt.data.base`).
        seed: base seed of the per-item generators.

    Raises:
        DataError: missing files under ``on_error="raise"``, or videos without a frame rate.
    """

    _items: list[_Item]

    def __init__(
        self,
        annotations: Annotations,
        feature_dir: str | os.PathLike[str],
        *,
        feat_stride: int,
        num_frames: int,
        sampling: RandomTruncation | SlidingWindows | None = None,
        fps: float | None = None,
        ext: str = ".npy",
        prefix: str = "",
        files: Mapping[str, Path] | None = None,
        class_agnostic: bool = False,
        on_error: OnError = "raise",
        seed: int = 0,
    ) -> None:
        super().__init__(annotations, class_agnostic=class_agnostic, on_error=on_error, seed=seed)
        if feat_stride < 1 or num_frames < 0:
            raise ValueError(
                f"need feat_stride >= 1 and num_frames >= 0, got {feat_stride}, {num_frames}"
            )
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.feat_stride = feat_stride
        self.num_frames = num_frames
        self.sampling = sampling
        self.feature_dir = Path(feature_dir)
        no_fps = [v for v, gt in annotations.videos.items() if fps is None and not gt.fps]
        if no_fps:
            raise DataError(
                f"{annotations.source}: {len(no_fps)} videos have no fps in the annotation "
                f"file (e.g. {', '.join(no_fps[:5])}); give the features' frame rate: "
                "data.fps=... in the config (Python: FeatureDataset(fps=...))"
            )
        exts: Sequence[str] = (ext,)
        paths = self._locate_files(self.feature_dir, files, exts, prefix)
        rates = {v: float(fps or annotations.videos[v].fps or 0.0) for v in paths}
        if isinstance(sampling, SlidingWindows):
            self._items = self._windows(paths, rates, sampling)
        else:
            self._items = [_Item(v, p, rates[v]) for v, p in paths.items()]
        if not self._items:
            raise DataError(f"{self.feature_dir}: no feature file could be used")

    def _windows(
        self, paths: dict[str, Path], rates: dict[str, float], config: SlidingWindows
    ) -> list[_Item]:
        items: list[_Item] = []
        for vid, path in paths.items():
            try:
                length = feature_length(path)
            except DataError as exc:
                if self.on_error == "raise":
                    raise
                logger.warning("leaving out %s: %s", vid, exc)
                continue
            items += [_Item(vid, path, rates[vid], w) for w in sliding_windows(length, config)]
        return items

    def to_grid(self, seconds: torch.Tensor, fps: float) -> torch.Tensor:
        """Seconds -> feature grid, ``(t * fps - 0.5 * num_frames) / feat_stride``."""
        return (seconds * fps - 0.5 * self.num_frames) / self.feat_stride

    def _load(self, index: int, generator: torch.Generator) -> VideoSample:
        item = self._items[index]
        try:
            feats = load_features(item.path)
        except (DataError, OSError) as exc:
            raise wrap_error(item.path, exc) from exc
        seconds, labels = self.ground_truth(item.video_id)
        video_grid = self.to_grid(seconds, item.fps)
        length = int(feats.shape[0])
        if isinstance(self.sampling, RandomTruncation):
            cut = random_truncation(length, video_grid, self.sampling, generator=generator)
            window, grid, labels = cut.window, cut.segments, labels[cut.keep]
        elif isinstance(self.sampling, SlidingWindows):
            assert item.window is not None  # built with the item
            window = item.window
            if window.stop > length:
                raise DataError(f"{item.path}: {length} features, fewer than when it was indexed")
            keep = overlapping(video_grid, window.start, window.stop)
            grid, labels = video_grid[keep] - window.start, labels[keep]
        else:
            window, grid = Window(0, length, length), video_grid
        inputs = feats.new_zeros(window.size, feats.shape[1])
        inputs[: window.length] = feats[window.start : window.stop]
        gt = self.annotations.videos[item.video_id]
        stride_sec = self.feat_stride / item.fps
        return VideoSample(
            video_id=item.video_id,
            inputs=inputs.T.contiguous(),  # (T, C) -> (C, T)
            mask=window.mask(),
            segments=Segments(grid, "idx"),
            labels=labels,
            grid_stride_sec=stride_sec,
            grid_offset_sec=(window.start * self.feat_stride + 0.5 * self.num_frames) / item.fps,
            duration_sec=gt.duration_sec,
            fps=item.fps,
        )
