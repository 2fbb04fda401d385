"""DataLoader construction: workers, padding collate, distributed sampling, seeding.

:func:`build_loader` wraps a dataset of :class:`~tadapt.structures.VideoSample` in a
``DataLoader`` that collates with :func:`~tadapt.structures.collate_samples` (zero-padding ``T``
to the longest sample, rounded up to ``pad_multiple``, with a ``(B, T)`` mask). Single-process
is the default path: a seeded shuffle or the dataset order. When ``torch.distributed`` is
initialised (``torchrun``), each rank takes its share: of a shuffle, a strided share of the
very permutation one process would draw (:class:`ShardedRandomSampler`), so that the ranks'
``i``-th batches together are one process's ``i``-th batch of ``world_size`` times the size;
of the dataset order (evaluation), a ``DistributedSampler`` share.

Call :func:`set_epoch` before each epoch: it selects the dataset's per-epoch random draws
(truncation windows, augmentation). The shuffle draws from the loader's ``generator``; reseed it
per epoch for an order that depends on the epoch alone (:class:`tadapt.engine.Trainer` does).
Workers are not persistent (each epoch's workers receive the dataset with its current epoch).

**Fork safety.** Workers are forked from the main process. An FFmpeg decoder left to the
garbage collector in the main process (a PyAV object in a reference cycle) would be freed inside
a worker, where its frame threads do not exist, and the worker would deadlock in
``avcodec_free_context``. :class:`tadapt.io.VideoReader` releases its decoder explicitly on
``close()``; for decoders other code may leave behind, the loader also runs ``gc.collect()`` in
the main process before it starts workers.
"""

from __future__ import annotations

import functools
import gc
import math
import os
import random
from collections.abc import Iterator, Sized
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, Sampler
from torch.utils.data.dataloader import _BaseDataLoaderIter

from tadapt.structures import VideoSample, collate_samples

__all__ = ["ShardedRandomSampler", "build_loader", "seed_worker", "set_epoch"]


def seed_worker(worker_id: int) -> None:
    """Seed Python's and numpy's generators in a worker from torch's per-worker seed.

    torch seeds each worker differently (``base_seed + worker_id``); libraries that draw from
    ``random`` or ``numpy`` would otherwise repeat the same numbers in every worker
    (ActionFormer's ``worker_init_reset_seed`` does the same).
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


class ShardedRandomSampler(RandomSampler):
    """One process's share of the single-process shuffle: positions ``rank::world_size``.

    The permutation is the one :class:`~torch.utils.data.RandomSampler` draws from the same
    generator, and each process takes every ``world_size``-th position of it. With batches of
    ``b`` per process, the ``i``-th batches of all processes are together positions
    ``[i N b, (i + 1) N b)``: the ``i``-th batch of one process with batches of ``N b``. Being a
    ``RandomSampler`` over the loader's generator, it is reseeded per epoch by the trainer
    exactly as the single-process shuffle is.

    Args:
        data_source: the dataset.
        generator: the shuffle's generator (the loader's own).
        rank: this process's index (default: from the process group).
        world_size: number of processes (default: from the process group).
        drop_last: drop the end of the permutation that does not divide by ``world_size``;
            otherwise repeat its start to fill the last round (as ``DistributedSampler``).

    Raises:
        ValueError: ``rank`` is not in ``[0, world_size)``.
    """

    def __init__(
        self,
        data_source: Sized,
        *,
        generator: torch.Generator,
        rank: int | None = None,
        world_size: int | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__(data_source, generator=generator)
        self.world_size = dist.get_world_size() if world_size is None else world_size
        self.rank = dist.get_rank() if rank is None else rank
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not in [0, world_size={self.world_size})")
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.data_source)
        return n // self.world_size if self.drop_last else math.ceil(n / self.world_size)

    def __iter__(self) -> Iterator[int]:
        order = list(super().__iter__())  # every process draws the same permutation
        total = len(self) * self.world_size
        if total > len(order):
            order += (order * math.ceil(total / len(order)))[: total - len(order)]
        return iter(order[self.rank : total : self.world_size])


class _ForkSafeLoader(DataLoader[Any]):
    """A DataLoader that collects garbage before forking workers (module docstring)."""

    def __iter__(self) -> _BaseDataLoaderIter:
        if self.num_workers > 0:
            gc.collect()
        return super().__iter__()


def build_loader(
    dataset: Dataset[VideoSample],
    *,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    seed: int = 0,
    drop_last: bool = False,
    pad_multiple: int = 1,
    pin_memory: bool = False,
    prefetch_factor: int | None = None,
    timeout: float = 0.0,
) -> DataLoader[VideoSample]:
    """A DataLoader of :class:`VideoBatch` over ``dataset``.

    Args:
        dataset: a dataset of :class:`VideoSample` (e.g. :class:`tadapt.data.VideoDataset`).
        batch_size: samples per batch (per rank when distributed).
        shuffle: shuffle each epoch (training); the order is reproducible from ``seed``.
        num_workers: worker processes for loading (0: in the main process).
        seed: seed of the shuffle's generator (the same on every process).
        drop_last: drop the last incomplete batch (and, distributed, the uneven tail).
        pad_multiple: round the padded ``T`` up to a multiple of this (e.g. the detector's
            largest stride).
        pin_memory: pin batches for faster host-to-GPU copies.
        prefetch_factor: batches prefetched per worker (torch's default when ``None``).
        timeout: seconds to wait for a batch from the workers before raising (0: forever).

    Returns:
        The loader; its batches are :class:`~tadapt.structures.VideoBatch`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    sampler: Sampler[int] | None = None
    generator = torch.Generator().manual_seed(seed)
    if _distributed() and shuffle:
        sized = cast(Sized, dataset)  # a map-style dataset (what a shuffle needs)
        sampler = ShardedRandomSampler(sized, generator=generator, drop_last=drop_last)
        shuffle = False  # the sampler shuffles
    elif _distributed():
        sampler = DistributedSampler(dataset, shuffle=False, drop_last=drop_last)
    collate = functools.partial(collate_samples, pad_multiple=pad_multiple)
    return _ForkSafeLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        generator=generator,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        persistent_workers=False,
        timeout=timeout if num_workers > 0 else 0.0,
    )


def set_epoch(loader: DataLoader[VideoSample], epoch: int) -> None:
    """Prepare ``epoch``: the dataset's random draws (and a ``DistributedSampler``'s epoch)."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)
    set_dataset_epoch = getattr(loader.dataset, "set_epoch", None)
    if callable(set_dataset_epoch):
        set_dataset_epoch(epoch)
