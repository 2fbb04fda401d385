"""Linear warmup then cosine annealing, stepped once per optimizer step.

The closed form of ``LinearWarmupCosineAnnealingLR`` (PyTorch Lightning Bolts, which
ActionFormer ``libs/utils/lr_schedulers.py`` and OpenTAD copy, with ``warmup_start_lr = 0``),
per parameter group with base learning rate ``b``, ``W`` warmup steps and ``S`` total steps:

* step ``s < W``: ``b * s / (W - 1)`` (0 at the first step, ``b`` at step ``W - 1``);
* step ``s >= W``: ``m + (b - m) * (1 + cos(pi * (s - W) / (S - W))) / 2`` with
  ``m = b * min_lr_ratio``, reaching ``m`` at ``s = S`` and staying there.

With ``W <= 1`` there is no warmup. Both repos step it every iteration, with ``W`` and ``S`` the
warmup and total epochs times the iterations per epoch.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["WarmupCosineLR", "warmup_cosine_factor"]


def warmup_cosine_factor(
    step: int, *, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> float:
    """The learning rate at ``step`` as a fraction of the base rate (module docstring)."""
    if warmup_steps > 1 and step < warmup_steps:
        return step / (warmup_steps - 1)
    warmup = max(warmup_steps, 0)
    span = max(total_steps - warmup, 1)
    progress = min(max(step - warmup, 0), span) / span
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosineLR(LRScheduler):
    """Per-step linear warmup + cosine schedule (see :func:`warmup_cosine_factor`).

    Args:
        optimizer: its groups' ``lr`` at construction are the base rates.
        warmup_steps: ``W``.
        total_steps: ``S`` (``>= W``).
        min_lr_ratio: the final rate as a fraction of the base rate.
        last_epoch: the step to start from (``-1``: a fresh schedule).

    Raises:
        ValueError: negative or inconsistent step counts.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        warmup_steps: int,
        total_steps: int,
        min_lr_ratio: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not 0 <= warmup_steps <= total_steps or total_steps < 1:
            raise ValueError(
                f"need 0 <= warmup_steps <= total_steps and total_steps >= 1, got "
                f"{warmup_steps} and {total_steps}"
            )
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr_ratio = min_lr_ratio
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The learning rate of every group at step ``last_epoch``."""
        factor = warmup_cosine_factor(
            self.last_epoch,
            warmup_steps=self.warmup_steps,
            total_steps=self.total_steps,
            min_lr_ratio=self.min_lr_ratio,
        )
        return [float(base) * factor for base in self.base_lrs]
