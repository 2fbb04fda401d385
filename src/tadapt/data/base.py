"""What the datasets share: the error policy, per-item seeding, ground truth.

Finding files and :class:`DataError` live in :mod:`tadapt.data.files` (torch-free) and are
re-exported here.

**Error policy** (``on_error``). A video or feature file that is missing when a dataset is
built is reported at once, with the count and the first names: ``"raise"`` (default) raises a
:class:`DataError`, ``"skip"`` logs a warning and leaves those videos out. A file that fails
while an item is loaded (corrupt, truncated, undecodable): ``"raise"`` raises the
:class:`~tadapt.io.video.VideoError` / :class:`DataError` naming the file; ``"skip"`` logs a
warning naming the file and returns the next item that loads (cyclically), so an epoch never
dies, and never goes on, without saying which file failed. Run ``tadapt check-data`` before
training to find such files up front.

**Reproducibility.** Each item draws its randomness (truncation window, crop, flip, jitter) from
a generator seeded by ``(seed, epoch, index)``, so an epoch is the same whatever the number of
DataLoader workers; call :meth:`TADDataset.set_epoch` (or :func:`tadapt.data.set_epoch`) before
each epoch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

import torch
from torch.utils.data import Dataset

from tadapt.data.files import DataError, find_files, missing_message
from tadapt.data.sampling import Window
from tadapt.io import Annotations
from tadapt.io.video import VideoError
from tadapt.structures import GroundTruth, VideoSample

__all__ = [
    "DataError",
    "OnError",
    "TADDataset",
    "find_files",
    "item_generator",
    "missing_message",
    "wrap_error",
]

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
"""What a dataset does with a missing or unreadable file (module docstring)."""


def item_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator seeded from ``(seed, epoch, index)``, the same in every process."""
    digest = hashlib.blake2b(f"{seed}:{epoch}:{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


class DatasetItem(Protocol):
    """One item of a dataset: a video, and (sliding windows) the window of it."""

    @property
    def video_id(self) -> str:
        """The video's identifier."""
        ...

    @property
    def window(self) -> Window | None:
        """The window of the video (sliding windows), else ``None``."""
        ...


class TADDataset(Dataset[VideoSample]):
    """Base of the datasets: videos of one split, the error policy and per-item seeding.

    Subclasses fill ``self._items`` (one :class:`DatasetItem` per item) and implement
    ``_load(index, generator)``; this class adds the error policy and the per-item generator
    around ``_load``.

    Args:
        annotations: the annotations of one split (``load_annotations(...).split(name)``).
        class_agnostic: every label becomes 0 (ActivityNet proposals, as AdaTAD).
        on_error: ``"raise"`` or ``"skip"`` (module docstring).
        seed: base seed of the per-item generators.
    """

    _items: Sequence[DatasetItem]

    def __init__(
        self,
        annotations: Annotations,
        *,
        class_agnostic: bool = False,
        on_error: OnError = "raise",
        seed: int = 0,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if not annotations.videos:
            raise ValueError(f"{annotations.source}: no videos in these annotations")
        self.annotations = annotations
        self.class_names: tuple[str, ...] = (
            ("action",) if class_agnostic else annotations.class_names
        )
        self.class_agnostic = class_agnostic
        self.on_error: OnError = on_error
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (call before each epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._items)

    def item_info(self, index: int) -> tuple[str, Window | None]:
        """The video id and (sliding windows) the window of item ``index``, without loading."""
        item = self._items[index]
        return item.video_id, item.window

    def __getitem__(self, index: int) -> VideoSample:
        """Item ``index``; under ``on_error="skip"`` the next loadable one if it fails."""
        if self.on_error == "raise":
            return self._load(index, item_generator(self.seed, self.epoch, index))
        n = len(self)
        for k in range(n):
            j = (index + k) % n
            try:
                return self._load(j, item_generator(self.seed, self.epoch, j))
            except (VideoError, DataError) as exc:
                logger.warning("skipping item %d (%s); trying the next item", j, exc)
        raise DataError(f"{self.annotations.source}: no item of this dataset could be loaded")

    def _load(self, index: int, generator: torch.Generator) -> VideoSample:
        raise NotImplementedError

    def _locate_files(
        self,
        folder: Path,
        files: Mapping[str, Path] | None,
        exts: Sequence[str],
        prefix: str,
    ) -> dict[str, Path]:
        """The usable videos' files, the error policy applied to videos without one.

        Files come from ``files`` when given, else from searching ``folder``.
        """
        videos = self.annotations.videos
        if files is not None:
            found = {vid: Path(files[vid]) for vid in videos if vid in files}
            missing = [vid for vid in videos if vid not in files]
        else:
            found, missing = find_files(folder, videos, exts=exts, prefix=prefix)
        if missing:
            message = missing_message(missing, len(found) + len(missing), folder, exts)
            if self.on_error == "raise":
                raise DataError(
                    f"{message}. Check the folder and extension, or run `tadapt check-data`; "
                    "on_error='skip' leaves them out"
                )
            logger.warning("%s; leaving them out", message)
        if not found:
            raise DataError(f"{folder}: none of the {len(missing)} videos has a file")
        return found

    def ground_truth(self, video_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, 2)`` float64 segments in seconds and ``(N,)`` int64 labels of a video."""
        gt: GroundTruth = self.annotations.videos[video_id]
        labels = torch.zeros_like(gt.labels) if self.class_agnostic else gt.labels
        return gt.segments.tensor.to(torch.float64), labels


def wrap_error(path: Path, exc: Exception) -> VideoError | DataError:
    """``exc`` as an error whose message names ``path`` (a :class:`VideoError` always does)."""
    if isinstance(exc, VideoError) or (isinstance(exc, DataError) and str(path) in str(exc)):
        return exc
    return DataError(f"{path}: {exc}")
