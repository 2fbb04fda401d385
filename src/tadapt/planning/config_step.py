"""The measured memory of one training step of a config: the real detector, random weights.

:func:`measure_step` builds the detector a resolved :class:`~tadapt.config.ExperimentConfig`
trains (never loading weights: ``model.backbone.pretrained`` off, no checkpoint), feeds it one
random batch of the config's training shape (:func:`training_shape`: the per-process batch,
the training window in frames, the frame size, optionally at a LoFi level), and measures the
forward and backward pass with :func:`~tadapt.profiling.measure_training_step` under the
config's autocast. ``depth`` replaces the backbone's depth (same width, same tokens), so that a
CPU can measure a ViT-L or ViT-g shape with a few blocks: the bytes of each block are exact,
and :mod:`tadapt.planning.memory_model` scales them to the full depth.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from tadapt.profiling.step_memory import StepMemory, measure_training_step

if TYPE_CHECKING:
    from tadapt.config import ExperimentConfig
    from tadapt.engine import FidelityLevel
    from tadapt.structures import VideoSample

__all__ = [
    "Attention",
    "RandomStep",
    "TrainingShape",
    "attention_kernel",
    "measure_step",
    "planning_config",
    "random_samples",
    "random_training_step",
    "snippet_frames",
    "training_shape",
    "videos_per_pass",
]

Attention = Literal["flash", "math"]
"""Which saved tensors attention has: the fused kernels' (flash) or the unfused path's."""

_DEFAULT_CLASSES = 1  # the class count only sizes the head's logits: K values per step


@dataclass(frozen=True)
class TrainingShape:
    """The frames one training forward pass of one process sees.

    Attributes:
        batch_size: videos per forward pass (``train.batch_size / grad_accum_steps``: the
            global batch on one process).
        frames: frames per video after LoFi's temporal reduction, padded to whole chunks.
        height: frame height after LoFi's spatial reduction.
        width: frame width, likewise.
        valid_frames: the frames before padding (the rest are masked out).
    """

    batch_size: int
    frames: int
    height: int
    width: int
    valid_frames: int


def planning_config(config: ExperimentConfig, depth: int | None = None) -> ExperimentConfig:
    """``config`` as :func:`measure_step` builds it: random weights, ``depth`` blocks.

    The fields a resolved config would fill from its data and that only size the head are
    given defaults when unset: ``model.num_classes`` (``data.synthetic_videos``' classes,
    else 1), ``model.max_seq_len`` (``data.max_seq_len``) and ``data.feature_dim``.

    Raises:
        ValueError: ``config`` has no ``model.backbone`` (features mode: no frames to
            measure), or ``depth`` is below 1.
    """
    model, data = config.model, config.data
    if model.backbone is None:
        raise ValueError(
            "model.backbone is not set: measuring a step needs an end-to-end (frames mode) "
            "config, e.g. the preset adatad_thumos14_videomae_s_768x1_160"
        )
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be >= 1 block, got {depth}")
    overrides = dict(model.backbone.overrides)
    if depth is not None:
        overrides["depth"] = depth
    backbone = dataclasses.replace(
        model.backbone, pretrained=False, checkpoint=None, overrides=overrides
    )
    classes = model.num_classes
    if classes is None:
        videos = data.synthetic_videos
        classes = videos.num_classes if videos is not None else _DEFAULT_CLASSES
    model = dataclasses.replace(
        model,
        backbone=backbone,
        num_classes=classes,
        max_seq_len=model.max_seq_len if model.max_seq_len is not None else data.max_seq_len,
    )
    # frames mode reads the width from the backbone; the field only has to be set
    data = dataclasses.replace(data, feature_dim=data.feature_dim or 1)
    return dataclasses.replace(config, model=model, data=data)


def videos_per_pass(config: ExperimentConfig) -> int:
    """Videos of one forward pass on one process: ``train.batch_size / grad_accum_steps``."""
    return max(1, config.train.batch_size // config.train.grad_accum_steps)


def training_shape(
    config: ExperimentConfig,
    *,
    patch_size: int,
    chunk_frames: int,
    snippet_frames: int,
    fidelity: FidelityLevel | None = None,
) -> TrainingShape:
    """The training batch of ``config`` at ``fidelity`` (as :func:`apply_fidelity` makes it).

    Args:
        config: the experiment.
        patch_size: the backbone's spatial patch.
        chunk_frames: the backbone's frames per chunk.
        snippet_frames: frames LoFi drops together (a detector step, or 1).
        fidelity: a LoFi level; ``None``: full fidelity.
    """
    from tadapt.engine.fidelity import reduced_frame_size

    data = config.data
    batch = videos_per_pass(config)
    frames, size = data.max_seq_len, data.image_size
    height = width = size
    if fidelity is not None and not fidelity.is_full:
        step = fidelity.frame_step
        if step > 1:
            frames = -(-frames // (snippet_frames * step)) * snippet_frames
        if float(fidelity.spatial) > 1:
            height, width = reduced_frame_size(size, size, fidelity, patch_size)
    padded = -(-frames // chunk_frames) * chunk_frames
    return TrainingShape(batch, padded, height, width, frames)


@dataclass
class RandomStep:
    """A config's detector (random weights) and one random training batch for it.

    Attributes:
        model: the detector, in training mode, on the batch's device.
        batch: the collated batch (at the LoFi level, if one was given).
        autocast: the trainer's autocast context for ``train.precision`` on that device.
        lr: ``optim.lr``, for :meth:`run`'s AdamW.
        weight_decay: ``optim.weight_decay``, likewise.
    """

    model: torch.nn.Module
    batch: object
    autocast: Callable[[], AbstractContextManager[object]]
    lr: float
    weight_decay: float
    _optimizer: torch.optim.Optimizer | None = None

    def run(self) -> None:
        """One training step: forward, backward, AdamW update, gradients cleared."""
        from tadapt.engine import build_optimizer

        if self._optimizer is None:
            self._optimizer = build_optimizer(
                self.model, lr=self.lr, weight_decay=self.weight_decay
            )
        with self.autocast():
            loss = self.model(self.batch)["final_loss"]
        loss.backward()
        self._optimizer.step()
        self._optimizer.zero_grad(set_to_none=True)


def random_training_step(
    config: ExperimentConfig,
    *,
    depth: int | None = None,
    fidelity: FidelityLevel | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> RandomStep:
    """The detector ``tadapt train`` builds for ``config``, with random weights, and a batch.

    Args:
        config: an end-to-end experiment (loaded; resolving it first is not needed).
        depth: backbone blocks to build instead of the config's (same width and tokens).
        fidelity: reduce the batch to this LoFi level (``None``: full fidelity).
        device: where the model and batch live.
        seed: seeds the random weights and batch.

    Raises:
        ValueError: no backbone, a bad depth, or blocks out of range at ``depth``.
    """
    from tadapt.cli.experiment import build_model
    from tadapt.detection import BackboneFeatures
    from tadapt.engine import apply_fidelity, resolve_precision
    from tadapt.structures import collate_samples

    device = torch.device(device)
    torch.manual_seed(seed)
    config = planning_config(config, depth)
    model = build_model(config).to(device).train()
    extractor = model.feature_extractor
    assert isinstance(extractor, BackboneFeatures)  # frames mode
    backbone = extractor.backbone
    frames = config.data.max_seq_len
    size = config.data.image_size
    samples = random_samples(videos_per_pass(config), (3, frames, size, size))
    batch = collate_samples(samples, pad_multiple=backbone.chunk_frames).to(device)
    if fidelity is not None:
        batch = apply_fidelity(
            batch,
            fidelity,
            patch_size=backbone.patch_size,
            chunk_frames=backbone.chunk_frames,
            snippet_frames=snippet_frames(config, extractor.temporal_stride),
        )
    precision = resolve_precision(config.train.precision, device)
    optim = config.optim
    return RandomStep(model, batch, precision.autocast, optim.lr, optim.weight_decay)


def random_samples(count: int, shape: tuple[int, ...]) -> list[VideoSample]:
    """``count`` samples of random inputs ``shape`` (``(C, T, ...)``), one action in each.

    The action covers the second quarter of the ``T`` steps, so every loss term has a target.
    """
    from tadapt.structures import Segments, VideoSample

    steps = shape[1]
    return [
        VideoSample(
            f"random_{index}",
            torch.randn(*shape),
            torch.ones(steps, dtype=torch.bool),
            Segments([[steps * 0.25, steps * 0.5]], unit="idx"),
            torch.tensor([0]),
            grid_stride_sec=1.0,
        )
        for index in range(count)
    ]


def measure_step(
    config: ExperimentConfig,
    *,
    depth: int | None = None,
    fidelity: FidelityLevel | None = None,
    attention: Attention | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> StepMemory:
    """One training step of ``config``'s detector on a random batch, measured by part.

    Args:
        config: an end-to-end experiment (a preset loaded with :func:`tadapt.config.load_config`
            and its overrides; resolving it first is not needed).
        depth: backbone blocks to build instead of the config's (the per-block bytes stay
            exact; side strategies' default taps follow the depth, explicit
            ``model.adapter.blocks`` must exist at it).
        fidelity: train at this LoFi level (``None``: full fidelity).
        attention: ``"math"`` forces the unfused softmax path; ``"flash"`` or ``None``: the
            device's fused kernels (see :func:`attention_kernel`).
        device: where to run; on CUDA the result also has the allocator's peak.
        seed: seeds the random weights and batch.

    Raises:
        ValueError: no backbone, a bad depth, blocks out of range at ``depth``, or an
            unknown attention kernel.
    """
    step = random_training_step(config, depth=depth, fidelity=fidelity, device=device, seed=seed)
    with attention_kernel(attention):
        return measure_training_step(step.model, step.batch, autocast=step.autocast)


def attention_kernel(attention: Attention | None) -> AbstractContextManager[object]:
    """The context that makes ``scaled_dot_product_attention`` run ``attention``'s kernels.

    ``"math"`` restricts it to the unfused path; ``"flash"`` and ``None`` leave the device
    its choice: its fused kernels wherever they apply (flash on the CPU; flash,
    memory-efficient or cuDNN on CUDA, which keep the same tensors), the math path for the
    calls none supports (the head's strided, masked attention).

    Raises:
        ValueError: an unknown kernel name.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if attention not in (None, "flash", "math"):
        raise ValueError(f"attention must be 'flash' or 'math', got {attention!r}")
    return sdpa_kernel(SDPBackend.MATH) if attention == "math" else contextlib.nullcontext()


def snippet_frames(config: ExperimentConfig, temporal_stride: int) -> int:
    """Frames a LoFi temporal reduction drops together: a detector step, or single frames."""
    spec = config.train.fidelity
    return 1 if spec is not None and spec.temporal_drop == "frames" else temporal_stride
