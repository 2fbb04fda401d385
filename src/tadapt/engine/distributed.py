"""Optional data-parallel training with ``torchrun``; one process is the default path.

``torchrun --nproc_per_node N -m tadapt train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` reads them, starts the process group (NCCL on CUDA,
Gloo on CPU) and binds the process to its GPU. Without them it returns a single-process
context and touches nothing. Every helper here also works, trivially, without a process group.

**Global batch.** A config's batch size is the batch of one optimizer step over all processes
(OpenTAD issue #41): :func:`per_process_batch_size` splits it, so 1 GPU with batch 2 and 2
GPUs with batch 1 each take the same optimizer steps at the same learning rate.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "DistributedContext",
    "all_gather_objects",
    "barrier",
    "cleanup_distributed",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "per_process_batch_size",
    "unwrap_model",
    "wrap_model",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the job.

    Attributes:
        rank: global index of this process.
        world_size: number of processes.
        local_rank: index of this process on its machine (its GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """This process writes files and logs."""
        return self.rank == 0


def init_distributed(device_type: str = "cuda") -> DistributedContext:
    """Start the process group when launched by ``torchrun`` (``WORLD_SIZE > 1``).

    Args:
        device_type: ``"cuda"`` (NCCL, one GPU per process) or ``"cpu"`` (Gloo).

    Returns:
        The process's context; a single-process one without ``torchrun``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        logger.info("process %d of %d started (%s)", rank, world_size, backend)
    return DistributedContext(rank, world_size, local_rank)


def cleanup_distributed() -> None:
    """Destroy the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return dist.get_rank() if _active() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if _active() else 1


def is_main_process() -> bool:
    """Whether this process is rank 0."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every process (a no-op alone)."""
    if _active():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` alone."""
    if not _active():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def per_process_batch_size(global_batch: int, world_size: int, grad_accum_steps: int = 1) -> int:
    """Samples per forward pass on each process for a global batch per optimizer step.

    Raises:
        ValueError: the global batch does not split evenly.
    """
    parts = world_size * grad_accum_steps
    if global_batch < 1 or global_batch % parts != 0:
        raise ValueError(
            f"train.batch_size={global_batch} is the global batch per optimizer step and must "
            f"divide by processes x grad_accum_steps = {world_size} x {grad_accum_steps}"
        )
    return global_batch // parts


def wrap_model(model: nn.Module, context: DistributedContext) -> nn.Module:
    """``DistributedDataParallel(model)`` when several processes train, else ``model``."""
    if not context.enabled:
        return model
    device_ids = [context.local_rank] if next(model.parameters()).is_cuda else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    assert isinstance(inner, nn.Module)
    return inner
