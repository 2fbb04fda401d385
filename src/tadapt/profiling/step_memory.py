"""The memory one training step needs, by part: weights, gradients, optimizer states, activations.

:func:`measure_training_step` runs one forward and backward pass of a model (a
:class:`~tadapt.detection.TemporalDetector` or anything whose training forward returns a dict
with ``final_loss``) and reports the exact bytes of each part: the activations from
:func:`~tadapt.profiling.count_saved_tensors`, the gradients as the backward left them, AdamW's
two moment buffers per trainable parameter (as :func:`tadapt.engine.build_optimizer` keeps
them, in the parameters' dtype), and on a GPU the allocator's peak.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn

from tadapt.profiling.saved_tensors import count_saved_tensors

__all__ = ["StepMemory", "measure_training_step"]

_ADAMW_STATES = 2  # exp_avg and exp_avg_sq per trainable parameter


@dataclass(frozen=True)
class StepMemory:
    """Bytes of one training step, by part.

    Attributes:
        weights: every parameter and buffer of the model.
        gradients: the ``.grad`` tensors after the backward pass.
        optimizer_states: AdamW's moment buffers for the trainable parameters.
        activations: the distinct storages autograd saved for the backward (parameters and
            buffers excluded).
        cuda_peak: ``torch.cuda.max_memory_allocated`` over the step (``None`` off CUDA).
    """

    weights: int
    gradients: int
    optimizer_states: int
    activations: int
    cuda_peak: int | None = None

    @property
    def total(self) -> int:
        """The four parts together (what a planner adds; allocator overheads aside)."""
        return self.weights + self.gradients + self.optimizer_states + self.activations


def measure_training_step(
    model: nn.Module,
    batch: object,
    *,
    autocast: Callable[[], AbstractContextManager[object]] | None = None,
) -> StepMemory:
    """One forward and backward pass of ``model`` on ``batch``, measured.

    The gradients it leaves are cleared again (``zero_grad(set_to_none=True)``); the weights
    are not updated.

    Args:
        model: in training mode, on the device ``batch`` is on.
        batch: what ``model(batch)`` takes.
        autocast: a context for the forward pass, as the trainer's
            (:meth:`tadapt.engine.PrecisionPolicy.autocast`); ``None``: none.
    """
    parameters = list(model.parameters())
    trainable = [p for p in parameters if p.requires_grad]
    device = parameters[0].device if parameters else torch.device("cpu")
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    buffers = list(model.buffers())
    forward = autocast() if autocast is not None else contextlib.nullcontext()
    with count_saved_tensors([*parameters, *buffers]) as saved, forward:  # weights held anyway
        loss = model(batch)["final_loss"]
    loss.backward()
    cuda_peak = None
    if on_cuda:
        torch.cuda.synchronize(device)
        cuda_peak = torch.cuda.max_memory_allocated(device)
    gradients = sum(_nbytes(p.grad) for p in parameters if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return StepMemory(
        weights=sum(_nbytes(t) for t in (*parameters, *buffers)),
        gradients=gradients,
        optimizer_states=_ADAMW_STATES * sum(_nbytes(p) for p in trainable),
        activations=saved.bytes,
        cuda_peak=cuda_peak,
    )


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()
