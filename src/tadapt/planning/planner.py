"""Will it fit? The predicted training peak of a config on one device, against a GPU budget.

:func:`plan_memory` loads a config (preset or YAML, with overrides), predicts the bytes of one
training step on one device with :func:`~tadapt.planning.predict_step_memory` (end to end) or
a measurement of the detector on random features (features mode, where the head is all that
trains), takes the largest over LoFi's levels when the config trains at low fidelity, and, given
a :class:`~tadapt.profiling.gpus.GpuBudget` the config misses, searches the nearest settings
that fit (:mod:`tadapt.planning.fit_search`). ``tadapt memory`` prints it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tadapt.config import ConfigError, load_config
from tadapt.planning.fit_search import Fit, candidate_changes, find_fits

if TYPE_CHECKING:
    from tadapt.config import ExperimentConfig
    from tadapt.planning.memory_model import Attention
    from tadapt.profiling.gpus import GpuBudget

__all__ = ["LevelPeak", "MemoryPlan", "plan_memory", "predict_parts"]

_PLAN_RUN_DIR = "tadapt-memory-plan"  # resolving names synthetic data's folder after a run's
_I3D_CHANNELS = 2048  # data.feature_dim when neither the config nor a manifest gives it


@dataclass(frozen=True)
class LevelPeak:
    """The predicted parts of one training step at one fidelity level.

    Attributes:
        level: ``full``, or a LoFi level such as ``4x1`` (``r_t x r_s``).
        parts: bytes by part: ``weights``, ``gradients``, ``optimizer states``,
            ``backbone activations``, ``head activations``, ``recomputed block (backward)``
            (checkpointing), ``EMA copy``, ``input batch``.
        batch: ``(videos, frames, height, width)`` per forward pass (features mode:
            ``(videos, steps, channels, 0)``).
    """

    level: str
    parts: dict[str, int]
    batch: tuple[int, int, int, int]

    @property
    def total(self) -> int:
        """The sum of the parts."""
        return sum(self.parts.values())


@dataclass(frozen=True)
class MemoryPlan:
    """What :func:`plan_memory` found.

    Attributes:
        config: the loaded config, with ``train.batch_size`` the per-device share.
        gpus: devices the global batch is split over.
        levels: one :class:`LevelPeak` per fidelity level the run trains at.
        budget: the device budget, if one was given.
        suggestions: with a budget the config misses, the nearest settings that fit.
    """

    config: ExperimentConfig
    gpus: int
    levels: tuple[LevelPeak, ...]
    budget: GpuBudget | None
    suggestions: tuple[Fit, ...]

    @property
    def peak(self) -> LevelPeak:
        """The level with the largest predicted step."""
        return max(self.levels, key=lambda level: level.total)

    @property
    def fits(self) -> bool | None:
        """Whether the peak is within the budget's usable bytes (``None``: no budget)."""
        return None if self.budget is None else self.peak.total <= self.budget.usable_bytes


def _device_config(source: str, overrides: Sequence[str], gpus: int) -> ExperimentConfig:
    """The config, checked as ``tadapt train`` checks it, with one device's batch share.

    ``train.batch_size`` becomes its share on one of ``gpus`` devices.

    Raises:
        ConfigError: a value out of range or inconsistent (the message names the key), or a
            batch that does not split over the devices.
    """
    config = load_config(source, overrides)
    _check_values(config)
    train = config.train
    if gpus < 1:
        raise ValueError(f"--gpus: {gpus} is not a number of devices (>= 1)")
    if train.batch_size % (gpus * train.grad_accum_steps):
        raise ConfigError(
            f"train.batch_size: {train.batch_size} windows do not split over {gpus} device(s) "
            f"x {train.grad_accum_steps} accumulation step(s); choose --gpus or "
            "train.grad_accum_steps that divide it"
        )
    share = dataclasses.replace(train, batch_size=train.batch_size // gpus)
    return dataclasses.replace(config, train=share)


def _check_values(config: ExperimentConfig) -> None:
    """Training's checks of the values (ranges, frames mode), the backbone weights aside.

    A plan builds random weights, so ``model.backbone.checkpoint`` need not be set; nothing is
    read or written (the run folder only names where synthetic data would go).
    """
    from tadapt.config.resolving import resolve

    backbone = config.model.backbone
    if backbone is not None:
        unweighted = dataclasses.replace(backbone, pretrained=False, checkpoint=None)
        model = dataclasses.replace(config.model, backbone=unweighted)
        config = dataclasses.replace(config, model=model)
    resolve(config, run_dir=_PLAN_RUN_DIR)


def _fidelity_levels(config: ExperimentConfig) -> list[object | None]:
    """LoFi's levels of ``config`` (``[None]``: full fidelity)."""
    from tadapt.cli.adaptation import fidelity_schedule

    spec = config.train.fidelity
    if spec is None:
        return [None]
    try:
        schedule = fidelity_schedule(spec)
    except ValueError as err:
        raise ConfigError(f"train.fidelity: {err}") from None
    return list(schedule.levels)


def predict_parts(
    config: ExperimentConfig, *, attention: Attention = "flash", device: str = "cuda"
) -> tuple[LevelPeak, ...]:
    """The predicted parts of one step of ``config`` (per-device batch), per fidelity level.

    Args:
        config: a loaded config whose ``train.batch_size`` is one device's share.
        attention: the attention kernel's saved tensors (``flash``: CUDA's fused kernels and
            CPU's flash kernel; ``math``: the unfused path, with the ``N x N`` matrix).
        device: the device type that decides ``amp`` (fp16 on CUDA, bf16 on CPU: 2 bytes
            either way).
    """
    if config.model.backbone is None:
        return (_features_step(config),)
    from tadapt.planning.memory_model import predict_step_memory

    peaks = []
    for level in _fidelity_levels(config):
        estimate = predict_step_memory(
            config,
            fidelity=level,  # type: ignore[arg-type]
            attention=attention,
            device=device,
        )
        shape = estimate.shape
        parts = {
            "weights": estimate.weights,
            "gradients": estimate.gradients,
            "optimizer states": estimate.optimizer_states,
            "backbone activations": estimate.backbone_activations,
            "head activations": estimate.head_activations,
            "recomputed block (backward)": estimate.recomputed_block,
            "EMA copy": estimate.ema,
            "input batch": estimate.input_batch,
        }
        batch = (shape.batch_size, shape.frames, shape.height, shape.width)
        peaks.append(LevelPeak("full" if level is None else str(level), parts, batch))
    return tuple(peaks)


def _features_step(config: ExperimentConfig) -> LevelPeak:
    """Features mode: the detector measured on one random batch of its training shape."""
    import torch

    from tadapt.cli.experiment import build_model
    from tadapt.engine import resolve_precision
    from tadapt.planning.config_step import random_samples
    from tadapt.profiling.step_memory import measure_training_step
    from tadapt.structures import collate_samples

    data, model = config.data, config.model
    # what resolving fills from the data: the class count only sizes the logits (K values
    # per step); the feature width is the manifest's, ActionFormer's I3D one without it
    channels, steps = data.feature_dim or _I3D_CHANNELS, data.max_seq_len
    planned = dataclasses.replace(
        config,
        data=dataclasses.replace(data, feature_dim=channels),
        model=dataclasses.replace(
            model, num_classes=model.num_classes or 1, max_seq_len=model.max_seq_len or steps
        ),
    )
    policy = resolve_precision(config.train.precision, torch.device("cpu"))
    videos = config.train.batch_size // config.train.grad_accum_steps
    torch.manual_seed(0)
    detector = build_model(planned).train()
    samples = random_samples(videos, (channels, steps))
    memory = measure_training_step(detector, collate_samples(samples), autocast=policy.autocast)
    parts = {
        "weights": memory.weights,
        "gradients": memory.gradients,
        "optimizer states": memory.optimizer_states,
        "backbone activations": 0,
        "head activations": memory.activations,
        "recomputed block (backward)": 0,
        "EMA copy": _ema_bytes(detector) if config.train.ema_decay is not None else 0,
        "input batch": videos * channels * steps * 4,
    }
    return LevelPeak("full", parts, (videos, steps, channels, 0))


def plan_memory(
    source: str,
    overrides: Sequence[str] = (),
    *,
    budget: GpuBudget | None = None,
    gpus: int = 1,
    attention: Attention = "flash",
    device: str = "cuda",
    suggestions: int = 5,
) -> MemoryPlan:
    """Predict a config's training peak on one device and, over a budget, what would fit.

    Args:
        source: a preset name or a YAML config file.
        overrides: ``KEY=VALUE`` overrides.
        budget: the device's budget (``None``: predict only).
        gpus: devices the global ``train.batch_size`` is split over (DDP).
        attention: see :func:`predict_parts`.
        device: see :func:`predict_parts`.
        suggestions: at most this many settings that fit.

    Raises:
        ConfigError: the config or an override is invalid, or the batch does not split.
    """
    config = _device_config(source, overrides, gpus)
    levels = predict_parts(config, attention=attention, device=device)
    plan = MemoryPlan(config, gpus, levels, budget, ())
    if budget is None or plan.fits:
        return plan

    def predict(extra: Sequence[str]) -> int | None:
        try:
            changed = _device_config(source, [*overrides, *extra], gpus)
            peaks = predict_parts(changed, attention=attention, device=device)
        except ValueError:  # ConfigError, FidelityError: the change does not apply here
            return None
        return max(peak.total for peak in peaks)

    per_device = config.train.batch_size // config.train.grad_accum_steps
    fits = find_fits(
        candidate_changes(config, per_device), predict, budget.usable_bytes, limit=suggestions
    )
    return dataclasses.replace(plan, suggestions=tuple(fits))


def _ema_bytes(detector: object) -> int:
    """The model EMA's copy of a head-only detector: every parameter and buffer."""
    from torch import nn

    assert isinstance(detector, nn.Module)
    tensors = [*detector.parameters(), *detector.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)
