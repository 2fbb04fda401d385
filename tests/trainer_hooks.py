"""Trainer hooks shared by the tests: interrupt a run at a chosen step (a simulated crash)."""

from __future__ import annotations

from tadapt.engine import Trainer, TrainerHook


class StopError(Exception):
    """Raised by :class:`StopAt` to interrupt a run (a simulated crash)."""


class StopAt(TrainerHook):
    """Interrupt training after optimizer step ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, trainer: Trainer) -> None:
        """Raise :class:`StopError` at the chosen step."""
        if trainer.state.step == self.step:
            raise StopError
