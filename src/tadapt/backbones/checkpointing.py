"""Activation checkpointing helpers: per block, and over groups of temporal chunks.

Per-block checkpointing (OpenTAD ``Block.with_cp``) stores only each block's input and
recomputes the block in the backward pass. It pays off only where the block takes part in
the backward pass at all, so :func:`needs_grad` decides per block: a frozen prefix of the
network (no trainable parameter, input without grad) runs plainly, as OpenTAD does for its
frozen patch embedding.

Temporal checkpointing (OpenTAD ``BackboneWrapper.temporal_checkpointing``, from ETAD) splits
the chunk batch into groups and runs them one after another, each under one checkpoint, so
only one group's activations are alive at a time; without grad the groups simply run in
sequence, which bounds inference memory the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["checkpoint_call", "needs_grad", "run_in_groups"]


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


def checkpoint_call(fn: Callable[..., torch.Tensor], *args: object) -> torch.Tensor:
    """``fn(*args)`` under non-reentrant activation checkpointing.

    Non-reentrant checkpointing accepts non-tensor arguments, inputs without grad and
    nesting, and keeps the RNG state so stochastic depth draws the same mask on recompute.
    """
    out: torch.Tensor = checkpoint(fn, *args, use_reentrant=False)
    return out


def run_in_groups(
    fn: Callable[[torch.Tensor], list[torch.Tensor]],
    inputs: torch.Tensor,
    group_size: int,
    *,
    module: nn.Module,
) -> list[torch.Tensor]:
    """Apply ``fn`` to slices of ``inputs`` along dim 0 and concatenate each output.

    Under grad (see :func:`needs_grad`) each slice runs under one checkpoint, so only one
    slice's activations are stored at a time; otherwise the slices run plainly.

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
