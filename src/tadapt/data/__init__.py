"""Datasets, windowing, clip transforms, data loading and checks (see ``docs/data.md``).

* :class:`VideoDataset`: decoded frames of a video folder + an annotation file, cut by
  :class:`SlidingWindows` (test), :class:`RandomTruncation` (training) or :class:`Resize`
  (ActivityNet).
* :class:`FeatureDataset`: pre-extracted ``(T, C)`` features per video (ActionFormer grid).
* :func:`train_transforms` / :func:`eval_transforms`: AdaTAD's clip augmentation in plain torch,
  :class:`RandAugment` (mmaction's ``ImgAug("default")``) among it.
* :func:`build_loader` / :func:`set_epoch`: batching with padding masks, optional
  ``DistributedSampler``.
* :func:`check_dataset`: missing / undecodable / mismatched videos, before training.
* :func:`generate_synthetic_dataset`: real ``.mp4`` videos of motion classes + annotations.
"""

from tadapt.data.base import DataError, OnError, TADDataset, find_files, item_generator
from tadapt.data.check import DataCheckReport, VideoCheck, check_dataset
from tadapt.data.feature_dataset import FeatureDataset, feature_length, load_features
from tadapt.data.loader import build_loader, seed_worker, set_epoch
from tadapt.data.rand_augment import RAND_AUGMENT_OPS, RandAugment
from tadapt.data.sampling import (
    RandomTruncation,
    Resize,
    SlidingWindows,
    Truncation,
    Window,
    num_grid_positions,
    random_truncation,
    sliding_windows,
    uniform_frame_indices,
    window_frame_indices,
)
from tadapt.data.synthetic import (
    MOTION_CLASSES,
    SyntheticConfig,
    ensure_synthetic_dataset,
    generate_synthetic_dataset,
)
from tadapt.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CenterCrop,
    ClipTransform,
    ColorJitter,
    Compose,
    Normalize,
    RandomHorizontalFlip,
    RandomResizedCrop,
    ResizeShortSide,
    ToFloatClip,
    eval_transforms,
    train_transforms,
)
from tadapt.data.video_dataset import FrameSource, VideoDataset, VideoMeta

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MOTION_CLASSES",
    "RAND_AUGMENT_OPS",
    "CenterCrop",
    "ClipTransform",
    "ColorJitter",
    "Compose",
    "DataCheckReport",
    "DataError",
    "FeatureDataset",
    "FrameSource",
    "Normalize",
    "OnError",
    "RandAugment",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomTruncation",
    "Resize",
    "ResizeShortSide",
    "SlidingWindows",
    "SyntheticConfig",
    "TADDataset",
    "ToFloatClip",
    "Truncation",
    "VideoCheck",
    "VideoDataset",
    "VideoMeta",
    "Window",
    "build_loader",
    "check_dataset",
    "ensure_synthetic_dataset",
    "eval_transforms",
    "feature_length",
    "find_files",
    "generate_synthetic_dataset",
    "item_generator",
    "load_features",
    "num_grid_positions",
    "random_truncation",
    "seed_worker",
    "set_epoch",
    "sliding_windows",
    "train_transforms",
    "uniform_frame_indices",
    "window_frame_indices",
]
