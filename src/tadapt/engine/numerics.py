"""Numerical faults of a run, as errors that say where they happened and what to change.

* :class:`NonFiniteLossError`: a training loss (or, in fp32/bf16, the gradient norm) is NaN or
  inf. Its message names the epoch and optimizer step, the loss terms that are non-finite, the
  batch's videos (with the time their sample starts at), and either the videos whose inputs
  were already non-finite (a broken feature file: training cannot fix that) or, when the
  inputs are finite, the last finite loss and gradient norm with the settings that stop a
  divergence. Callers that know the configuration (``tadapt train``) replace the generic
  advice and name the input files (:meth:`NonFiniteLossError.with_context`).
* :class:`DeviceMemoryError`: the device ran out of memory in training or evaluation. It is
  an :class:`OSError` (the CLI reports those in one line): the step or videos, the CUDA memory
  figures, and hints added by the caller (:meth:`DeviceMemoryError.with_hints`).

Skipped fp16 steps are no fault: a :class:`torch.amp.GradScaler` skips the update whose
gradients overflowed and lowers its scale, and the trainer counts those steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch

__all__ = [
    "DEFAULT_DIVERGENCE_ADVICE",
    "DeviceMemoryError",
    "NonFiniteLossError",
    "NonFiniteReport",
    "SampleRef",
    "cuda_memory_summary",
    "is_out_of_memory",
]

DEFAULT_DIVERGENCE_ADVICE = (
    "lower the learning rate, clip the gradient norm (Trainer(clip_grad_norm=1.0)), or train "
    "in fp32 or bf16 rather than fp16"
)
"""What to change when a loss diverges on finite inputs, in Python-API terms."""

_SHOWN_SAMPLES = 8  # samples named in a message; a larger batch ends with "... N more"


@dataclass(frozen=True)
class SampleRef:
    """One sample of a batch, as a message names it.

    Attributes:
        video_id: the video's identifier.
        start_sec: time of the sample's first grid position on the video's timeline.
        finite_inputs: whether the sample's inputs (frames or features) are all finite;
            ``None``: not checked (samples of earlier micro-batches, whose loss was finite).
    """

    video_id: str
    start_sec: float
    finite_inputs: bool | None = None

    def __str__(self) -> str:
        return f"{self.video_id} (from {self.start_sec:.2f} s)"


@dataclass(frozen=True)
class NonFiniteReport:
    """Where and how training met a non-finite value.

    Attributes:
        quantity: ``"loss"`` or ``"gradient norm"``.
        value: the non-finite value (nan, inf or -inf).
        epoch: the epoch, from 1.
        step: the optimizer step, from 1, counted over the whole run.
        terms: the loss terms that are non-finite (``final_loss`` last).
        samples: the samples of the step (every micro-batch of an accumulated step).
        last_step: the last optimizer step whose loss was finite (``None``: none yet).
        last_loss: its loss.
        last_grad_norm: its gradient norm (before clipping).
    """

    quantity: str
    value: float
    epoch: int
    step: int
    terms: tuple[str, ...]
    samples: tuple[SampleRef, ...]
    last_step: int | None = None
    last_loss: float | None = None
    last_grad_norm: float | None = None

    @property
    def bad_inputs(self) -> tuple[str, ...]:
        """Videos whose inputs were non-finite before the model saw them (in batch order)."""
        return tuple(dict.fromkeys(s.video_id for s in self.samples if s.finite_inputs is False))


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/inf loss or gradient norm; the message says where and why.

    Args:
        report: where it happened.
        input_files: video id -> the file its inputs were read from, when known.
        advice: what to change when the inputs were finite (default: Python-API terms).
    """

    def __init__(
        self,
        report: NonFiniteReport,
        *,
        input_files: Mapping[str, str] | None = None,
        advice: str = DEFAULT_DIVERGENCE_ADVICE,
    ) -> None:
        self.report = report
        self.input_files = dict(input_files or {})
        self.advice = advice
        super().__init__(self._message())

    def with_context(
        self, *, input_files: Mapping[str, str] | None = None, advice: str | None = None
    ) -> NonFiniteLossError:
        """The same error with the input files named and/or other advice."""
        return NonFiniteLossError(
            self.report,
            input_files=input_files if input_files is not None else self.input_files,
            advice=advice if advice is not None else self.advice,
        )

    def _message(self) -> str:
        r = self.report
        if r.quantity == "loss":
            terms = f"non-finite: {', '.join(r.terms)}; " if r.terms else ""
        else:
            terms = "the loss is finite; "
        shown = ", ".join(str(s) for s in r.samples[:_SHOWN_SAMPLES])
        if len(r.samples) > _SHOWN_SAMPLES:
            shown += f", ... {len(r.samples) - _SHOWN_SAMPLES} more"
        at = f"epoch {r.epoch}, step {r.step}"
        head = f"the {r.quantity} is {r.value} at {at} ({terms}batch: {shown})"
        if r.bad_inputs:
            # a broken input file: no setting of the optimizer can help
            where = "; ".join(
                f"input file {self.input_files[v]} contains NaN/inf"
                if v in self.input_files
                else f"the inputs of video {v} contain NaN/inf"
                for v in r.bad_inputs
            )
            return (
                f"{head}: {where} before the model sees them. Re-extract or repair the file "
                "(files extracted with it may be broken too), or remove the video from the "
                "annotation file"
            )
        if r.last_step is None:
            before = "it is the first step since the run started or resumed"
        else:
            norm = "" if r.last_grad_norm is None else f", gradient norm {r.last_grad_norm:.4g}"
            before = f"the last finite step, {r.last_step}, had loss {r.last_loss:.4g}{norm}"
        inputs = (
            "The inputs are finite, so training diverged"
            if any(s.finite_inputs for s in r.samples)
            else "Training diverged"
        )
        return f"{head}. {inputs} ({before}): {self.advice}"


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch running out of device (CUDA) or host (CPU allocator) memory."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # the CPU allocator raises a plain RuntimeError ("... can't allocate memory ...")
    return isinstance(exc, RuntimeError) and "DefaultCPUAllocator" in str(exc)


def cuda_memory_summary(device: torch.device | str) -> str | None:
    """``"max allocated A GiB, reserved R GiB, total T GiB (name)"`` on CUDA, else ``None``."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    gib = 2**30
    props = torch.cuda.get_device_properties(device)
    return (
        f"CUDA memory: max allocated {torch.cuda.max_memory_allocated(device) / gib:.2f} GiB, "
        f"reserved {torch.cuda.memory_reserved(device) / gib:.2f} GiB, "
        f"total {props.total_memory / gib:.2f} GiB ({props.name})"
    )


@dataclass(frozen=True)
class _MemoryFault:
    phase: str
    where: str
    memory: str | None
    hints: tuple[str, ...] = ()


class DeviceMemoryError(OSError):
    """The device ran out of memory; one line saying where, then hints, one per line.

    An :class:`OSError` so that the command line reports it as ``tadapt CMD: error: ...``
    with exit code 2, without a traceback.

    Args:
        phase: ``"training"`` or ``"evaluation"``.
        where: the step or the videos, e.g. ``"training step 3 of epoch 1 (videos a, b)"``.
        memory: the device's memory figures (:func:`cuda_memory_summary`), if known.
        hints: settings that use less memory.
    """

    def __init__(
        self, phase: str, where: str, memory: str | None = None, hints: Sequence[str] = ()
    ) -> None:
        self.fault = _MemoryFault(phase, where, memory, tuple(hints))
        super().__init__(self._message())

    @property
    def phase(self) -> str:
        """``"training"`` or ``"evaluation"``."""
        return self.fault.phase

    @property
    def hints(self) -> tuple[str, ...]:
        """The settings the message suggests."""
        return self.fault.hints

    def with_hints(self, hints: Sequence[str]) -> DeviceMemoryError:
        """The same error suggesting ``hints``."""
        fault = replace(self.fault, hints=tuple(hints))
        return DeviceMemoryError(fault.phase, fault.where, fault.memory, fault.hints)

    def within(self, context: str) -> DeviceMemoryError:
        """The same error with ``context`` (e.g. ``"the evaluation after epoch 3"``) added."""
        f = self.fault
        return DeviceMemoryError(f.phase, f"{f.where}, in {context}", f.memory, f.hints)

    def _message(self) -> str:
        f = self.fault
        line = f"out of memory in {f.where}" + (f"; {f.memory}" if f.memory else "")
        if not f.hints:
            return f"{line}. Use smaller batches or shorter inputs"
        return f"{line}. To use less memory:\n" + "\n".join(f"  - {h}" for h in f.hints)
