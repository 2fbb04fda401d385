"""``resolve()``: fill the config fields that follow from others, then check every value.

Each failed check raises a :class:`~tadapt.config.ConfigError` naming its key, the rule and
the value given, before any data is read or any model built.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from pathlib import Path
from typing import Any

from tadapt.adapters import list_strategies
from tadapt.backbones import bundled_weights
from tadapt.config.loading import ConfigError
from tadapt.config.paths import absolute_path, absolute_paths
from tadapt.config.schema import (
    BackboneConfig,
    DataConfig,
    ExperimentConfig,
    SyntheticVideoDataConfig,
)
from tadapt.data.rand_augment import RAND_AUGMENT_OPS
from tadapt.data.synthetic_plan import motion_class_names
from tadapt.data.synthetic_render import MIRRORED_CLASSES
from tadapt.evaluation import TIOU_PRESETS, tiou_thresholds_for
from tadapt.io.feature_manifest import MANIFEST_FILE, FeatureManifest

__all__ = ["resolve"]

logger = logging.getLogger(__name__)

# without a manifest: ActionFormer's configs/thumos_i3d.yaml (two-stream I3D, 16-frame clips
# every 4 frames)
_ACTIONFORMER_I3D = (2048, 4, 16)  # feature_dim, feat_stride, num_frames

# a synthetic block -> (its default folder below the run folder, the data keys it fills)
_SYNTHETIC_BLOCKS = {
    "synthetic": (
        "synthetic_features",
        {"annotation_file": "annotations.json", "feature_dir": "features"},
    ),
    "synthetic_videos": (
        "synthetic_videos",
        {"annotation_file": "annotations.json", "video_dir": "videos"},
    ),
}
_DATA_KEYS = ("annotation_file", "feature_dir", "video_dir")


def resolve(
    config: ExperimentConfig,
    *,
    num_classes: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    feature_manifest: FeatureManifest | None = None,
) -> ExperimentConfig:
    """Fill the derived fields and check values; returns a new config.

    * ``data.synthetic`` / ``data.synthetic_videos``: dropped (with an info log) when the
      config names its own data: ``data.annotation_file``, ``data.feature_dir`` or
      ``data.video_dir`` set to anything but the block's own files, so pointing a synthetic
      preset at real data generates nothing;
    * ``data.feature_dim``, ``data.feat_stride``, ``data.num_frames``: the values of
      ``feature_manifest`` (``data.feature_dir``'s ``tadapt_features.json``), else
      ActionFormer's THUMOS-14 I3D ones (2048, 4, 16); a value set in the config must agree
      with the manifest's (see :func:`_feature_layout`);
    * ``model.num_classes``: 1 when class-agnostic, else ``num_classes`` (the annotation
      file's class count, which must agree with a value set in the config);
    * ``model.max_seq_len``: ``data.max_seq_len``;
    * ``eval.tiou_thresholds``: the thresholds of ``data.dataset``;
    * ``data.synthetic.cache_dir``: ``<run_dir>/synthetic_features``; then
      ``data.feature_dir`` / ``data.annotation_file`` point into it;
    * ``data.synthetic_videos.cache_dir``: ``<run_dir>/synthetic_videos``; then
      ``data.video_dir`` / ``data.annotation_file`` point into it;
    * ``data.synthetic_videos.num_classes``: ``len(classes)`` when the classes are named;
    * every file and folder key (:data:`tadapt.config.paths.PATH_KEYS`): absolute, a
      relative path read from the current folder.

    Args:
        config: a loaded config.
        num_classes: the number of classes of the annotation file, when known.
        run_dir: the run's output folder (for the synthetic data's default folder).
        feature_manifest: the manifest of ``data.feature_dir``, when it has one.

    Raises:
        ConfigError: a value out of range or inconsistent with another (or with the
            features' manifest); the message names the key.
    """
    config = dataclasses.replace(config, data=_drop_unused_synthetic(config.data, run_dir))
    config = _feature_layout(config, feature_manifest)
    _check_ranges(config)
    data, model, evaluation = config.data, config.model, config.eval
    if data.synthetic is not None:
        cache = _cache_dir(data.synthetic.cache_dir, "synthetic", run_dir)
        data = dataclasses.replace(
            data,
            synthetic=dataclasses.replace(data.synthetic, cache_dir=cache),
            **_synthetic_files(data, "synthetic", cache),
        )
    if data.synthetic_videos is not None:
        videos = _named_video_classes(data.synthetic_videos)
        cache = _cache_dir(videos.cache_dir, "synthetic_videos", run_dir)
        data = dataclasses.replace(
            data,
            synthetic_videos=dataclasses.replace(videos, cache_dir=cache),
            **_synthetic_files(data, "synthetic_videos", cache),
        )
        _check_flip_keeps_labels(data.flip_prob, videos)
    classes = model.num_classes
    if data.class_agnostic:
        if classes not in (None, 1):
            raise ConfigError(f"model.num_classes: class-agnostic data needs 1, got {classes}")
        classes = 1
    elif num_classes is not None:
        if classes is not None and classes != num_classes:
            raise ConfigError(
                f"model.num_classes: the config says {classes} but the annotation file has "
                f"{num_classes} classes; remove the value or fix the file"
            )
        classes = num_classes
    model = dataclasses.replace(
        model,
        num_classes=classes,
        max_seq_len=model.max_seq_len if model.max_seq_len is not None else data.max_seq_len,
    )
    thresholds = evaluation.tiou_thresholds
    if thresholds is None:
        try:
            thresholds = tiou_thresholds_for(data.dataset)
        except ValueError:
            known = ", ".join(sorted(TIOU_PRESETS))
            raise ConfigError(
                f"data.dataset: no tIoU thresholds for {data.dataset!r} (known: {known}); "
                "set eval.tiou_thresholds"
            ) from None
    evaluation = dataclasses.replace(evaluation, tiou_thresholds=tuple(thresholds))
    return absolute_paths(dataclasses.replace(config, data=data, model=model, eval=evaluation))


def _drop_unused_synthetic(data: DataConfig, run_dir: str | os.PathLike[str] | None) -> DataConfig:
    """Drop each synthetic block whose files the config does not use (the user's own data).

    A block is used when every data key that is set names the file the block writes there
    (a run's saved ``config.yaml`` names them all); a key set to anything else, or set
    while the block's folder is not known yet, means the config names its own data.
    """
    for block_key, (default, files) in _SYNTHETIC_BLOCKS.items():
        block = getattr(data, block_key)
        if block is None:
            continue
        folder = block.cache_dir or (Path(run_dir) / default if run_dir is not None else None)
        own = [
            f"data.{key}={value}"
            for key in _DATA_KEYS
            if (value := getattr(data, key)) is not None
            and (
                folder is None
                or key not in files
                or absolute_path(value) != absolute_path(str(Path(folder) / files[key]))
            )
        ]
        if own:
            logger.info(
                "data.%s ignored, nothing generated: the config names its own data (%s)",
                block_key,
                ", ".join(own),
            )
            dropped: dict[str, Any] = {block_key: None}
            data = dataclasses.replace(data, **dropped)
    return data


def _feature_layout(config: ExperimentConfig, manifest: FeatureManifest | None) -> ExperimentConfig:
    """Fill ``data.feature_dim``, ``feat_stride``, ``num_frames``; check them with ``manifest``.

    A width other than the files' fails at the first batch, and another ``feat_stride`` scales
    every predicted time: both are refused. ``num_frames`` only moves every feature by a
    constant half-difference, and configs choose it on purpose (0 puts a feature on its first
    frame), so another value is a warning. With ``data.resize`` the strides are unused.
    """
    data = config.data
    if manifest is None:
        dim, stride, frames = _ACTIONFORMER_I3D
    else:
        dim, stride, frames = manifest.feature_dim, manifest.feat_stride, manifest.num_frames
        _check_against_manifest(data, manifest)
    filled = dataclasses.replace(
        data,
        feature_dim=data.feature_dim if data.feature_dim is not None else dim,
        feat_stride=data.feat_stride if data.feat_stride is not None else stride,
        num_frames=data.num_frames if data.num_frames is not None else frames,
    )
    return dataclasses.replace(config, data=filled)


def _check_against_manifest(data: DataConfig, manifest: FeatureManifest) -> None:
    """The values the config sets against those the features were made with."""
    where = Path(data.feature_dir or ".") / MANIFEST_FILE
    if data.feature_dim is not None and data.feature_dim != manifest.feature_dim:
        raise ConfigError(
            f"data.feature_dim: the config says {data.feature_dim}, but {where} says the "
            f"features are {manifest.feature_dim}-d ({manifest.backbone}); set "
            f"data.feature_dim={manifest.feature_dim}, or null to take the manifest's"
        )
    if data.resize:  # every video is resized to max_seq_len steps: the strides are unused
        return
    if data.feat_stride is not None and data.feat_stride != manifest.feat_stride:
        raise ConfigError(
            f"data.feat_stride: the config says {data.feat_stride} video frames between "
            f"features, but {where} says {manifest.feat_stride}, so every predicted time "
            f"would be {data.feat_stride / manifest.feat_stride:g} times the true one; set "
            f"data.feat_stride={manifest.feat_stride}, or null to take the manifest's"
        )
    if data.num_frames is not None and data.num_frames != manifest.num_frames:
        shift = (data.num_frames - manifest.num_frames) / 2
        logger.warning(
            "data.num_frames: the config says %d, but %s says %d: every feature is placed %g "
            "video frames %s than it was computed; set data.num_frames=%d (or null) unless "
            "this is on purpose",
            data.num_frames,
            where,
            manifest.num_frames,
            abs(shift),
            "later" if shift > 0 else "earlier",
            manifest.num_frames,
        )


def _named_video_classes(videos: SyntheticVideoDataConfig) -> SyntheticVideoDataConfig:
    """``num_classes`` follows from ``classes`` when set (the names are checked on writing)."""
    if videos.classes is None:
        return videos
    count, default = len(videos.classes), SyntheticVideoDataConfig.num_classes
    if videos.num_classes not in (default, count):
        raise ConfigError(
            f"data.synthetic_videos.num_classes: {videos.num_classes}, but "
            f"data.synthetic_videos.classes names {count} classes; leave num_classes at "
            f"{default} (it follows from classes) or set it to {count}"
        )
    return dataclasses.replace(videos, num_classes=count)


def _check_flip_keeps_labels(flip_prob: float, videos: SyntheticVideoDataConfig) -> None:
    """Refuse horizontal flips when they would relabel a direction (move_right -> move_left)."""
    names = motion_class_names(videos.num_classes, videos.classes)
    mirrored = [name for name in names if name in MIRRORED_CLASSES]
    if flip_prob > 0 and mirrored:
        pairs = ", ".join(f"{name} into {MIRRORED_CLASSES[name]}" for name in mirrored)
        raise ConfigError(
            f"data.flip_prob={flip_prob:g}: a horizontal flip turns {pairs}, so flipped "
            "training windows would carry the wrong label; set data.flip_prob=0 for these "
            "synthetic classes"
        )


def _cache_dir(
    cache_dir: str | None, block_key: str, run_dir: str | os.PathLike[str] | None
) -> str:
    """A synthetic data set's folder: ``cache_dir``, else ``<run_dir>/<its default>``."""
    if cache_dir is not None:
        return cache_dir
    if run_dir is None:
        raise ConfigError(f"data.{block_key}.cache_dir: set it, or pass the run folder")
    return str(Path(run_dir) / _SYNTHETIC_BLOCKS[block_key][0])


def _synthetic_files(data: DataConfig, block_key: str, cache: str) -> dict[str, Any]:
    """The data keys a synthetic block fills: those unset point into its folder ``cache``."""
    files = _SYNTHETIC_BLOCKS[block_key][1]
    return {key: getattr(data, key) or str(Path(cache) / name) for key, name in files.items()}


def _check_ranges(config: ExperimentConfig) -> None:
    """Range and consistency checks; each failure names its key."""
    data, model, optim, train, ev = (
        config.data,
        config.model,
        config.optim,
        config.train,
        config.eval,
    )
    num_levels = model.arch[2] + 1
    assert data.feature_dim is not None  # filled in by _feature_layout, as the strides
    assert data.feat_stride is not None
    assert data.num_frames is not None
    checks: list[tuple[bool, str, str]] = [
        (data.feature_dim >= 1, "data.feature_dim", "must be >= 1"),
        (data.feat_stride >= 1, "data.feat_stride", "must be >= 1"),
        (data.num_frames >= 0, "data.num_frames", "must be >= 0"),
        (data.fps is None or data.fps > 0, "data.fps", "must be > 0 or null"),
        (data.max_seq_len >= 1, "data.max_seq_len", "must be >= 1"),
        (0.0 <= data.trunc_thresh <= 1.0, "data.trunc_thresh", "must be in [0, 1]"),
        (
            data.crop_ratio is None or 0.0 < data.crop_ratio[0] <= data.crop_ratio[1] <= 1.0,
            "data.crop_ratio",
            "must be [low, high] with 0 < low <= high <= 1, or null",
        ),
        (data.eval_window is None or data.eval_window >= 1, "data.eval_window", "must be >= 1"),
        (0.0 <= data.eval_overlap < 1.0, "data.eval_overlap", "must be in [0, 1)"),
        (data.num_workers >= 0, "data.num_workers", "must be >= 0"),
        (data.file_ext in (".npy", ".pt"), "data.file_ext", "must be '.npy' or '.pt'"),
        (
            model.num_classes is None or model.num_classes >= 1,
            "model.num_classes",
            "must be >= 1",
        ),
        (min(model.arch) >= 0 and model.arch[1] + model.arch[0] >= 1, "model.arch", "invalid"),
        (
            len(model.regression_ranges) == num_levels,
            "model.regression_ranges",
            f"needs one [low, high] per pyramid level ({num_levels} for arch {model.arch})",
        ),
        (
            isinstance(model.window_size, int) or len(model.window_size) == num_levels,
            "model.window_size",
            f"needs one value or {num_levels} (one per level)",
        ),
        (model.embed_dim % model.num_heads == 0, "model.embed_dim", "must divide by num_heads"),
        (math.isfinite(model.head.offset_bias), "model.head.offset_bias", "must be finite"),
        (optim.lr >= 0, "optim.lr", "must be >= 0"),
        (optim.weight_decay >= 0, "optim.weight_decay", "must be >= 0"),
        (all(v >= 0 for v in optim.module_lrs.values()), "optim.module_lrs", "must be >= 0"),
        (0 <= optim.warmup_epochs <= train.epochs, "optim.warmup_epochs", "0..train.epochs"),
        (0.0 <= optim.min_lr_ratio <= 1.0, "optim.min_lr_ratio", "must be in [0, 1]"),
        (
            optim.clip_grad_norm is None or optim.clip_grad_norm > 0,
            "optim.clip_grad_norm",
            "must be > 0 or null",
        ),
        (train.epochs >= 1, "train.epochs", "must be >= 1"),
        (train.batch_size >= 1, "train.batch_size", "must be >= 1"),
        (train.grad_accum_steps >= 1, "train.grad_accum_steps", "must be >= 1"),
        (
            train.ema_decay is None or 0.0 < train.ema_decay < 1.0,
            "train.ema_decay",
            "must be in (0, 1) or null",
        ),
        (train.eval_interval >= 0, "train.eval_interval", "must be >= 0"),
        (train.checkpoint_interval_steps >= 0, "train.checkpoint_interval_steps", ">= 0"),
        (train.log_interval >= 1, "train.log_interval", "must be >= 1"),
        (ev.batch_size >= 1, "eval.batch_size", "must be >= 1"),
        (ev.classifier_top_k >= 1, "eval.classifier_top_k", "must be >= 1"),
        (
            ev.tiou_thresholds is None or all(0 < t <= 1 for t in ev.tiou_thresholds),
            "eval.tiou_thresholds",
            "must lie in (0, 1]",
        ),
    ]
    for ok, key, message in checks:
        if not ok:
            raise ConfigError(f"{key}: {message}, got {_lookup(config, key)!r}")
    for low, high in model.regression_ranges:
        if not 0 <= low < high or math.isnan(high):
            raise ConfigError(
                f"model.regression_ranges: each range needs 0 <= low < high, got "
                f"{list(model.regression_ranges)}"
            )
    _check_frames_mode(config)
    if data.class_agnostic is False and ev.classifier_file is not None:
        raise ConfigError(
            "eval.classifier_file: an external classifier labels class-agnostic proposals; "
            "set data.class_agnostic=true (and model.num_classes=1) or remove the file"
        )


def _check_backbone_weights(backbone: BackboneConfig) -> None:
    """``pretrained`` needs a ``checkpoint`` or weights shipped with the tag; random init neither.

    Shipped weights are sha256-checked here (once per process), before any data is read.
    """
    if not backbone.pretrained:
        if backbone.checkpoint is not None:
            raise ConfigError(
                "model.backbone.pretrained: false (random init) contradicts "
                f"model.backbone.checkpoint={backbone.checkpoint!r}; drop one"
            )
        return
    if backbone.checkpoint is not None:
        return
    try:
        shipped = bundled_weights(backbone.name)
    except ValueError as err:  # unknown name or tag, missing or damaged shipped file
        raise ConfigError(f"model.backbone.name: {err}") from None
    if shipped is None:
        raise ConfigError(
            "model.backbone.checkpoint: set it to the pretrained weights (e.g. model.backbone."
            "checkpoint=pretrained/vit-small-p16_videomae-k400.pth), name a weight tag shipped "
            f"with tadapt instead of {backbone.name!r} (`tadapt list backbones` marks them "
            "'bundled'), or set model.backbone.pretrained=false for a random init; where to "
            "download weights: docs/backbones.md"
        )


def _check_frames_mode(config: ExperimentConfig) -> None:
    """Videos go with a backbone, features without; the strategy and its settings exist."""
    data, model = config.data, config.model
    frames = data.video_dir is not None or data.synthetic_videos is not None
    features = data.feature_dir is not None or data.synthetic is not None
    if frames and features:
        raise ConfigError(
            "data: give videos (data.video_dir / data.synthetic_videos) or features "
            "(data.feature_dir / data.synthetic), not both"
        )
    if frames and model.backbone is None:
        raise ConfigError(
            "model.backbone: training on videos needs a backbone, e.g. "
            "model.backbone.name=videomae_small_patch16 (tadapt list backbones)"
        )
    if features and model.backbone is not None:
        raise ConfigError(
            "model.backbone: pre-extracted features need no backbone; set model.backbone=null "
            "or train on videos (data.video_dir)"
        )
    if model.strategy not in list_strategies():
        close = difflib.get_close_matches(model.strategy, list_strategies(), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"model.strategy: unknown strategy {model.strategy!r}{hint}; known: "
            f"{', '.join(list_strategies())}"
        )
    if model.backbone is not None:
        _check_backbone_weights(model.backbone)
    if config.train.fidelity is not None and not frames:
        raise ConfigError(
            "train.fidelity: LoFi reduces frames; it needs videos (data.video_dir), not features"
        )
    decay = config.optim.layer_decay
    if decay is not None and model.strategy != "full":
        raise ConfigError(
            f"optim.layer_decay: layer-wise decay is for model.strategy=full, not "
            f"{model.strategy!r}; set optim.layer_decay=null"
        )
    checks: list[tuple[bool, str, str]] = [
        (decay is None or 0.0 < decay <= 1.0, "optim.layer_decay", "must be in (0, 1]"),
        (data.frame_stride >= 1, "data.frame_stride", "must be >= 1"),
        (data.image_size >= 16, "data.image_size", "must be >= 16"),
        (0.0 <= data.flip_prob <= 1.0, "data.flip_prob", "must be in [0, 1]"),
        (0.0 <= data.color_jitter_hue <= 0.5, "data.color_jitter_hue", "must be in [0, 0.5]"),
        (0.0 < model.adapter.ratio <= 1.0, "model.adapter.ratio", "must be in (0, 1]"),
        (0.0 <= model.input_drop < 1.0, "model.input_drop", "must be in [0, 1)"),
        (model.adapter.lora.rank >= 1, "model.adapter.lora.rank", "must be >= 1"),
        (
            not (data.resize and data.frame_stride != 1 and frames),
            "data.frame_stride",
            "must be 1 with data.resize (frames spread over the whole video)",
        ),
    ]
    augment = data.rand_augment
    if augment is not None:
        checks += [
            (
                0 <= augment.num_ops <= len(RAND_AUGMENT_OPS),
                "data.rand_augment.num_ops",
                f"must be in [0, {len(RAND_AUGMENT_OPS)}]",
            ),
            (0 <= augment.magnitude <= 10, "data.rand_augment.magnitude", "must be in [0, 10]"),
        ]
    if model.backbone is not None:
        checks += [
            (
                model.backbone.temporal_scale > 0,
                "model.backbone.temporal_scale",
                "must be > 0",
            ),
            (
                model.backbone.clips_per_pass is None or model.backbone.clips_per_pass >= 1,
                "model.backbone.clips_per_pass",
                "must be >= 1 or null",
            ),
        ]
    for ok, key, message in checks:
        if not ok:
            raise ConfigError(f"{key}: {message}, got {_lookup(config, key)!r}")


def _lookup(config: Any, dotted: str) -> Any:
    value = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value
