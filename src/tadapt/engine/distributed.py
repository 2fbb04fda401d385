"""Optional data-parallel training with ``torchrun``; one process is the default path.

``torchrun --nproc_per_node N -m tadapt train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; :func:`init_distributed` reads them, starts the process group (NCCL on CUDA,
Gloo on CPU) and binds the process to its GPU. Without them it returns a single-process
context and touches nothing. Every helper here also works, trivially, without a process group.

**Global batch.** A config's batch size is the batch of one optimizer step over all processes
(OpenTAD issue #41): :func:`per_process_batch_size` splits it, so 1 GPU with batch 2 and 2
GPUs with batch 1 each take the same optimizer steps at the same learning rate. The
training loader gives each process a strided share of the single-process shuffle
(:func:`tadapt.data.build_loader`), so the processes' batches of a step together are exactly
the batch one process would take, and the detection loss sums its batch statistics over the
processes (:class:`tadapt.detection.DetectionLoss`): N processes train the same weights as one.

**Logging.** Only rank 0 writes files (checkpoints, metrics, reports: each writer checks
:func:`is_main_process`) and logs below ``WARNING``: :func:`init_distributed` raises the
``tadapt`` logger's level on the other ranks.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
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
    "uses_grad_checkpointing",
    "wrap_model",
]

logger = logging.getLogger(__name__)

_PACKAGE_LOGGER = "tadapt"
_saved_log_level: int | None = None  # the package logger's level before init_distributed


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

    A process that already has a group (an earlier experiment of the same launch) keeps it:
    torch cannot create the default group again once destroyed (it hangs,
    pytorch/pytorch#55967 and #114585), so the group lives until the process exits.

    Args:
        device_type: ``"cuda"`` (NCCL, one GPU per process) or ``"cpu"`` (Gloo).

    Returns:
        The process's context; a single-process one without ``torchrun``.
    """
    global _saved_log_level
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        atexit.register(_destroy_process_group)
        logger.info("process %d of %d started (%s)", rank, world_size, backend)
    if rank != 0 and _saved_log_level is None:
        # N copies of every progress message help no one; warnings and errors still show
        package_logger = logging.getLogger(_PACKAGE_LOGGER)
        _saved_log_level = package_logger.level
        package_logger.setLevel(max(logging.WARNING, package_logger.level))
    return DistributedContext(rank, world_size, local_rank)


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def cleanup_distributed() -> None:
    """End an experiment's use of the process group: restore the log level it changed.

    The group itself stays for a later experiment of the same process and is destroyed at
    exit (see :func:`init_distributed`).
    """
    global _saved_log_level
    if _saved_log_level is not None:
        logging.getLogger(_PACKAGE_LOGGER).setLevel(_saved_log_level)
        _saved_log_level = None


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


def uses_grad_checkpointing(model: nn.Module) -> bool:
    """Whether a submodule of ``model`` has activation checkpointing on (``grad_checkpointing``)."""
    return any(getattr(module, "grad_checkpointing", False) is True for module in model.modules())


class _StaticGraphDDP(DistributedDataParallel):
    """``DistributedDataParallel(static_graph=True)`` whose ``no_sync()`` reduces anyway.

    torch's reducer (2.13 included) fails an internal assertion on a ``no_sync()`` backward
    of a static graph and, past it, stops reducing gradients (pytorch/pytorch#187732,
    huggingface/accelerate#3679). Reducing after every micro-batch of an accumulated step
    gives the same gradients (the mean of the processes' sums is the sum of their means) at
    the price of one all-reduce per micro-batch instead of per optimizer step.
    """

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Keep reducing gradients (see the class docstring)."""
        yield


def wrap_model(
    model: nn.Module,
    context: DistributedContext,
    *,
    static_graph: bool | None = None,
    fp16_compress: bool = False,
) -> nn.Module:
    """``DistributedDataParallel(model)`` when several processes train, else ``model``.

    Parameters without ``requires_grad`` (a frozen backbone) are not reduced. DDP broadcasts
    rank 0's parameters and buffers, so every process starts from the same weights.

    Args:
        model: the model, on this process's device.
        context: from :func:`init_distributed`.
        static_graph: tell DDP that every iteration uses the same parameters in the same
            autograd graph, which activation checkpointing needs (a recomputed block would
            otherwise mark its parameters ready twice, or not at all). ``None``: when
            :func:`uses_grad_checkpointing`. A static-graph model reduces after every
            micro-batch of gradient accumulation (see ``_StaticGraphDDP``).
        fp16_compress: all-reduce the gradients in float16 (torch's ``fp16_compress_hook``):
            half the traffic, gradients rounded to float16 precision before averaging
            (OpenTAD ``solver.fp16_compress``, on in AdaTAD's configs).
    """
    if not context.enabled:
        return model
    device_ids = [context.local_rank] if next(model.parameters()).is_cuda else None
    if static_graph is None:
        static_graph = uses_grad_checkpointing(model)
    wrapped = (
        _StaticGraphDDP(model, device_ids=device_ids, static_graph=True)
        if static_graph
        else DistributedDataParallel(model, device_ids=device_ids)
    )
    if fp16_compress:
        wrapped.register_comm_hook(state=None, hook=default_hooks.fp16_compress_hook)
    return wrapped


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    assert isinstance(inner, nn.Module)
    return inner
