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

The names are imported on first use, so ``tadapt check-data`` (and anything else that needs
only :func:`check_dataset`, :func:`find_files` or :class:`DataError`) runs without torch.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes

if TYPE_CHECKING:
    from tadapt.data.base import (
        OnError,
        TADDataset,
        item_generator,
    )
    from tadapt.data.check import (
        DataCheckReport,
        VideoCheck,
        check_dataset,
    )
    from tadapt.data.feature_dataset import (
        FeatureDataset,
        load_features,
    )
    from tadapt.data.feature_files import (
        feature_length,
    )
    from tadapt.data.files import (
        DataError,
        find_files,
    )
    from tadapt.data.loader import (
        build_loader,
        seed_worker,
        set_epoch,
    )
    from tadapt.data.rand_augment import (
        RAND_AUGMENT_OPS,
        RandAugment,
    )
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
    from tadapt.data.synthetic_render import DEFAULT_NUM_CLASSES, MIRRORED_CLASSES
    from tadapt.data.transforms import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        CenterCrop,
        ClipTransform,
        ColorJitter,
        Compose,
        MultiScaleCrop,
        Normalize,
        RandomHorizontalFlip,
        RandomResizedCrop,
        ResizeShortSide,
        ToFloatClip,
        eval_transforms,
        train_transforms,
    )
    from tadapt.data.video_dataset import (
        FrameSource,
        VideoDataset,
        VideoMeta,
    )

__all__ = [
    "DEFAULT_NUM_CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIRRORED_CLASSES",
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
    "MultiScaleCrop",
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

__getattr__ = lazy_attributes(
    __name__,
    {
        "CenterCrop": "tadapt.data.transforms",
        "ClipTransform": "tadapt.data.transforms",
        "ColorJitter": "tadapt.data.transforms",
        "Compose": "tadapt.data.transforms",
        "DataCheckReport": "tadapt.data.check",
        "DataError": "tadapt.data.files",
        "FeatureDataset": "tadapt.data.feature_dataset",
        "FrameSource": "tadapt.data.video_dataset",
        "IMAGENET_MEAN": "tadapt.data.transforms",
        "IMAGENET_STD": "tadapt.data.transforms",
        "DEFAULT_NUM_CLASSES": "tadapt.data.synthetic_render",
        "MIRRORED_CLASSES": "tadapt.data.synthetic_render",
        "MOTION_CLASSES": "tadapt.data.synthetic",
        "Normalize": "tadapt.data.transforms",
        "OnError": "tadapt.data.base",
        "RAND_AUGMENT_OPS": "tadapt.data.rand_augment",
        "RandAugment": "tadapt.data.rand_augment",
        "RandomHorizontalFlip": "tadapt.data.transforms",
        "MultiScaleCrop": "tadapt.data.transforms",
        "RandomResizedCrop": "tadapt.data.transforms",
        "RandomTruncation": "tadapt.data.sampling",
        "Resize": "tadapt.data.sampling",
        "ResizeShortSide": "tadapt.data.transforms",
        "SlidingWindows": "tadapt.data.sampling",
        "SyntheticConfig": "tadapt.data.synthetic",
        "TADDataset": "tadapt.data.base",
        "ToFloatClip": "tadapt.data.transforms",
        "Truncation": "tadapt.data.sampling",
        "VideoCheck": "tadapt.data.check",
        "VideoDataset": "tadapt.data.video_dataset",
        "VideoMeta": "tadapt.data.video_dataset",
        "Window": "tadapt.data.sampling",
        "build_loader": "tadapt.data.loader",
        "check_dataset": "tadapt.data.check",
        "ensure_synthetic_dataset": "tadapt.data.synthetic",
        "eval_transforms": "tadapt.data.transforms",
        "feature_length": "tadapt.data.feature_files",
        "find_files": "tadapt.data.files",
        "generate_synthetic_dataset": "tadapt.data.synthetic",
        "item_generator": "tadapt.data.base",
        "load_features": "tadapt.data.feature_dataset",
        "num_grid_positions": "tadapt.data.sampling",
        "random_truncation": "tadapt.data.sampling",
        "seed_worker": "tadapt.data.loader",
        "set_epoch": "tadapt.data.loader",
        "sliding_windows": "tadapt.data.sampling",
        "train_transforms": "tadapt.data.transforms",
        "uniform_frame_indices": "tadapt.data.sampling",
        "window_frame_indices": "tadapt.data.sampling",
    },
)
