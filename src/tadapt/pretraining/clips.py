"""Random training clips of a folder of videos, with their VideoMAE masks.

Sampling follows VideoMAE's pretraining datasets (OpenGVLab/VideoMAEv2
``dataset/pretrain_datasets.py``): one clip of ``num_frames`` frames every ``stride`` frames at
a random start per video per epoch, ``clips_per_video`` augmented copies of those frames
(``num_sample``: repeated augmentation), each with a :class:`~tadapt.data.MultiScaleCrop`, its
own tube mask and, with dual masking, its own running-cell decoder mask. Every random choice
comes from a generator seeded by ``(seed, epoch, index)``, so an epoch is the same whatever the
number of data-loader workers, and a resumed run sees the batches it would have seen. Item
``epoch * len(videos) + i`` is video ``i`` in ``epoch``, so one data loader (whose workers start
once) serves the whole run through :func:`epoch_batches`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from tadapt.data.base import item_generator
from tadapt.data.files import DataError
from tadapt.data.transforms import Compose, MultiScaleCrop, Normalize, ToFloatClip
from tadapt.io.text import utf8_required
from tadapt.io.video import VideoError, VideoReader, probe_video
from tadapt.pretraining.masking import running_cell_mask, tube_mask

__all__ = ["VIDEO_EXTENSIONS", "PretrainClips", "collect_videos", "epoch_batches"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v")


def collect_videos(sources: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The video files named by ``sources``, sorted and without duplicates.

    Args:
        sources: video files, folders (searched recursively for :data:`VIDEO_EXTENSIONS`;
            ``tadapt synth`` output works as is) or ``.txt`` lists of paths, one per line,
            relative to the list's folder.

    Raises:
        DataError: a source does not exist, or no video is found.
    """
    found: set[Path] = set()
    for source in map(Path, sources):
        if source.is_dir():
            found.update(
                p for p in source.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file()
            )
        elif source.suffix.lower() == ".txt" and source.is_file():
            with utf8_required(source, DataError):
                lines = source.read_text(encoding="utf-8").splitlines()
            for line in lines:
                if line.strip():
                    path = Path(line.strip())
                    found.add(path if path.is_absolute() else source.parent / path)
        elif source.is_file():
            found.add(source)
        else:
            raise DataError(f"{source}: no such video file, folder or .txt list")
    missing = sorted(str(p) for p in found if not p.is_file())
    if missing:
        raise DataError(
            f"{len(missing)} listed videos do not exist (e.g. {', '.join(missing[:3])}); "
            "fix the list"
        )
    if not found:
        raise DataError(
            f"no video ({', '.join(VIDEO_EXTENSIONS)}) in {', '.join(map(str, sources))}"
        )
    return sorted(found)


class PretrainClips(Dataset[dict[str, torch.Tensor]]):
    """One item per video: ``clips_per_video`` augmented copies of a random clip, with masks.

    Args:
        videos: the video files.
        num_frames: frames per clip ``T``.
        stride: take every ``stride``-th frame (VideoMAE's ``sampling_rate``).
        size: output side in pixels.
        patch_size: the backbone's patch size.
        tubelet_size: the backbone's frames per temporal patch.
        mask_ratio: tube mask ratio of the encoder.
        decoder_mask_ratio: running-cell ratio of the decoder; 0 reconstructs every hidden token.
        clips_per_video: augmented copies per item (VideoMAE's ``num_sample``).
        short_side: decode to this short side first (``None``: stored size).
        mean: normalisation mean (0-1 units).
        std: normalisation standard deviation.
        seed: seed of every random choice.

    Raises:
        DataError: a video cannot be opened.
    """

    def __init__(
        self,
        videos: Sequence[Path],
        *,
        num_frames: int,
        stride: int,
        size: int,
        patch_size: int,
        tubelet_size: int,
        mask_ratio: float,
        decoder_mask_ratio: float = 0.0,
        clips_per_video: int = 1,
        short_side: int | None = None,
        mean: Sequence[float],
        std: Sequence[float],
        seed: int = 0,
    ) -> None:
        if num_frames % tubelet_size or size % patch_size:
            raise ValueError(
                f"num_frames {num_frames} must be a multiple of the tubelet ({tubelet_size}) and "
                f"size {size} of the patch ({patch_size})"
            )
        if stride < 1 or clips_per_video < 1:
            raise ValueError(
                f"stride and clips_per_video must be >= 1: {stride}, {clips_per_video}"
            )
        self.videos = list(videos)
        self.lengths = []
        for path in self.videos:
            try:
                self.lengths.append(probe_video(path).num_frames)
            except VideoError as err:
                raise DataError(f"{err}; remove the file from the pretraining videos") from err
        self.num_frames, self.stride, self.short_side = num_frames, stride, short_side
        self.grid = (num_frames // tubelet_size, size // patch_size, size // patch_size)
        self.mask_ratio, self.decoder_mask_ratio = mask_ratio, decoder_mask_ratio
        self.clips_per_video = clips_per_video
        self.seed = seed
        # fail now, not in a worker: both masks must be drawable on this grid
        tube_mask(self.grid, mask_ratio)
        if decoder_mask_ratio > 0:
            running_cell_mask(self.grid, decoder_mask_ratio)
        self.to_float = ToFloatClip()
        self.augment = Compose([MultiScaleCrop(size), Normalize(mean, std)])

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        """Item ``epoch * len(self) + index``: copies of one clip of video ``index``.

        Returns:
            ``clips (S, C, T, H, W)``, ``mask (S, N)`` and ``decode (S, N)`` bool, for
            ``S = clips_per_video`` augmented copies.
        """
        epoch, index = divmod(item, len(self.videos))
        generator = item_generator(self.seed, epoch, index)
        span = (self.num_frames - 1) * self.stride + 1
        last_start = max(self.lengths[index] - span, 0)
        start = int(torch.randint(last_start + 1, (1,), generator=generator))
        path = self.videos[index]
        try:
            with VideoReader(path, short_side=self.short_side, threads=1) as reader:
                frames, _ = reader.read_window(start, self.num_frames, self.stride)
        except VideoError as err:
            raise DataError(f"{err}; remove the file from the pretraining videos") from err
        clip = self.to_float(frames)
        clips, masks, decodes = [], [], []
        for _ in range(self.clips_per_video):
            clips.append(self.augment(clip, generator))
            mask = tube_mask(self.grid, self.mask_ratio, generator)
            masks.append(mask)
            if self.decoder_mask_ratio > 0:
                decodes.append(~running_cell_mask(self.grid, self.decoder_mask_ratio, generator))
            else:
                decodes.append(mask)
        return {
            "clips": torch.stack(clips),
            "mask": torch.stack(masks),
            "decode": torch.stack(decodes),
        }


def epoch_batches(
    num_videos: int, batch_size: int, *, epochs: range, seed: int
) -> Iterator[list[int]]:
    """Batches of :class:`PretrainClips` items: each epoch a seeded shuffle, the tail dropped.

    Args:
        num_videos: videos in the dataset.
        batch_size: videos per batch.
        epochs: the epochs to cover (``range(first, last)`` when resuming).
        seed: seed of the shuffles (the order of epoch ``e`` depends on ``(seed, e)`` only).

    Yields:
        ``batch_size`` item numbers ``epoch * num_videos + index`` per batch.
    """
    for epoch in epochs:
        order = torch.randperm(num_videos, generator=item_generator(seed, epoch, -1)).tolist()
        for start in range(0, num_videos - batch_size + 1, batch_size):
            yield [epoch * num_videos + i for i in order[start : start + batch_size]]
