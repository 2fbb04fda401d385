"""From a resolved :class:`~tadapt.config.ExperimentConfig` to objects: the edge of the package.

``tadapt train`` and ``tadapt test`` share this: the only module that reads config fields and
passes them, as plain arguments, to the datasets, the detector, the optimizer and the
evaluation. Nothing below :mod:`tadapt.cli` sees a config object.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from tadapt.cli.adaptation import (
    backbone_of,
    build_backbone_features,
    build_fidelity_transform,
    strategy_options,
)
from tadapt.config import (
    ConfigError,
    ExperimentConfig,
    check_paths,
    config_to_dict,
    load_config,
    resolve,
    save_config,
)
from tadapt.data import (
    FeatureDataset,
    RandAugment,
    RandomTruncation,
    Resize,
    SlidingWindows,
    SyntheticConfig,
    VideoDataset,
    build_loader,
    ensure_synthetic_dataset,
    eval_transforms,
    train_transforms,
)
from tadapt.data.feature_resize import ResizedFeatures
from tadapt.data.synthetic_features import SyntheticFeatureSpec, generate_synthetic_features
from tadapt.detection import (
    FusionMode,
    PostProcessing,
    TemporalDetector,
    build_actionformer,
)
from tadapt.detection.inference import load_video_class_scores
from tadapt.engine import (
    PrecisionPolicy,
    evaluate,
    fuse_class_scores,
    predict,
)
from tadapt.engine.distributed import barrier, is_main_process
from tadapt.evaluation import AmbiguousPolicy, EvaluationResult
from tadapt.io import (
    AnnotationError,
    Annotations,
    load_annotations,
    load_blocked_videos,
    write_predictions_json,
    write_text_atomic,
)
from tadapt.io.feature_manifest import read_feature_manifest
from tadapt.structures import Detections, GroundTruth, VideoSample

__all__ = [
    "EvaluationJob",
    "backbone_of",
    "build_backbone_features",
    "build_datasets",
    "build_eval_job",
    "build_fidelity_transform",
    "build_model",
    "build_postprocessing",
    "check_split_overlap",
    "choose_device",
    "eval_loader",
    "prepare_experiment",
    "save_resolved_config",
    "strategy_options",
    "write_evaluation",
]

logger = logging.getLogger(__name__)

_SHOWN_IDS = 5  # shared video ids named in the overlap error


def choose_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device={name!r} but CUDA is not available; use cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def prepare_experiment(
    source: str | os.PathLike[str], overrides: Sequence[str], run_dir: Path
) -> tuple[ExperimentConfig, Annotations]:
    """Load and resolve a config, generating synthetic features first when it asks for them.

    The features' width and strides left unset (``null``) come from ``data.feature_dir``'s
    ``tadapt_features.json`` when it has one, and values set must agree with it.

    Returns:
        The resolved config (every path absolute) and the (whole-file) annotations.

    Raises:
        ConfigError: the config is invalid, disagrees with the features' manifest, names no
            annotation / feature location, or names a file or folder that does not exist (the
            message names the key and the path).
        FeatureManifestError: the manifest is unreadable.
    """
    loaded = load_config(source, overrides)
    feature_dir = loaded.data.feature_dir
    manifest = read_feature_manifest(feature_dir) if feature_dir is not None else None
    config = resolve(loaded, run_dir=run_dir, feature_manifest=manifest)
    data = config.data
    if data.synthetic is not None and is_main_process():
        synthetic = data.synthetic
        assert synthetic.cache_dir is not None  # resolved
        assert data.feature_dim is not None  # resolved, as the strides
        assert data.feat_stride is not None
        assert data.num_frames is not None
        generate_synthetic_features(
            synthetic.cache_dir,
            SyntheticFeatureSpec(
                num_classes=synthetic.num_classes,
                splits=(
                    ("training", synthetic.num_train_videos),
                    ("validation", synthetic.num_eval_videos),
                ),
                feature_dim=data.feature_dim,
                num_steps=synthetic.num_steps,
                instances_per_video=synthetic.instances_per_video,
                instance_steps=synthetic.instance_steps,
                signal=synthetic.signal,
                ramp_steps=synthetic.ramp_steps,
                feat_stride=data.feat_stride,
                num_frames=data.num_frames,
                fps=data.fps or 30.0,
                seed=synthetic.seed,
            ),
        )
    videos = data.synthetic_videos
    if videos is not None and is_main_process():
        assert videos.cache_dir is not None  # resolved
        try:
            synthetic_config = SyntheticConfig(
                num_videos=videos.num_videos,
                num_classes=videos.num_classes,
                classes=videos.classes,
                duration_sec=videos.duration_sec,
                fps=videos.fps,
                size=videos.size,
                seed=videos.seed,
                actions_per_video=videos.actions_per_video,
                action_duration_sec=videos.action_duration_sec,
                distractors_per_video=videos.distractors_per_video,
                object_radius=videos.object_radius,
                noise_std=videos.noise_std,
                background_detail=videos.background_detail,
                test_fraction=videos.test_fraction,
            )
            ensure_synthetic_dataset(
                videos.cache_dir, synthetic_config, progress=config.train.progress
            )
        except ValueError as err:
            raise ConfigError(f"data.synthetic_videos: {err}") from None
    barrier()  # the other processes wait for the files
    unset = ["data.annotation_file"] if data.annotation_file is None else []
    if data.feature_dir is None and data.video_dir is None:
        unset.append("data.feature_dir (or data.video_dir for end-to-end training)")
    if unset:
        raise ConfigError(
            f"{' and '.join(unset)} must be set, e.g. data.annotation_file=annotations/"
            "thumos14.json data.feature_dir=i3d_features"
        )
    assert data.annotation_file is not None  # in unset otherwise
    check_paths(config)
    annotations = load_annotations(data.annotation_file, category_file=data.category_file)
    return resolve(config, num_classes=len(annotations.class_names)), annotations


def check_split_overlap(config: ExperimentConfig, annotations: Annotations) -> None:
    """Refuse to train on the videos the run is evaluated on (before any model or video).

    Every video belongs to one subset, so the splits overlap exactly when ``data.train_split``
    and ``data.eval_split`` resolve to the same subset (``validation`` and ``test`` both do in
    OpenTAD's THUMOS-14 file).

    Raises:
        ConfigError: a split names no subset of the file; or the splits share videos and
            ``data.allow_split_overlap`` is false, and the message names both splits, the
            file, the number of shared videos and a few ids.
    """
    data = config.data
    subset = _resolve_split(annotations, "train_split", data.train_split)
    if _resolve_split(annotations, "eval_split", data.eval_split) != subset:
        return
    shared = [vid for vid, gt in annotations.videos.items() if gt.subset == subset]
    examples = ", ".join(shared[:_SHOWN_IDS]) + (", ..." if len(shared) > _SHOWN_IDS else "")
    problem = (
        f"data.train_split={data.train_split!r} and data.eval_split={data.eval_split!r} are "
        f"both the subset {subset!r} of {data.annotation_file}: training and evaluation share "
        f"all {len(shared)} of its videos ({examples}), so the mAP would measure videos the "
        "model was trained on"
    )
    if not data.allow_split_overlap:
        raise ConfigError(
            f"{problem}. Name the roles, data.train_split=train data.eval_split=test (mapped to "
            "the right subsets of every annotation format), or set "
            "data.allow_split_overlap=true to train on the evaluation videos on purpose"
        )
    logger.warning("%s; training anyway (data.allow_split_overlap=true)", problem)


def _resolve_split(annotations: Annotations, key: str, name: str) -> str:
    """The subset ``data.<key>`` names, or a :class:`ConfigError` naming the key."""
    try:
        return annotations.resolve_split(name)
    except AnnotationError as err:
        raise ConfigError(f"data.{key}={name!r}: {err}") from None


def build_datasets(
    config: ExperimentConfig, annotations: Annotations, *, train: bool = True
) -> tuple[Dataset[VideoSample] | None, Dataset[VideoSample]]:
    """The training dataset (``None`` unless ``train``) and the evaluation dataset."""
    data = config.data
    if data.video_dir is not None:
        return _video_datasets(config, annotations, train=train)
    assert data.feature_dir is not None  # resolved
    assert data.feat_stride is not None
    assert data.num_frames is not None
    feature_dir: str = data.feature_dir
    feat_stride, num_frames = data.feat_stride, data.num_frames

    def features(split: str, sampling: RandomTruncation | SlidingWindows | None) -> FeatureDataset:
        return FeatureDataset(
            annotations.split(split),
            feature_dir,
            feat_stride=feat_stride,
            num_frames=num_frames,
            sampling=sampling,
            fps=data.fps,
            ext=data.file_ext,
            prefix=data.file_prefix,
            class_agnostic=data.class_agnostic,
            on_error=data.on_error,
            seed=config.train.seed,
        )

    truncation = RandomTruncation(data.max_seq_len, data.trunc_thresh, data.crop_ratio)
    train_set: Dataset[VideoSample] | None = None
    if data.resize:
        resize = Resize(data.max_seq_len, data.resize_min_gt_fraction)
        if train:
            train_set = ResizedFeatures(
                features(data.train_split, None), resize, truncation=truncation, filter_short=True
            )
        eval_set: Dataset[VideoSample] = ResizedFeatures(features(data.eval_split, None), resize)
        return train_set, eval_set
    if train:
        train_set = features(data.train_split, truncation)
    windows = SlidingWindows(data.eval_window, data.eval_overlap) if data.eval_window else None
    return train_set, features(data.eval_split, windows)


def _video_datasets(
    config: ExperimentConfig, annotations: Annotations, *, train: bool
) -> tuple[Dataset[VideoSample] | None, Dataset[VideoSample]]:
    """Frames mode: AdaTAD's pipelines on a folder of videos."""
    data = config.data
    video_dir = data.video_dir
    assert video_dir is not None
    short_side = data.resize_short_side or round(data.image_size * 182 / 160)
    augment = (
        RandAugment(data.rand_augment.num_ops, data.rand_augment.magnitude)
        if data.rand_augment is not None
        else None
    )

    def videos(
        split: str, sampling: RandomTruncation | SlidingWindows | Resize, training: bool
    ) -> VideoDataset:
        transform = (
            train_transforms(
                data.image_size,
                short_side,
                flip_p=data.flip_prob,
                rand_augment=augment,
                jitter=data.color_jitter,
                hue=data.color_jitter_hue,
            )
            if training
            else eval_transforms(data.image_size)
        )
        return VideoDataset(
            annotations.split(split),
            video_dir,
            sampling,
            frame_stride=data.frame_stride,
            transform=transform,
            exts=data.video_exts,
            prefix=data.file_prefix,
            class_agnostic=data.class_agnostic,
            on_error=data.on_error,
            seed=config.train.seed,
        )

    if data.resize:
        resize = Resize(data.max_seq_len, data.resize_min_gt_fraction)
        train_set = videos(data.train_split, resize, True) if train else None
        return train_set, videos(data.eval_split, Resize(data.max_seq_len, 0.0), False)
    truncation = RandomTruncation(data.max_seq_len, data.trunc_thresh, data.crop_ratio)
    train_set = videos(data.train_split, truncation, True) if train else None
    window = SlidingWindows(data.eval_window or data.max_seq_len, data.eval_overlap)
    return train_set, videos(data.eval_split, window, False)


def build_postprocessing(config: ExperimentConfig) -> PostProcessing:
    """The detector's decoding and NMS settings."""
    return PostProcessing(**config_to_dict(config.eval.postprocess))


def build_model(config: ExperimentConfig) -> TemporalDetector:
    """The ActionFormer detector of a resolved config (with its backbone in frames mode)."""
    model = config.model
    assert model.num_classes is not None  # resolved
    assert model.max_seq_len is not None
    window = model.window_size if isinstance(model.window_size, int) else list(model.window_size)
    assert config.data.feature_dim is not None  # resolved
    extractor = build_backbone_features(config) if model.backbone is not None else None
    return build_actionformer(
        extractor.out_channels if extractor is not None else config.data.feature_dim,
        model.num_classes,
        feature_extractor=extractor,
        embed_dim=model.embed_dim,
        head_dim=model.head.dim,
        num_heads=model.num_heads,
        arch=model.arch,
        window_size=window,
        regression_ranges=list(model.regression_ranges),
        head_layers=model.head.num_layers,
        head_kernel_size=model.head.kernel_size,
        prior_prob=model.head.prior_prob,
        offset_bias=model.head.offset_bias,
        focal_alpha=model.loss.focal_alpha,
        focal_gamma=model.loss.focal_gamma,
        reg_weight=model.loss.reg_weight,
        label_smoothing=model.loss.label_smoothing,
        center_sample_radius=model.center_sample_radius,
        loss_norm_init=model.loss.norm_init,
        loss_norm_momentum=model.loss.norm_momentum,
        input_drop=model.input_drop,
        proj_drop=model.proj_drop,
        path_drop=model.path_drop,
        use_abs_pe=model.use_abs_pe,
        max_seq_len=model.max_seq_len,
        postprocessing=build_postprocessing(config),
    )


class EvaluationJob:
    """Inference on the evaluation split, external-classifier fusion, then mAP.

    Calling it with a model returns the metrics the trainer logs (``average_mAP`` and
    ``mAP@<tIoU>``) and keeps the detections and the result of the latest call in
    :attr:`last`.

    Args:
        loader: the evaluation loader.
        ground_truth: the evaluated videos.
        class_names: label index -> name of ``ground_truth`` (and of the detections).
        tiou_thresholds: the mAP thresholds.
        device: where inference runs.
        precision: autocast for inference.
        postprocessing: decoding and NMS.
        class_scores: video-level class scores for class-agnostic proposals (``None``: the
            detector's own labels).
        top_k: classes per proposal with ``class_scores``.
        fusion: ``multiply`` or ``sqrt`` with ``class_scores``.
        ambiguous: the THUMOS ``Ambiguous`` policy.
        blocked_videos: videos left out of the ground truth and the detections.
        progress: show a progress bar.
    """

    def __init__(
        self,
        loader: DataLoader[VideoSample],
        ground_truth: dict[str, GroundTruth],
        class_names: Sequence[str],
        tiou_thresholds: Sequence[float],
        *,
        device: torch.device,
        precision: PrecisionPolicy,
        postprocessing: PostProcessing,
        class_scores: dict[str, torch.Tensor] | None = None,
        top_k: int = 2,
        fusion: FusionMode = "multiply",
        ambiguous: AmbiguousPolicy = "remove",
        blocked_videos: frozenset[str] = frozenset(),
        progress: bool = False,
    ) -> None:
        self.loader = loader
        self.ground_truth = ground_truth
        self.class_names = tuple(class_names)
        self.tiou_thresholds = tuple(tiou_thresholds)
        self.device = device
        self.precision = precision
        self.postprocessing = postprocessing
        self.class_scores = class_scores
        self.top_k = top_k
        self.fusion = fusion
        self.ambiguous = ambiguous
        self.blocked_videos = blocked_videos
        self.progress = progress
        self.last: tuple[list[Detections], EvaluationResult] | None = None

    def run(self, model: torch.nn.Module) -> tuple[list[Detections], EvaluationResult]:
        """Detections of every evaluated video and their mAP."""
        detections = predict(
            model,
            self.loader,
            device=self.device,
            postprocessing=self.postprocessing,
            autocast=self.precision.autocast,
            progress=self.progress,
        )
        if self.class_scores is not None:
            detections = fuse_class_scores(
                detections,
                self.class_scores,
                top_k=self.top_k,
                mode=self.fusion,
            )
        missing = len(set(self.ground_truth) - {d.video_id for d in detections})
        if missing:
            logger.warning(
                "%d of %d evaluated videos have no features (left out of the dataset): they "
                "count as missed, so the mAP is lower than on the full split",
                missing,
                len(self.ground_truth),
            )
        result = evaluate(
            detections,
            self.ground_truth,
            self.class_names,
            self.tiou_thresholds,
            ambiguous=self.ambiguous,
            blocked_videos=self.blocked_videos,
        )
        self.last = (detections, result)
        return detections, result

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        """Evaluate ``model``; the metrics the trainer logs."""
        _, result = self.run(model)
        metrics = {"average_mAP": result.average_map}
        metrics |= {
            f"mAP@{t:.2f}": float(v)
            for t, v in zip(result.tiou_thresholds, result.mean_ap, strict=True)
        }
        return metrics


def build_eval_job(
    config: ExperimentConfig,
    annotations: Annotations,
    loader: DataLoader[VideoSample],
    *,
    device: torch.device,
    precision: PrecisionPolicy,
) -> EvaluationJob:
    """The evaluation of a resolved config on its evaluation split.

    The ground truth is read again from ``data.annotation_file`` as the file gives it (no
    clipping or dropping at the video's duration, which ``annotations``, the training
    targets, may have), as the public evaluators score it.
    """
    data, ev = config.data, config.eval
    assert data.annotation_file is not None  # resolved
    as_given = load_annotations(
        data.annotation_file,
        class_names=annotations.class_names,
        past_duration="keep",
    )
    split = as_given.split(data.eval_split)
    ground_truth, class_names = split.videos, split.class_names
    class_scores = None
    if ev.classifier_file is not None:
        class_scores = load_video_class_scores(ev.classifier_file, class_names)
    elif data.class_agnostic:
        # proposals without a classifier: evaluate them against class-agnostic ground truth
        class_names = ("action",)
        ground_truth = {
            vid: dataclasses.replace(gt, labels=torch.zeros_like(gt.labels))
            for vid, gt in ground_truth.items()
        }
    assert ev.tiou_thresholds is not None  # resolved
    return EvaluationJob(
        loader,
        ground_truth,
        class_names,
        ev.tiou_thresholds,
        device=device,
        precision=precision,
        postprocessing=build_postprocessing(config),
        class_scores=class_scores,
        top_k=ev.classifier_top_k,
        fusion=ev.classifier_fusion,
        ambiguous=ev.ambiguous,
        blocked_videos=_blocked_videos(ev.blocked_file),
        progress=config.train.progress,
    )


def _blocked_videos(path: str | None) -> frozenset[str]:
    """The ids of ``eval.blocked_file`` (none when unset); errors name the config key."""
    if path is None:
        return frozenset()
    try:
        return load_blocked_videos(path)
    except (OSError, ValueError) as err:
        raise ConfigError(f"eval.blocked_file: {err}") from None


def eval_loader(
    config: ExperimentConfig, dataset: Dataset[VideoSample], pad: int
) -> DataLoader[VideoSample]:
    """The evaluation loader (no shuffle, every sample kept)."""
    return build_loader(
        dataset,
        batch_size=config.eval.batch_size,
        shuffle=False,
        num_workers=config.data.num_workers,
        seed=config.train.seed,
        pad_multiple=pad,
    )


def evaluation_settings(config: ExperimentConfig, result: EvaluationResult) -> dict[str, Any]:
    """How a run scored its predictions, for ``tadapt evaluate`` to score them the same way."""
    data, ev = config.data, config.eval
    return {
        "annotation_file": data.annotation_file,
        "dataset": data.dataset,
        "split": data.eval_split,
        "tiou_thresholds": [float(t) for t in result.tiou_thresholds],
        "ambiguous": ev.ambiguous,
        "blocked_file": ev.blocked_file,
    }


def write_evaluation(
    out_dir: Path,
    detections: Sequence[Detections],
    result: EvaluationResult,
    class_names: Sequence[str],
    meta: dict[str, Any],
    config: ExperimentConfig,
) -> tuple[Path, Path]:
    """Write ``predictions.json`` (ActivityNet results format) and ``report.json`` / ``.txt``.

    Both carry :func:`evaluation_settings` (the tIoU thresholds, split, dataset, ...): the
    predictions file as its ``tadapt_evaluation`` field, the report in ``meta``.

    Returns:
        The predictions file and the JSON report.
    """
    predictions, report = out_dir / "predictions.json", out_dir / "report.json"
    settings = evaluation_settings(config, result)
    write_predictions_json(predictions, detections, class_names, evaluation=settings)
    meta = {**meta, "evaluation": settings}
    write_text_atomic(report, json.dumps({**result.to_dict(), "meta": meta}, indent=2))
    write_text_atomic(out_dir / "report.txt", result.format_table() + "\n")
    return predictions, report


def save_resolved_config(config: ExperimentConfig, path: Path, command: str) -> None:
    """Save the resolved config beside a run, with the command that produced it."""
    if is_main_process():
        save_config(config, path, header=f"resolved config of: {command}")
