"""``tadapt lofi PRESET_OR_YAML --out-dir DIR [key=value ...]``: LoFi, end to end.

LoFi (Xu et al., NeurIPS 2021) in three steps, each a stage of ``--stage`` (``all`` runs them
in order; a later stage reads what the earlier ones left in ``--out-dir``):

1. ``train``: end-to-end training of backbone + head on low-fidelity batches
   (``train.fidelity``, cyclic by default; ``OUT/lofi``).
2. ``extract``: the LoFi-tuned backbone, frozen, writes per-video features at *full*
   fidelity to ``OUT/features``, sampled and encoded exactly as stage 1's detector saw its
   full-fidelity input (the same frames: ``Resize`` over the whole video or every
   ``data.frame_stride``-th frame; the same chunks, tokens and ``temporal_scale``).
3. ``head``: a new detection head trained from scratch on those features (``OUT/head``, its
   config in ``OUT/head_config.yaml``); its evaluation is the pipeline's result.

The config must train on videos (``data.video_dir``) with a strategy whose backbone encodes a
chunk on its own: ``full`` (LoFi's choice), ``lora`` or ``adapter``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from tadapt.cli.experiment import (
    build_model,
    check_split_overlap,
    choose_device,
    prepare_experiment,
)
from tadapt.cli.train import TrainResult, train_experiment
from tadapt.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    FidelityConfig,
    load_config,
    save_config,
)
from tadapt.detection import BackboneFeatures
from tadapt.engine import load_checkpoint
from tadapt.engine.distributed import barrier, is_main_process
from tadapt.extraction import BackboneWeights, ExtractionReport
from tadapt.io import Annotations
from tadapt.step_extraction import extract_step_features, step_grid

__all__ = ["STAGES", "add_parser", "head_config", "run", "run_lofi"]

logger = logging.getLogger(__name__)

STAGES = ("all", "train", "extract", "head")
_SNIPPET_STRATEGIES = ("full", "lora", "adapter")
_DEFAULT_FIDELITY = FidelityConfig(mode="cyclic")  # LoFi's long cycle, budget 4


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt lofi``."""
    parser = subparsers.add_parser(
        "lofi",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", help="preset name or YAML file training on videos")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted overrides")
    parser.add_argument("--out-dir", type=Path, required=True, help="pipeline folder")
    parser.add_argument("--stage", choices=STAGES, default="all", help="which stage(s) to run")
    parser.set_defaults(handler=run)


def _stage_one_config(source: str, overrides: Sequence[str]) -> ExperimentConfig:
    """The end-to-end config, checked for LoFi (videos, a snippet-wise strategy)."""
    config = load_config(source, overrides)
    if config.data.video_dir is None and config.data.synthetic_videos is None:
        raise ConfigError("tadapt lofi trains end to end: the config needs data.video_dir")
    if config.model.strategy not in _SNIPPET_STRATEGIES:
        raise ConfigError(
            f"model.strategy: LoFi extracts chunk features with the tuned backbone, which "
            f"{config.model.strategy!r} does not give (its adapters mix clips or read taps); "
            f"use one of {', '.join(_SNIPPET_STRATEGIES)}"
        )
    return config


def head_config(
    config: ExperimentConfig, feature_dir: Path, extractor: BackboneFeatures
) -> ExperimentConfig:
    """Stage 3's config: the same head, data and schedule, on the extracted step features.

    The features' grid is stage 1's detector grid, ``data.max_seq_len / temporal_stride``
    steps per window: ``Resize`` configs resize to that many steps (an identity); window
    configs place step ``j`` at video frame ``(j * temporal_stride + temporal_offset) *
    frame_stride``, i.e. ``feat_stride = temporal_stride * frame_stride`` and
    ``num_frames = 2 * temporal_offset * frame_stride``.

    Args:
        config: the resolved stage-1 config (videos, backbone).
        feature_dir: the extracted features.
        extractor: stage 1's feature extractor (its grid and width).
    """
    data = config.data
    steps = max(data.max_seq_len // extractor.temporal_stride, 1)  # frames -> detector steps
    feat_stride, num_frames = step_grid(extractor, data.frame_stride)  # in video frames
    features = DataConfig(
        dataset=data.dataset,
        annotation_file=data.annotation_file,
        category_file=data.category_file,
        feature_dir=os.path.abspath(feature_dir),  # head_config.yaml reads from any folder
        file_prefix="",  # written as <video_id>.npy
        train_split=data.train_split,
        eval_split=data.eval_split,
        allow_split_overlap=data.allow_split_overlap,
        feature_dim=extractor.out_channels,
        feat_stride=feat_stride,
        num_frames=num_frames,
        max_seq_len=steps,
        trunc_thresh=data.trunc_thresh,
        crop_ratio=data.crop_ratio,
        resize=data.resize,
        resize_min_gt_fraction=data.resize_min_gt_fraction,
        class_agnostic=data.class_agnostic,
        num_workers=data.num_workers,
        on_error=data.on_error,
    )
    model = dataclasses.replace(
        config.model, backbone=None, strategy="frozen", max_seq_len=None, num_classes=None
    )
    optim = dataclasses.replace(
        config.optim, module_lrs={}, layer_decay=None, full_decay_prefixes=()
    )
    train = dataclasses.replace(config.train, fidelity=None)
    return dataclasses.replace(
        config, name=f"{config.name}_head", data=features, model=model, optim=optim, train=train
    )


def _extractor(config: ExperimentConfig, checkpoint_path: Path | None) -> BackboneFeatures:
    """Stage 1's feature extractor with its trained (or EMA) weights.

    With ``checkpoint_path=None`` it is built on the meta device: its grid and width only
    (what stage 3 needs), with no memory allocated and no weights read.
    """
    if checkpoint_path is None:
        assert config.model.backbone is not None  # frames mode
        bare = dataclasses.replace(config.model.backbone, checkpoint=None, pretrained=False)
        grid_only = dataclasses.replace(
            config, model=dataclasses.replace(config.model, backbone=bare)
        )
        with torch.device("meta"):
            model = build_model(grid_only)
    else:
        checkpoint = load_checkpoint(checkpoint_path)
        model = build_model(config)
        use_ema = config.eval.use_ema and checkpoint.get("ema") is not None
        model.load_state_dict(checkpoint["ema"] if use_ema else checkpoint["model"])
    extractor = model.feature_extractor
    assert isinstance(extractor, BackboneFeatures)  # frames mode, checked in stage 1
    return extractor


def _extract(
    config: ExperimentConfig,
    annotations: Annotations,
    extractor: BackboneFeatures,
    checkpoint_path: Path,
    feature_dir: Path,
) -> None:
    """Stage 2: full-fidelity features of every annotated video, sampled as in stage 1.

    Args:
        config: the resolved stage-1 config.
        annotations: its annotation file.
        extractor: stage 1's trained feature extractor.
        checkpoint_path: the checkpoint its weights came from (for the manifest).
        feature_dir: where the ``<video_id>.npy`` files go.
    """
    data, backbone = config.data, config.model.backbone
    assert data.video_dir is not None
    assert backbone is not None
    device = choose_device(config.train.device)
    report: ExtractionReport = extract_step_features(
        extractor.to(device),
        annotations.videos,
        data.video_dir,
        feature_dir,
        weights=BackboneWeights(
            backbone.name, f"{checkpoint_path} (model.strategy={config.model.strategy})"
        ),
        size=data.image_size,
        resize_length=data.max_seq_len if data.resize else None,
        frame_stride=data.frame_stride,
        exts=tuple(data.video_exts),
        prefix=data.file_prefix,
        chunks_per_pass=backbone.clips_per_pass or 8,  # bounded like a no-grad pass
        precision="bf16" if config.train.precision in ("bf16", "amp") else "fp32",
        device=device,
        progress=config.train.progress,
    )
    logger.info("LoFi features: %s", report.summary())
    if report.failed or report.missing:
        raise ValueError(f"feature extraction incomplete ({report.summary().splitlines()[0]})")


def run_lofi(
    source: str, overrides: Sequence[str], out_dir: Path, *, stage: str = "all"
) -> TrainResult | None:
    """Run LoFi's stages; returns the head's training result when stage 3 ran.

    Raises:
        ValueError: invalid config, or a stage's input missing from ``out_dir``.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown LoFi stage {stage!r}; choose one of {', '.join(STAGES)}")
    if load_config(source).train.fidelity is None:
        # LoFi's cyclic long cycle unless the overrides choose (their mode= comes later, wins)
        logger.info("train.fidelity not in %s: LoFi's default, %s", source, _DEFAULT_FIDELITY)
        overrides = ["train.fidelity.mode=cyclic", *overrides]
    _stage_one_config(source, overrides)  # refuses a config LoFi cannot run before any work
    lofi_dir = out_dir / "lofi"
    if stage in ("all", "train"):
        train_experiment(source, overrides, out_dir=lofi_dir, command="tadapt lofi")
    if stage == "train":
        return None
    checkpoint_path = lofi_dir / "checkpoints" / "last.pt"
    if not checkpoint_path.is_file():
        raise ValueError(f"{checkpoint_path}: run stage 'train' first (tadapt lofi --stage train)")
    resolved, annotations = prepare_experiment(lofi_dir / "config.yaml", (), lofi_dir)
    if stage == "extract":  # the other stages train: train_experiment checks before that
        check_split_overlap(resolved, annotations)
    # stage 3 alone needs the extractor's grid, not its weights
    extractor = _extractor(resolved, None if stage == "head" else checkpoint_path)
    feature_dir = out_dir / "features"
    if stage in ("all", "extract"):
        if is_main_process():  # one process writes the features, the others wait
            _extract(resolved, annotations, extractor, checkpoint_path, feature_dir)
        barrier()
    if stage == "extract":
        return None
    head = head_config(resolved, feature_dir, extractor)
    path = out_dir / "head_config.yaml"
    save_config(head, path, header="LoFi stage 3: head trained on full-fidelity features")
    return train_experiment(path, (), out_dir=out_dir / "head", command="tadapt lofi")


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt lofi``."""
    logger.info("%s", " ".join(["tadapt", *map(shlex.quote, sys.argv[1:])]))
    result = run_lofi(args.config, args.overrides, args.out_dir, stage=args.stage)
    if not is_main_process():
        return 0  # rank 0 reports
    if result is None:
        print(f"LoFi stage {args.stage!r} done in {args.out_dir}")
        return 0
    if result.metrics:
        average = 100 * result.metrics["average_mAP"]
        print(f"LoFi head on full-fidelity features: average mAP {average:.2f} %")
    print(f"run folders: {args.out_dir / 'lofi'} (stage 1), {result.run_dir} (head)")
    return 0
