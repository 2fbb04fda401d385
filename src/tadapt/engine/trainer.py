"""The training loop: accumulation, clipping, mixed precision, EMA, evaluation, checkpoints.

:class:`Trainer` runs ``epochs`` epochs of optimizer steps. One optimizer step is
``grad_accum_steps`` forward/backward passes (under ``torchrun``, on every process), then
gradient clipping, the step, the per-step learning-rate schedule and the EMA update, in the
order of ActionFormer's ``train_one_epoch`` (``libs/utils/train_utils.py``). After each epoch
it may evaluate (the EMA weights by default) and writes ``checkpoints/last.pt``; a better
evaluation metric also writes ``checkpoints/best.pt``.

**Exact resume.** A checkpoint holds everything that decides what happens next: weights, EMA,
optimizer, schedule, gradient scaler, the global generators' states and the position in the
epoch. The order of an epoch's batches is a function of ``(seed, epoch)`` alone (the shuffle
generator is reseeded every epoch, and datasets draw augmentations from per-item generators
seeded by ``(seed, epoch, index)``), so a run resumed from a mid-epoch checkpoint skips the
batches already used, without loading them, and continues with the same batches, random draws
and weights as a run that never stopped.

**Numerical faults** (:mod:`tadapt.engine.numerics`). A non-finite loss, or in fp32/bf16 a
non-finite gradient norm, stops training with a :class:`NonFiniteLossError` that names the
step, the loss terms, the batch's videos and whether their inputs were already non-finite. An
fp16 step whose gradients overflow is skipped by the gradient scaler, as usual, and counted
(``TrainState.skipped_steps``, the ``skipped_steps`` field of the training records and a log
line per step and epoch). Running out of memory raises a :class:`DeviceMemoryError` naming the
step. The gradient norm (before clipping) is logged at every record, with the loss scale when
a scaler is used.

**Hooks.** :class:`TrainerHook` subclasses see the trainer after every optimizer step and
every epoch (logging to another service, stopping early, failure injection in tests).

**Batch transforms.** An optional ``batch_transform(batch, epoch, step)`` changes every
training batch (on the device, before the forward pass; never an evaluation batch), as a pure
function of the epoch and the optimizer step so that a resumed run sees the same batches:
LoFi's fidelity schedule (:class:`tadapt.engine.fidelity.FidelityTransform`). A transform
with a ``describe(epoch, step)`` method adds its fields (LoFi: ``r_t``, ``r_s``) to the
training records.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, RandomSampler
from tqdm import tqdm

from tadapt.data import set_epoch
from tadapt.engine.checkpoint import capture_rng_state, restore_rng_state, save_checkpoint
from tadapt.engine.distributed import get_world_size, is_main_process, unwrap_model
from tadapt.engine.ema import ModelEMA
from tadapt.engine.logging import MetricsWriter
from tadapt.engine.numerics import (
    DeviceMemoryError,
    NonFiniteLossError,
    NonFiniteReport,
    SampleRef,
    cuda_memory_summary,
    is_out_of_memory,
)
from tadapt.engine.precision import PrecisionPolicy, resolve_precision
from tadapt.structures import VideoBatch

__all__ = [
    "BatchTransform",
    "DescribedTransform",
    "TrainState",
    "Trainer",
    "TrainerHook",
    "steps_per_epoch",
]

logger = logging.getLogger(__name__)

Evaluator = Callable[[nn.Module], Mapping[str, float]]
"""Evaluates a model (in evaluation mode) and returns metrics, higher is better."""

BatchTransform = Callable[[VideoBatch, int, int], VideoBatch]
"""Changes a training batch given ``(epoch, optimizer step)``, both 0-based (e.g. LoFi)."""


@runtime_checkable
class DescribedTransform(Protocol):
    """A batch transform that reports its current setting in the training records."""

    def describe(self, epoch: int, step: int) -> Mapping[str, float]:
        """Fields for the record of optimizer step ``step`` (0-based) of epoch ``epoch``."""
        ...


def steps_per_epoch(num_batches: int, grad_accum_steps: int = 1) -> int:
    """Optimizer steps in an epoch of ``num_batches`` loader batches (the last may be short)."""
    if num_batches < 1:
        raise ValueError(
            "the training loader yields no batch: fewer training samples than the batch size"
        )
    return math.ceil(num_batches / grad_accum_steps)


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint.

    Attributes:
        epoch: epochs completed.
        step: optimizer steps completed.
        step_in_epoch: optimizer steps completed in the current (unfinished) epoch.
        steps_per_epoch: optimizer steps per epoch (checked on resume).
        best_metric: best evaluation metric so far.
        best_epoch: the epoch that reached it.
        skipped_steps: optimizer steps the fp16 gradient scaler skipped (overflow), in all.
    """

    epoch: int = 0
    step: int = 0
    step_in_epoch: int = 0
    steps_per_epoch: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    skipped_steps: int = 0


@dataclass(frozen=True)
class _FiniteStep:
    """The last optimizer step whose loss and gradient norm were finite."""

    step: int
    loss: float
    grad_norm: float


class TrainerHook:
    """Called by :class:`Trainer`; override the methods you need."""

    def after_step(self, trainer: Trainer) -> None:
        """After every optimizer step (and its periodic checkpoint)."""

    def after_epoch(self, trainer: Trainer) -> None:
        """After every epoch's evaluation and checkpoint."""


class Trainer:
    """Train a model whose training-mode forward returns a loss dict with ``final_loss``.

    Args:
        model: the model, possibly ``DistributedDataParallel``-wrapped, on ``device``.
        optimizer: its optimizer.
        scheduler: stepped after every optimizer step.
        train_loader: built by :func:`tadapt.data.build_loader` (its shuffle generator is
            reseeded every epoch); batches are :class:`~tadapt.structures.VideoBatch`.
        epochs: epochs to train in total.
        device: where batches go.
        grad_accum_steps: forward/backward passes per optimizer step.
        clip_grad_norm: clip the global gradient norm to this (``None``: no clipping).
        ema: the model EMA, updated after every optimizer step.
        precision: autocast / gradient scaling (default fp32).
        evaluator: called after evaluated epochs; ``None``: no evaluation.
        eval_interval: evaluate every this many epochs; 0: after the last epoch only.
        eval_start_epoch: first epoch (1-based) that may be evaluated (the last always is).
        eval_use_ema: evaluate the EMA weights when there is an EMA.
        best_metric: the evaluator's key that selects ``best.pt`` (higher is better).
        output_dir: where ``checkpoints/`` go; ``None``: no checkpoints.
        checkpoint_interval_steps: also write ``last.pt`` every this many optimizer steps.
        metrics: where training and evaluation records go.
        log_interval: optimizer steps per training record.
        config: the resolved configuration as plain data, stored in checkpoints.
        seed: seed of the per-epoch shuffle.
        progress: show a progress bar (main process only).
        hooks: called after steps and epochs.
        batch_transform: applied to every training batch on the device, before the forward
            pass, with the epoch and the (0-based, run-wide) optimizer step the batch belongs
            to; all micro-batches of an accumulated step share the step. Evaluation batches
            are never transformed.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        train_loader: DataLoader[Any],
        *,
        epochs: int,
        device: torch.device | str = "cpu",
        grad_accum_steps: int = 1,
        clip_grad_norm: float | None = None,
        ema: ModelEMA | None = None,
        precision: PrecisionPolicy | None = None,
        evaluator: Evaluator | None = None,
        eval_interval: int = 0,
        eval_start_epoch: int = 1,
        eval_use_ema: bool = True,
        best_metric: str = "average_mAP",
        output_dir: str | Path | None = None,
        checkpoint_interval_steps: int = 0,
        metrics: MetricsWriter | None = None,
        log_interval: int = 10,
        config: Mapping[str, Any] | None = None,
        seed: int = 0,
        progress: bool = True,
        hooks: Sequence[TrainerHook] = (),
        batch_transform: BatchTransform | None = None,
    ) -> None:
        if epochs < 1 or grad_accum_steps < 1 or log_interval < 1:
            raise ValueError("epochs, grad_accum_steps and log_interval must be >= 1")
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.train_loader = train_loader
        self.epochs = epochs
        self.device = torch.device(device)
        self.grad_accum_steps = grad_accum_steps
        self.clip_grad_norm = clip_grad_norm
        self.ema = ema
        self.precision = precision or resolve_precision("fp32", self.device)
        self.scaler = self.precision.make_scaler()
        self.evaluator = evaluator
        self.eval_interval = eval_interval
        self.eval_start_epoch = eval_start_epoch
        self.eval_use_ema = eval_use_ema
        self.best_metric = best_metric
        self.checkpoint_dir = Path(output_dir) / "checkpoints" if output_dir is not None else None
        self.checkpoint_interval_steps = checkpoint_interval_steps
        self.metrics = metrics
        self.log_interval = log_interval
        self.config = dict(config or {})
        self.seed = seed
        self.progress = progress
        self.hooks = list(hooks)
        self.batch_transform = batch_transform
        self.state = TrainState(
            steps_per_epoch=steps_per_epoch(len(train_loader), grad_accum_steps)
        )
        self.last_metrics: dict[str, float] = {}
        self._last_finite: _FiniteStep | None = None
        self._step_samples: list[SampleRef] = []  # every micro-batch of the current step
        self._step_losses: list[float] = []

    # ------------------------------------------------------------------ the loop

    @property
    def raw_model(self) -> nn.Module:
        """The model without its DDP wrapper."""
        return unwrap_model(self.model)

    def fit(self) -> TrainState:
        """Train until ``epochs`` epochs are done (from where a resumed state stands)."""
        if self.state.epoch >= self.epochs:
            logger.info("nothing to train: %d of %d epochs done", self.state.epoch, self.epochs)
        while self.state.epoch < self.epochs:
            self._train_epoch(self.state.epoch)
            self.state.epoch += 1
            self.state.step_in_epoch = 0
            if self._eval_due(self.state.epoch):
                self._evaluate()
            self._save("last.pt", full=True)
            for hook in self.hooks:
                hook.after_epoch(self)
        return self.state

    def _eval_due(self, epoch: int) -> bool:
        return self.evaluator is not None and self.is_eval_epoch(epoch)

    def is_eval_epoch(self, epoch: int) -> bool:
        """Whether the schedule evaluates after ``epoch`` (1-based; the last one always)."""
        if epoch == self.epochs:
            return True
        return (
            self.eval_interval > 0
            and epoch >= self.eval_start_epoch
            and epoch % self.eval_interval == 0
        )

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """The dataset indices of every batch of ``epoch``, a function of ``(seed, epoch)``."""
        loader = self.train_loader
        set_epoch(loader, epoch)  # distributed sampler and the dataset's per-epoch draws
        sampler = getattr(loader.batch_sampler, "sampler", None)
        if isinstance(sampler, RandomSampler):
            if loader.generator is None or sampler.generator is not loader.generator:
                raise ValueError(
                    "the training loader shuffles with an unseeded generator; build it with "
                    "tadapt.data.build_loader so that epochs (and resumed runs) are reproducible"
                )
            loader.generator.manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        assert loader.batch_sampler is not None
        return [list(b) for b in loader.batch_sampler]

    def _epoch_loader(self, batches: list[list[int]], epoch: int) -> DataLoader[Any]:
        """A loader over ``batches`` with the training loader's workers and collate."""
        loader = self.train_loader
        return DataLoader(
            loader.dataset,
            batch_sampler=batches,
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory,
            worker_init_fn=loader.worker_init_fn,
            prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None,
            # a dedicated generator: worker seeds must not draw from the global one
            generator=torch.Generator().manual_seed(self.seed + epoch),
        )

    def _train_epoch(self, epoch: int) -> None:
        batches = self._epoch_batches(epoch)
        num_steps = steps_per_epoch(len(batches), self.grad_accum_steps)
        if num_steps != self.state.steps_per_epoch:
            raise ValueError(
                f"this epoch has {num_steps} optimizer steps, the run had "
                f"{self.state.steps_per_epoch}: the data or the batch size changed since the "
                "checkpoint"
            )
        skipped = self.state.step_in_epoch * self.grad_accum_steps
        steps_to_run = num_steps - self.state.step_in_epoch
        self.model.train()
        bar = tqdm(
            self._epoch_loader(batches[skipped:], epoch),
            desc=f"epoch {epoch + 1}/{self.epochs}",
            total=len(batches) - skipped,
            unit="batch",
            disable=not (self.progress and is_main_process()),
        )
        window = _Window()
        overflowed = self.state.skipped_steps
        for micro, batch in enumerate(bar, start=skipped):
            group_start = micro - micro % self.grad_accum_steps
            group_size = min(self.grad_accum_steps, len(batches) - group_start)
            last_of_group = micro == group_start + group_size - 1
            if micro == group_start:
                self._step_samples, self._step_losses = [], []
            with self._out_of_memory_guard(epoch, batch):
                losses = self._forward_backward(batch, group_size, epoch, sync=last_of_group)
            window.add(losses, len(batch))
            if not last_of_group:
                continue
            with self._out_of_memory_guard(epoch, batch):
                grad_norm, step_skipped = self._optimizer_step(epoch)
            self._count_step(window, grad_norm, step_skipped)
            if self.state.step % self.log_interval == 0 or self.state.step_in_epoch == num_steps:
                self._log_record(bar, window, epoch, num_steps)
                window = _Window()
            interval = self.checkpoint_interval_steps
            if interval > 0 and self.state.step % interval == 0:
                self._save("last.pt", full=True)
            for hook in self.hooks:
                hook.after_step(self)
        if self.scaler.is_enabled():
            overflowed = self.state.skipped_steps - overflowed
            log = logger.warning if overflowed == steps_to_run else logger.info
            log(
                "epoch %d: the fp16 gradient scaler skipped %d of %d optimizer steps (gradient "
                "overflow); loss scale %g",
                epoch + 1,
                overflowed,
                steps_to_run,
                self.scaler.get_scale(),
            )

    def _count_step(self, window: _Window, grad_norm: float, skipped: bool) -> None:
        """Count a finished optimizer step; remember it if finite, log it if skipped."""
        window.grad_norms.append(grad_norm)
        self.state.step += 1
        self.state.step_in_epoch += 1
        if skipped:
            window.skipped += 1
            self.state.skipped_steps += 1
            logger.info(
                "step %d: the fp16 gradients overflowed; the gradient scaler skipped this "
                "update and lowered the loss scale to %g",
                self.state.step,
                self.scaler.get_scale(),
            )
        elif math.isfinite(grad_norm):
            loss = sum(self._step_losses) / len(self._step_losses)
            self._last_finite = _FiniteStep(self.state.step, loss, grad_norm)

    def _log_record(self, bar: tqdm[Any], window: _Window, epoch: int, num_steps: int) -> None:
        """Write the window's training record; show it on the bar, or log it without one."""
        record = self._train_record(window, epoch, num_steps)
        fields = _progress_fields(record)
        bar.set_postfix(fields)
        if bar.disable and is_main_process():
            shown = ", ".join(f"{k} {v}" for k, v in fields.items())
            logger.info("epoch %.2f, step %d: %s", record["epoch"], record["step"], shown)

    @contextmanager
    def _out_of_memory_guard(self, epoch: int, batch: VideoBatch) -> Iterator[None]:
        """Turn running out of memory into a :class:`DeviceMemoryError` naming the step."""
        try:
            yield
        except RuntimeError as exc:
            if not is_out_of_memory(exc):
                raise
            videos = ", ".join(batch.video_ids)
            where = f"training step {self.state.step + 1} of epoch {epoch + 1} (videos {videos})"
            raise DeviceMemoryError("training", where, cuda_memory_summary(self.device)) from exc

    def _forward_backward(
        self, batch: VideoBatch, group_size: int, epoch: int, *, sync: bool
    ) -> dict[str, torch.Tensor]:
        """One forward/backward pass; gradients sum over the group (DDP syncs on the last)."""
        batch = batch.to(self.device, non_blocking=True)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch, epoch, self.state.step)
        no_sync = isinstance(self.model, DistributedDataParallel) and not sync
        with self.model.no_sync() if no_sync else nullcontext():  # type: ignore[operator]
            with self.precision.autocast():
                losses = self.model(batch)
            loss = losses["final_loss"]
            value = float(loss.detach())
            if not math.isfinite(value):
                raise self._non_finite_loss(losses, batch, epoch, value)
            self._step_losses.append(value)
            self._step_samples += _sample_refs(batch)
            self.scaler.scale(loss / group_size).backward()
        return {k: v.detach() for k, v in losses.items()}

    def _non_finite_loss(
        self, losses: Mapping[str, torch.Tensor], batch: VideoBatch, epoch: int, value: float
    ) -> NonFiniteLossError:
        """The error of a non-finite loss: its terms, the batch and whether its inputs were."""
        terms = [k for k, v in losses.items() if v.numel() and not torch.isfinite(v).all()]
        terms.sort(key=lambda k: k == "final_loss")  # the parts first, their sum last
        finite = torch.isfinite(batch.inputs.flatten(1)).all(dim=1).tolist()
        samples = _sample_refs(batch, finite)
        return NonFiniteLossError(self._report("loss", value, epoch, tuple(terms), samples))

    def _report(
        self,
        quantity: str,
        value: float,
        epoch: int,
        terms: tuple[str, ...],
        samples: Sequence[SampleRef],
    ) -> NonFiniteReport:
        last = self._last_finite
        return NonFiniteReport(
            quantity,
            value,
            epoch=epoch + 1,
            step=self.state.step + 1,
            terms=terms,
            samples=tuple(samples),
            last_step=last.step if last else None,
            last_loss=last.loss if last else None,
            last_grad_norm=last.grad_norm if last else None,
        )

    def _optimizer_step(self, epoch: int) -> tuple[float, bool]:
        """Clip, step, schedule, update the EMA.

        Returns:
            The gradient norm before clipping, and whether the gradient scaler skipped the
            update (fp16 overflow).

        Raises:
            NonFiniteLossError: a non-finite gradient norm without a gradient scaler.
        """
        self.scaler.unscale_(self.optimizer)  # a no-op without scaling
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros(())
        grad_norm = float(norm)
        if not math.isfinite(grad_norm) and not self.scaler.is_enabled():
            # fp32/bf16: the update would write NaN into the weights
            raise NonFiniteLossError(
                self._report("gradient norm", grad_norm, epoch, (), self._step_samples)
            )
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grads_with_norm_(params, self.clip_grad_norm, norm)
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        # the scaler lowers its scale exactly when it skipped the step (inf/NaN gradients)
        skipped = self.scaler.is_enabled() and self.scaler.get_scale() < scale
        self.optimizer.zero_grad(set_to_none=True)
        with warnings.catch_warnings():
            if skipped:  # torch warns when the first optimizer step was skipped; it is counted
                warnings.filterwarnings("ignore", r"Detected call of `lr_scheduler\.step\(\)`")
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.raw_model)
        return grad_norm, skipped

    def _train_record(self, window: _Window, epoch: int, num_steps: int) -> dict[str, Any]:
        record: dict[str, Any] = {
            "kind": "train",
            "epoch": epoch + self.state.step_in_epoch / num_steps,
            "step": self.state.step,
            **window.means(),
            "lr": self.optimizer.param_groups[0]["lr"],
            **(
                {
                    "loss_scale": self.scaler.get_scale(),
                    "skipped_steps": window.skipped,
                    "skipped_steps_total": self.state.skipped_steps,
                }
                if self.scaler.is_enabled()
                else {}
            ),
            # every process trains on as many samples: the global rate
            "samples_per_s": get_world_size()
            * window.samples
            / max(time.perf_counter() - window.start, 1e-9),
        }
        if isinstance(self.batch_transform, DescribedTransform):
            # the setting of the step just taken (a window may span several under LoFi)
            record |= self.batch_transform.describe(epoch, self.state.step - 1)
        if self.metrics is not None:
            self.metrics.log(record)
        return record

    # ------------------------------------------------------------------ evaluation, checkpoints

    def _evaluate(self) -> None:
        assert self.evaluator is not None
        use_ema = self.ema is not None and self.eval_use_ema
        model = self.ema.module if use_ema and self.ema is not None else self.raw_model
        start = time.perf_counter()
        try:
            metrics = dict(self.evaluator(model))
        except DeviceMemoryError as err:
            raise err.within(f"the evaluation after epoch {self.state.epoch}") from err
        self.last_metrics = metrics
        epoch = self.state.epoch
        record = {"kind": "eval", "epoch": epoch, "step": self.state.step, "ema": use_ema}
        record |= {**metrics, "seconds": time.perf_counter() - start}
        if self.metrics is not None:
            self.metrics.log(record)
        value = metrics.get(self.best_metric)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if value is not None and (self.state.best_metric is None or value > self.state.best_metric):
            self.state.best_metric, self.state.best_epoch = float(value), epoch
            self._save("best.pt", full=False)

    def state_dict(self, *, full: bool = True) -> dict[str, Any]:
        """The checkpoint payload; ``full=False`` keeps only weights, state and config."""
        payload: dict[str, Any] = {
            "model": self.raw_model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "state": asdict(self.state),
            "config": self.config,
        }
        if full:
            payload |= {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": capture_rng_state(),
            }
        return payload

    def load_state_dict(self, payload: Mapping[str, Any]) -> None:
        """Resume from a full checkpoint payload (see :meth:`state_dict`).

        Raises:
            ValueError: the checkpoint lacks the optimizer state (a ``best.pt``), or its EMA
                presence differs from this trainer's.
        """
        missing = [k for k in ("optimizer", "scheduler", "scaler", "rng") if k not in payload]
        if missing:
            raise ValueError(
                f"cannot resume from a checkpoint without {missing} (best.pt holds weights only; "
                "resume from last.pt)"
            )
        if (payload.get("ema") is None) != (self.ema is None):
            raise ValueError("the checkpoint and this run disagree on using an EMA")
        self.raw_model.load_state_dict(payload["model"])
        if self.ema is not None:
            self.ema.load_state_dict(payload["ema"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        state = TrainState(**payload["state"])
        if state.steps_per_epoch != self.state.steps_per_epoch:
            raise ValueError(
                f"the checkpoint's run had {state.steps_per_epoch} optimizer steps per epoch, "
                f"this one has {self.state.steps_per_epoch}: resume with the same data and "
                "batch size"
            )
        self.state = state
        restore_rng_state(payload["rng"])
        logger.info("resumed at epoch %d, step %d", state.epoch, state.step)

    def _save(self, name: str, *, full: bool) -> None:
        if self.checkpoint_dir is None or not is_main_process():
            return
        save_checkpoint(self.checkpoint_dir / name, self.state_dict(full=full))


class _Window:
    """Running sums of the losses between two training records."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.samples = 0
        self.grad_norms: list[float] = []
        self.skipped = 0  # optimizer steps the gradient scaler skipped
        self.start = time.perf_counter()

    def add(self, losses: Mapping[str, torch.Tensor], batch_size: int) -> None:
        for key, value in losses.items():
            previous = self.sums.get(key)
            self.sums[key] = value.float() if previous is None else previous + value.float()
        self.count += 1
        self.samples += batch_size

    def means(self) -> dict[str, float]:
        out = {
            ("loss" if k == "final_loss" else k): float(v) / max(self.count, 1)
            for k, v in self.sums.items()
        }
        norms = [n for n in self.grad_norms if math.isfinite(n)]  # skipped fp16 steps: inf
        if norms:
            out["grad_norm"] = sum(norms) / len(norms)
        return out


def _sample_refs(batch: VideoBatch, finite: Sequence[bool] | None = None) -> list[SampleRef]:
    """The batch's samples as messages name them (``finite``: their inputs' finiteness)."""
    return [
        SampleRef(vid, float(batch.grid_offset_sec[b]), None if finite is None else finite[b])
        for b, vid in enumerate(batch.video_ids)
    ]


def _progress_fields(record: Mapping[str, Any]) -> dict[str, str]:
    """What the progress bar (or, without one, the log line) shows of a training record."""
    fields = {"loss": f"{record['loss']:.4f}"}
    if "grad_norm" in record:
        fields["grad_norm"] = f"{record['grad_norm']:.3g}"
    fields["lr"] = f"{record['lr']:.2e}"
    if "loss_scale" in record:
        fields["loss_scale"] = f"{record['loss_scale']:g}"
        fields["skipped"] = str(record["skipped_steps"])
    fields["samples_per_s"] = f"{record['samples_per_s']:.1f}"
    return fields
