"""The end-to-end parts of an experiment: the adapted backbone and LoFi's batch transform.

Read by :mod:`tadapt.cli.experiment` (frames mode): ``model.backbone``, ``model.strategy`` and
``model.adapter`` become a :class:`~tadapt.detection.BackboneFeatures` holding the adapted ViT
(and its side network), ``train.fidelity`` a LoFi :class:`~tadapt.engine.FidelityTransform`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from tadapt.adapters import apply_strategy, build_side_network, get_strategy
from tadapt.backbones import VisionTransformer, create_backbone
from tadapt.config import ConfigError, ExperimentConfig
from tadapt.config.schema import FidelityConfig
from tadapt.detection import BackboneFeatures, TemporalDetector
from tadapt.engine import FidelitySchedule, FidelityTransform

__all__ = [
    "backbone_of",
    "build_backbone_features",
    "build_fidelity_transform",
    "fidelity_schedule",
    "strategy_options",
]

logger = logging.getLogger(__name__)


def build_backbone_features(config: ExperimentConfig) -> BackboneFeatures:
    """The (adapted) backbone of a frames-mode config, as the detector's feature extractor.

    Raises:
        ConfigError: ``model.backbone.checkpoint`` does not exist.
    """
    model = config.model
    assert model.backbone is not None
    spec, adapter = model.backbone, model.adapter
    if spec.checkpoint is not None and not Path(spec.checkpoint).exists():
        raise ConfigError(
            f"model.backbone.checkpoint: {spec.checkpoint} does not exist; give the path of the "
            "pretrained weights (.pth / .safetensors file or Hugging Face folder)"
        )
    backbone = create_backbone(
        spec.name,
        checkpoint=spec.checkpoint,
        pretrained=spec.pretrained,  # without a checkpoint: the tag's shipped weights
        drop_path_rate=spec.drop_path_rate,
        grad_checkpointing=spec.grad_checkpointing,
        checkpoint_scheme=spec.checkpoint_scheme,
        checkpoint_skip_first=spec.checkpoint_skip_first,
        **spec.overrides,
    )
    strategy = get_strategy(model.strategy)
    options = strategy_options(config)
    blocks = list(adapter.blocks) if adapter.blocks is not None else None
    apply_strategy(backbone, model.strategy, blocks=blocks, ratio=adapter.ratio, **options)
    side = build_side_network(
        backbone, model.strategy, blocks=blocks, ratio=adapter.ratio, **options
    )
    return BackboneFeatures(
        backbone,
        no_grad=strategy.no_grad,
        side=side,
        temporal_scale=spec.temporal_scale,
        clips_per_pass=spec.clips_per_pass,
    )


def strategy_options(config: ExperimentConfig) -> dict[str, Any]:
    """The strategy-specific keyword arguments of ``model.strategy`` from ``model.adapter``."""
    adapter, name = config.model.adapter, config.model.strategy
    if name == "tia":
        return {"kernel_size": adapter.kernel_size}
    if name == "tia_side":  # the ladder's branches are checkpointed like the blocks
        assert config.model.backbone is not None
        return {
            "kernel_size": adapter.kernel_size,
            "checkpoint": config.model.backbone.grad_checkpointing,
        }
    if name == "losa":
        return dataclasses.asdict(adapter.losa)
    if name == "lora":
        lora = adapter.lora
        return {
            "rank": lora.rank,
            "alpha": lora.alpha,
            "dropout": lora.dropout,
            "targets": tuple(lora.targets),
        }
    return {}


def build_fidelity_transform(
    config: ExperimentConfig, model: TemporalDetector
) -> FidelityTransform | None:
    """LoFi's batch transform of ``train.fidelity`` (``None`` at full fidelity).

    A temporal reduction drops whole snippets of ``feature_extractor.temporal_stride`` frames
    (one detector step) unless ``train.fidelity.temporal_drop=frames``; every level is checked
    against the budget at ``data.image_size`` after rounding to whole patches.

    Raises:
        ConfigError: the schedule is invalid, misses the budget at this frame size, or a
            detector step is shorter than the backbone's tubelet under ``snippets``.
    """
    spec, extractor = config.train.fidelity, model.feature_extractor
    if spec is None:
        return None
    assert isinstance(extractor, BackboneFeatures)  # resolve() checked frames mode
    backbone = extractor.backbone
    snippet_frames = 1
    if spec.temporal_drop == "snippets":
        snippet_frames = extractor.temporal_stride
        if snippet_frames % backbone.tubelet_size:
            raise ConfigError(
                f"train.fidelity.temporal_drop: 'snippets' drops whole detector steps, but "
                f"model.backbone.temporal_scale={extractor.temporal_scale:g} makes a step "
                f"{snippet_frames} frame(s), less than the {backbone.tubelet_size}-frame "
                "tubelet; use temporal_scale <= 1 or train.fidelity.temporal_drop=frames"
            )
    try:
        schedule = fidelity_schedule(spec)
        size = config.data.image_size
        transform = FidelityTransform(
            schedule,
            patch_size=backbone.patch_size,
            chunk_frames=backbone.chunk_frames,
            snippet_frames=snippet_frames,
            frame_size=(size, size),
        )
    except ValueError as err:
        raise ConfigError(f"train.fidelity: {err}") from None
    logger.info(
        "LoFi %s schedule, levels %s, temporal reduction drops %s of %d frame(s)",
        schedule.mode,
        [str(v) for v in schedule.levels],
        spec.temporal_drop,
        snippet_frames,
    )
    return transform


def backbone_of(model: TemporalDetector) -> VisionTransformer | None:
    """The detector's backbone in frames mode, ``None`` on pre-extracted features."""
    extractor = model.feature_extractor
    return extractor.backbone if isinstance(extractor, BackboneFeatures) else None


def fidelity_schedule(spec: FidelityConfig) -> FidelitySchedule:
    """The LoFi schedule of a ``train.fidelity`` block.

    Raises:
        FidelityError: an invalid mode, budget or level (see
            :meth:`~tadapt.engine.FidelitySchedule.from_name`).
    """
    return FidelitySchedule.from_name(
        spec.mode,
        budget=spec.budget,
        every=spec.every,
        cycle_batches=spec.cycle_batches,
        levels=spec.levels,
        tolerance=spec.tolerance,
    )
