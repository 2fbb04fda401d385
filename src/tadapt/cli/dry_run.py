"""``tadapt train --dry-run``: a few real steps, then the time and memory a run will take.

After the input checks, the run's own :class:`~tadapt.engine.Trainer` takes ``steps``
optimizer steps (data loading, forward, backward, clipping, optimizer, EMA: everything a step
does) and is stopped; one evaluation batch goes through inference and post-processing. Nothing
is written (no checkpoint, no metrics). The estimate is

``first step + (remaining steps - 1) x steady step + evaluations x batches x batch time``

where the first step carries one-time costs (loader start, allocator warm-up) and the steady
step is the mean of the others. Memory is the peak over the training steps: the CUDA
allocator's ``max_memory_allocated`` on a GPU, the process's resident-set high-water mark on
the CPU (:mod:`tadapt.profiling`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass

import torch

from tadapt.cli.experiment import EvaluationJob
from tadapt.engine import Trainer, TrainerHook
from tadapt.engine.evaluate import predict
from tadapt.profiling import choose_method, memory_now, peak_meter

__all__ = ["DryRunReport", "dry_run"]


@dataclass(frozen=True)
class DryRunReport:
    """What the dry run measured and what it predicts.

    Attributes:
        step_seconds: wall time of each timed optimizer step (the first one included).
        remaining_steps: optimizer steps the run would still take.
        eval_batch_seconds: one evaluation batch (inference and post-processing), if any.
        eval_batches: batches of one evaluation.
        evaluations: evaluations the run would do.
        peak_mib: peak memory during the training steps (see ``memory_method``).
        memory_method: ``cuda`` (allocated), ``rss`` (resident set) or ``profiler``
            (tensor bytes).
        device: where the steps ran.
    """

    step_seconds: tuple[float, ...]
    remaining_steps: int
    eval_batch_seconds: float | None
    eval_batches: int
    evaluations: int
    peak_mib: float
    memory_method: str
    device: str

    @property
    def steady_step_seconds(self) -> float:
        """The mean of the steps after the first (the first when it is the only one)."""
        rest = self.step_seconds[1:] or self.step_seconds
        return sum(rest) / len(rest)

    @property
    def estimated_seconds(self) -> float:
        """The whole run's predicted wall time."""
        steps = self.step_seconds[0] + (self.remaining_steps - 1) * self.steady_step_seconds
        evals = self.evaluations * self.eval_batches * (self.eval_batch_seconds or 0.0)
        return max(steps, 0.0) + evals

    def summary(self) -> str:
        """A few lines for the terminal."""
        meter = {
            "cuda": "CUDA max allocated",
            "rss": "process resident set",
            "profiler": "tensor bytes",
        }[self.memory_method]
        lines = [
            f"dry run on {self.device}: {len(self.step_seconds)} training steps, "
            f"first {self.step_seconds[0]:.2f} s, then {self.steady_step_seconds:.2f} s per step",
            f"peak memory during the steps: {self.peak_mib:,.0f} MiB ({meter})",
        ]
        if self.eval_batch_seconds is not None:
            lines.append(
                f"evaluation: {self.eval_batch_seconds:.2f} s per batch, {self.eval_batches} "
                f"batches x {self.evaluations} evaluations"
            )
        lines.append(
            f"estimated run time: {_duration(self.estimated_seconds)} for "
            f"{self.remaining_steps} steps"
        )
        return "\n".join(lines)


class _DryRunDoneError(Exception):
    """Raised by the hook to stop the trainer after the timed steps."""


class _StepClock(TrainerHook):
    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.times: list[float] = []

    def after_step(self, trainer: Trainer) -> None:
        self.times.append(time.perf_counter())
        if len(self.times) >= self.steps:
            raise _DryRunDoneError


def dry_run(trainer: Trainer, evaluation: EvaluationJob | None, *, steps: int = 2) -> DryRunReport:
    """Take ``steps`` optimizer steps with ``trainer`` (then stop it) and time one eval batch.

    Args:
        trainer: the run's trainer, built without an output folder (nothing is written).
        evaluation: the run's evaluation, or ``None``.
        steps: optimizer steps to time (fewer when the run has fewer left).
    """
    state = trainer.state
    remaining = (trainer.epochs - state.epoch) * state.steps_per_epoch - state.step_in_epoch
    if remaining < 1:
        raise ValueError("the run has no training step left to measure")
    evaluations = _evaluations(trainer) if evaluation is not None else 0  # before fit() moves on
    clock = _StepClock(min(steps, remaining))
    trainer.hooks.append(clock)
    method = choose_method(trainer.device)
    before = memory_now(method, trainer.device) if method != "profiler" else 0.0
    start = time.perf_counter()
    try:
        with peak_meter(method, trainer.device) as found, contextlib.suppress(_DryRunDoneError):
            trainer.fit()
    finally:
        trainer.hooks.remove(clock)
    marks = [start, *clock.times]
    step_seconds = tuple(b - a for a, b in itertools.pairwise(marks))
    eval_seconds, eval_batches = (None, 0)
    if evaluation is not None:
        eval_seconds, eval_batches = _time_eval_batch(trainer, evaluation)
    return DryRunReport(
        step_seconds=step_seconds,
        remaining_steps=remaining,
        eval_batch_seconds=eval_seconds,
        eval_batches=eval_batches,
        evaluations=evaluations,
        peak_mib=before + found[0],
        memory_method=method,
        device=str(trainer.device),
    )


def _time_eval_batch(trainer: Trainer, evaluation: EvaluationJob) -> tuple[float, int]:
    """Seconds of one evaluation batch (inference + post-processing) and the batch count."""
    start = time.perf_counter()
    predict(
        trainer.raw_model,
        itertools.islice(evaluation.loader, 1),
        device=evaluation.device,
        postprocessing=evaluation.postprocessing,
        autocast=evaluation.precision.autocast,
    )
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return time.perf_counter() - start, len(evaluation.loader)


def _evaluations(trainer: Trainer) -> int:
    """How many evaluations the rest of the run does (the trainer's own schedule)."""
    epochs = range(trainer.state.epoch + 1, trainer.epochs + 1)
    return sum(trainer.is_eval_epoch(epoch) for epoch in epochs)


def _duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12 s``."""
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
