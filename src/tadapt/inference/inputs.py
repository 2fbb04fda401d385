"""How a detector reads one video or feature file: the evaluation datasets, for one file.

:class:`FramesInput` (end-to-end detectors) and :class:`FeaturesInput` (head-only detectors on
pre-extracted features) build, for a single file, the same dataset ``tadapt test`` evaluates
(:class:`~tadapt.data.VideoDataset` / :class:`~tadapt.data.FeatureDataset` with the same
sliding windows or resizing and the same evaluation transform), over an in-memory annotation
of that one video with no instances. So a video detected alone gets exactly the windows, the
padding and the post-processing it gets in an evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from tadapt.data import (
    FeatureDataset,
    Resize,
    SlidingWindows,
    VideoDataset,
    eval_transforms,
)
from tadapt.data.feature_files import FEATURE_EXTS
from tadapt.data.feature_resize import ResizedFeatures
from tadapt.io import Annotations
from tadapt.io.annotations import LoadReport
from tadapt.structures import VideoSample
from tadapt.structures.tables import GroundTruthTable

__all__ = ["VIDEO_EXTS", "FeaturesInput", "FramesInput", "single_video_annotations"]

# the files a folder run picks up in frames mode (any container PyAV reads can be given alone)
VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")

# the subset of the one-video annotations (any name: the datasets take the annotations whole)
_SUBSET = "detect"


def single_video_annotations(
    path: Path,
    video_id: str,
    class_names: tuple[str, ...],
    *,
    duration_sec: float | None = None,
    fps: float | None = None,
) -> Annotations:
    """Annotations of one video without instances, for a dataset to read ``path`` by.

    Args:
        path: the video or feature file (named as the source).
        video_id: the id the dataset looks the file up by (its name without extension).
        class_names: the detector's classes.
        duration_sec: the video's duration, when known (else the dataset probes it).
        fps: the video's frame rate, when known.
    """
    table = GroundTruthTable(
        video_ids=(video_id,),
        subsets=(_SUBSET,),
        durations=(duration_sec,),
        fps=(fps,),
        video=np.zeros(0, dtype=np.int64),
        segments=np.zeros((0, 2), dtype=np.float64),
        labels=np.zeros(0, dtype=np.int64),
    )
    report = LoadReport(str(path), "detect", num_videos=1, num_instances=0, num_ambiguous=0)
    return Annotations(str(path), "detect", class_names, table, {}, report)


@dataclass(frozen=True)
class FramesInput:
    """An end-to-end detector's input: decoded frames, as its evaluation read them.

    Attributes:
        image_size: side of the centre crop (the evaluation transform's).
        frame_stride: frames between grid positions (sliding windows).
        sampling: :class:`SlidingWindows` (each window a forward pass, merged per video) or
            :class:`Resize` (the whole video in ``length`` frames).
    """

    image_size: int
    frame_stride: int
    sampling: SlidingWindows | Resize

    @property
    def file_exts(self) -> tuple[str, ...]:
        """The extensions of the files it reads when given a folder."""
        return VIDEO_EXTS

    def dataset(
        self, path: Path, annotations: Annotations, *, class_agnostic: bool, seed: int
    ) -> Dataset[VideoSample]:
        """The evaluation dataset of the one video ``path`` that ``annotations`` names."""
        return VideoDataset(
            annotations,
            path.parent,
            self.sampling,
            frame_stride=self.frame_stride,
            transform=eval_transforms(self.image_size),
            exts=(path.suffix,),
            files={path.stem: path},
            class_agnostic=class_agnostic,
            seed=seed,
        )


@dataclass(frozen=True)
class FeaturesInput:
    """A head-only detector's input: a ``(T, C)`` feature file, as its evaluation read them.

    Attributes:
        feat_stride: frames between feature steps.
        num_frames: frames each feature step sees.
        fps: the features' frame rate (``None``: it must be given per file).
        sampling: :class:`SlidingWindows`, :class:`Resize` (whole file resized, ActivityNet)
            or ``None`` (the whole file in one pass).
    """

    feat_stride: int
    num_frames: int
    fps: float | None
    sampling: SlidingWindows | Resize | None

    @property
    def file_exts(self) -> tuple[str, ...]:
        """The extensions of the files it reads when given a folder."""
        return FEATURE_EXTS

    def dataset(
        self, path: Path, annotations: Annotations, *, class_agnostic: bool, seed: int
    ) -> Dataset[VideoSample]:
        """The evaluation dataset of the one feature file ``path`` that ``annotations`` names."""
        windows = self.sampling if isinstance(self.sampling, SlidingWindows) else None
        features = FeatureDataset(
            annotations,
            path.parent,
            feat_stride=self.feat_stride,
            num_frames=self.num_frames,
            sampling=windows,
            fps=self.fps,
            ext=path.suffix,
            files={path.stem: path},
            class_agnostic=class_agnostic,
            seed=seed,
        )
        if isinstance(self.sampling, Resize):
            return ResizedFeatures(features, self.sampling)
        return features
