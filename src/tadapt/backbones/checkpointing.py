"""Activation checkpointing helpers: per block, and over groups of temporal chunks.

Per-block checkpointing (OpenTAD ``Block.with_cp``) stores only each block's input and
recomputes the block in the backward pass. It pays off only where the block takes part in
the backward pass at all, so :func:`needs_grad` decides per block: a frozen prefix of the
network (no trainable parameter, input without grad) runs plainly, as OpenTAD does for its
frozen patch embedding. :class:`CheckpointPolicy` adds the two choices that set how lean it
is: torch's reentrant or non-reentrant implementation, and OpenTAD's rule of checkpointing
only blocks whose input requires grad (behind a frozen stem, the first adapted block runs
plainly).

Temporal checkpointing (OpenTAD ``BackboneWrapper.temporal_checkpointing``, from ETAD) splits
the chunk batch into groups and runs them one after another, each under one checkpoint, so
only one group's activations are alive at a time; without grad the groups simply run in
sequence, which bounds inference memory the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["CheckpointPolicy", "CheckpointScheme", "checkpoint_call", "needs_grad", "run_in_groups"]

CheckpointScheme = Literal["reentrant", "non_reentrant"]


def needs_grad(module: nn.Module, *inputs: torch.Tensor) -> bool:
    """Whether running ``module`` on ``inputs`` records anything for a backward pass.

    True when grad mode is on and an input requires grad or the module has a trainable
    parameter (a frozen block holding a trainable adapter still needs its activations).
    """
    if not torch.is_grad_enabled():
        return False
    if any(x.requires_grad for x in inputs):
        return True
    return any(p.requires_grad for p in module.parameters())


def checkpoint_call(
    fn: Callable[..., torch.Tensor], *args: object, reentrant: bool = False
) -> torch.Tensor:
    """``fn(*args)`` under activation checkpointing.

    Both implementations keep the RNG state, so stochastic depth draws the same mask on
    recompute. Non-reentrant checkpointing (the default here) accepts inputs without grad and
    nesting. Reentrant checkpointing back-propagates into ``fn`` only through tensor inputs
    that require grad, so when none does (a frozen stem's output entering a block that holds
    a trainable adapter) the floating-point tensor inputs are passed on as detached leaves
    that require grad: the gradients of ``fn``'s parameters are then exact, at the cost of
    also computing an input gradient nobody reads. Reentrant checkpointing supports
    ``loss.backward()`` but not ``torch.autograd.grad``.

    Args:
        fn: the function to run, e.g. a block.
        *args: its positional arguments, tensors and others.
        reentrant: use torch's reentrant implementation.
    """
    if not reentrant:
        out: torch.Tensor = checkpoint(fn, *args, use_reentrant=False)
        return out
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if not any(t.requires_grad for t in tensors):
        args = tuple(
            a.detach().requires_grad_()
            if isinstance(a, torch.Tensor) and a.is_floating_point()
            else a
            for a in args
        )
    out = checkpoint(fn, *args, use_reentrant=True)
    return out


@dataclass(frozen=True)
class CheckpointPolicy:
    """Which blocks run under activation checkpointing, and with which implementation.

    Attributes:
        scheme: ``"reentrant"`` or ``"non_reentrant"`` (see :func:`checkpoint_call`).
        skip_first: checkpoint a block only when its input requires grad (OpenTAD's
            ``with_cp and x.requires_grad``). Behind a frozen patch embedding the first block
            with a trainable parameter (adapter, LoRA) then runs plainly and keeps its
            activations; when the patch embedding trains, no block is skipped.
    """

    scheme: CheckpointScheme = "non_reentrant"
    skip_first: bool = False

    def __post_init__(self) -> None:
        if self.scheme not in get_args(CheckpointScheme):
            raise ValueError(
                f"checkpointing scheme must be one of {list(get_args(CheckpointScheme))}, "
                f"got {self.scheme!r}"
            )

    def applies(self, module: nn.Module, x: torch.Tensor) -> bool:
        """Whether ``module`` run on ``x`` should be checkpointed under this policy."""
        if not needs_grad(module, x):
            return False
        return x.requires_grad or not self.skip_first

    def call(self, fn: Callable[..., torch.Tensor], *args: object) -> torch.Tensor:
        """``fn(*args)`` under checkpointing with this policy's scheme."""
        return checkpoint_call(fn, *args, reentrant=self.scheme == "reentrant")


def run_in_groups(
    fn: Callable[[torch.Tensor], list[torch.Tensor]],
    inputs: torch.Tensor,
    group_size: int,
    *,
    module: nn.Module,
) -> list[torch.Tensor]:
    """Apply ``fn`` to slices of ``inputs`` along dim 0 and concatenate each output.

    Under grad (see :func:`needs_grad`) each slice runs under one (non-reentrant) checkpoint,
    so only one slice's activations are stored at a time; otherwise the slices run plainly.

    Args:
        fn: maps ``(G, ...)`` to a list of tensors whose dim 0 has length ``G``.
        inputs: ``(M, ...)``.
        group_size: slice length ``G`` (the last slice may be shorter).
        module: the module whose parameters ``fn`` uses (decides whether grad is needed).

    Returns:
        ``fn``'s outputs for the whole of ``inputs``, each concatenated along dim 0.
    """
    if group_size < 1:
        raise ValueError(f"group size must be >= 1, got {group_size}")
    pieces: list[Sequence[torch.Tensor]] = []
    for start in range(0, inputs.shape[0], group_size):
        part = inputs[start : start + group_size]
        if needs_grad(module, part):
            pieces.append(checkpoint(fn, part, use_reentrant=False))
        else:
            pieces.append(fn(part))
    return [torch.cat(outs, dim=0) for outs in zip(*pieces, strict=True)]
