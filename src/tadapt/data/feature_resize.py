"""Features resized to a fixed length per video: the ActivityNet feature recipe.

ActionFormer (``force_upsampling`` in ``libs/datasets/anet.py``) and OpenTAD
(``AnetResizeDataset`` with ``ResizeFeat``) linearly interpolate every video's ``(T, C)``
features to ``L`` steps (192 for TSP features), so a short clip and a ten-minute video both
fill the pyramid. The grid then spans the whole video: position ``i`` is at
``i * duration / L`` seconds (OpenTAD's mapping, ``grid_offset_sec = 0``; ActionFormer adds
half a clip).

Training may then randomly shorten the resized sequence (``RandomTruncation`` with
``length=L`` and a crop ratio: OpenTAD ``RandomTrunc(trunc_len=192, crop_ratio=[0.9, 1.0])``)
and ignores instances shorter than ``min_gt_fraction`` of the video (OpenTAD ``filter_gt``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch.utils.data import Dataset

from tadapt.data.base import item_generator
from tadapt.data.feature_dataset import FeatureDataset
from tadapt.data.sampling import RandomTruncation, Resize, Window, random_truncation
from tadapt.structures import Segments, VideoSample

__all__ = ["ResizedFeatures"]


class ResizedFeatures(Dataset[VideoSample]):
    """Every item of a whole-video :class:`FeatureDataset`, resized to ``resize.length``.

    Args:
        base: a feature dataset without sampling (each item is a whole video).
        resize: the length and the training filter of short instances.
        truncation: training only: a random crop of the resized sequence (its ``length``
            should equal ``resize.length``); ``None`` keeps the whole resized sequence.
        filter_short: drop instances shorter than ``resize.min_gt_fraction`` of the video
            from the targets (training).

    Raises:
        ValueError: ``base`` cuts videos into windows.
    """

    def __init__(
        self,
        base: FeatureDataset,
        resize: Resize,
        *,
        truncation: RandomTruncation | None = None,
        filter_short: bool = False,
    ) -> None:
        if base.sampling is not None:
            raise ValueError(
                "ResizedFeatures needs a FeatureDataset of whole videos (sampling=None)"
            )
        self.base = base
        self.resize = resize
        self.truncation = truncation
        self.filter_short = filter_short
        self.class_names = base.class_names
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch``."""
        self.epoch = int(epoch)
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> VideoSample:
        """The whole video, resized (and, in training, randomly cropped)."""
        sample = self.base[index]
        length = self.resize.length
        span = sample.duration_sec or sample.num_steps * sample.grid_stride_sec
        stride_sec = span / length
        feats = F.interpolate(sample.inputs[None], size=length, mode="linear", align_corners=False)[
            0
        ]  # (C, T) -> (C, L)
        grid = sample.to_seconds(sample.segments).to_grid(stride_sec=stride_sec).tensor
        labels = sample.labels
        if self.filter_short:
            keep = (grid[:, 1] - grid[:, 0]) >= self.resize.min_gt_fraction * length
            grid, labels = grid[keep], labels[keep]
        window = Window(0, length, length)
        if self.truncation is not None:
            generator = item_generator(self.base.seed, self.epoch, index)
            cut = random_truncation(length, grid, self.truncation, generator=generator)
            window, grid, labels = cut.window, cut.segments, labels[cut.keep]
        inputs = feats.new_zeros(feats.shape[0], window.size)
        inputs[:, : window.length] = feats[:, window.start : window.stop]
        return VideoSample(
            video_id=sample.video_id,
            inputs=inputs,
            mask=window.mask(),
            segments=Segments(grid, "idx"),
            labels=labels,
            grid_stride_sec=stride_sec,
            grid_offset_sec=window.start * stride_sec,
            duration_sec=sample.duration_sec,
            fps=sample.fps,
        )
