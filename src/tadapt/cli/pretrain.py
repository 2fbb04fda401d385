"""``tadapt pretrain``: VideoMAE masked-autoencoder pretraining of a backbone on your videos.

Tube masking (ratio 0.9), an encoder that sees only the visible tokens, a light decoder and
an MSE on per-patch normalised pixels, as VideoMAE; ``--decoder-mask-ratio 0.5`` adds
VideoMAE V2's dual masking. VIDEOS are video files, folders (``tadapt synth`` output works as
is) or ``.txt`` lists of paths. OUT receives ``checkpoint.pth`` in the official pretraining
layout (train a detector from it with ``model.backbone.checkpoint=OUT/checkpoint.pth``),
``last.pt`` (the same command resumes from it), ``history.json`` and ``config.json``.
``--finetune-classes ANNOTATIONS`` then fine-tunes the encoder on clip classification of the
annotated action segments (as the Kinetics fine-tuned checkpoints AdaTAD starts from) and
writes ``finetuned.pth``. See docs/pretraining.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tadapt.pretraining.config import FINETUNE_HEADS, FinetuneConfig, PretrainConfig

__all__ = ["add_parser", "config_from_args", "finetune_config_from_args", "run"]

_DEFAULTS = PretrainConfig()
_FT_DEFAULTS = FinetuneConfig()


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt pretrain``."""
    parser = subparsers.add_parser(
        "pretrain",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("videos", nargs="+", type=Path, help="video files, folders or .txt lists")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--backbone", default=_DEFAULTS.backbone, help="tadapt list backbones")
    clip = parser.add_argument_group("clips")
    clip.add_argument("--num-frames", type=int, default=_DEFAULTS.num_frames)
    clip.add_argument("--stride", type=int, default=_DEFAULTS.stride, help="frame step")
    clip.add_argument("--size", type=int, default=_DEFAULTS.size, help="crop side, px")
    clip.add_argument("--short-side", type=int, default=None, help="decode to this short side")
    clip.add_argument(
        "--clips-per-video", type=int, default=_DEFAULTS.clips_per_video, help="num_sample"
    )
    mae = parser.add_argument_group("masked autoencoder")
    mae.add_argument("--mask-ratio", type=float, default=_DEFAULTS.mask_ratio)
    mae.add_argument(
        "--decoder-mask-ratio",
        type=float,
        default=_DEFAULTS.decoder_mask_ratio,
        help="VideoMAE V2 running-cell decoder masking (0.5 in the paper); 0: off",
    )
    mae.add_argument(
        "--raw-targets",
        action="store_true",
        help="reconstruct raw pixels, not per-patch normalised ones (VideoMAE's normlize_target)",
    )
    mae.add_argument("--decoder-dim", type=int, default=None, help="default: encoder width / 2")
    mae.add_argument("--decoder-depth", type=int, default=_DEFAULTS.decoder_depth)
    mae.add_argument("--decoder-heads", type=int, default=None, help="default: one per 64")
    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=_DEFAULTS.epochs)
    opt.add_argument("--warmup-epochs", type=int, default=_DEFAULTS.warmup_epochs)
    opt.add_argument("--batch-size", type=int, default=_DEFAULTS.batch_size, help="videos")
    opt.add_argument("--lr", type=float, default=_DEFAULTS.base_lr, help="base rate per 256 clips")
    opt.add_argument("--min-lr", type=float, default=_DEFAULTS.min_lr, help="per 256 clips")
    opt.add_argument("--weight-decay", type=float, default=_DEFAULTS.weight_decay)
    opt.add_argument("--clip-grad", type=float, default=None, help="gradient-norm clipping")
    ft = parser.add_argument_group("supervised fine-tuning (optional second stage)")
    ft.add_argument(
        "--finetune-classes",
        type=Path,
        default=None,
        metavar="ANNOTATIONS",
        help="annotation file whose action segments are classified (e.g. tadapt synth's)",
    )
    ft.add_argument(
        "--finetune-videos", type=Path, default=None, help="their videos (default: FILE's videos/)"
    )
    ft.add_argument("--finetune-split", default=_FT_DEFAULTS.split, help="training subset")
    ft.add_argument("--finetune-eval-split", default=None, help="subset for held-out accuracy")
    ft.add_argument("--finetune-epochs", type=int, default=_FT_DEFAULTS.epochs)
    ft.add_argument("--finetune-warmup-epochs", type=int, default=_FT_DEFAULTS.warmup_epochs)
    ft.add_argument("--finetune-batch-size", type=int, default=_FT_DEFAULTS.batch_size)
    ft.add_argument("--finetune-lr", type=float, default=_FT_DEFAULTS.base_lr, help="per 256 clips")
    ft.add_argument(
        "--finetune-head",
        default=_FT_DEFAULTS.head,
        choices=FINETUNE_HEADS,
        help="videomae: fc_norm + linear head scaled by 0.001; linear: a plain linear head",
    )
    ft.add_argument("--finetune-label-smoothing", type=float, default=_FT_DEFAULTS.label_smoothing)
    ft.add_argument(
        "--finetune-drop-path",
        type=float,
        default=_FT_DEFAULTS.drop_path,
        help="stochastic depth of the last block",
    )
    run_group = parser.add_argument_group("run")
    run_group.add_argument(
        "--precision", default=_DEFAULTS.precision, choices=("fp32", "bf16", "fp16", "amp")
    )
    run_group.add_argument("--device", default=_DEFAULTS.device)
    run_group.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    run_group.add_argument("--workers", type=int, default=_DEFAULTS.num_workers)
    run_group.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The :class:`PretrainConfig` the command line asks for."""
    return PretrainConfig(
        backbone=args.backbone,
        num_frames=args.num_frames,
        stride=args.stride,
        size=args.size,
        short_side=args.short_side,
        mask_ratio=args.mask_ratio,
        decoder_mask_ratio=args.decoder_mask_ratio,
        decoder_dim=args.decoder_dim,
        decoder_depth=args.decoder_depth,
        decoder_heads=args.decoder_heads,
        normalize_target=not args.raw_targets,
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        batch_size=args.batch_size,
        clips_per_video=args.clips_per_video,
        base_lr=args.lr,
        min_lr=args.min_lr,
        weight_decay=args.weight_decay,
        clip_grad=args.clip_grad,
        precision=args.precision,
        device=args.device,
        seed=args.seed,
        num_workers=args.workers,
    )


def finetune_config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """The :class:`FinetuneConfig` the command line asks for."""
    return FinetuneConfig(
        split=args.finetune_split,
        eval_split=args.finetune_eval_split,
        epochs=args.finetune_epochs,
        warmup_epochs=args.finetune_warmup_epochs,
        batch_size=args.finetune_batch_size,
        base_lr=args.finetune_lr,
        label_smoothing=args.finetune_label_smoothing,
        head=args.finetune_head,
        drop_path=args.finetune_drop_path,
        seed=args.seed,
    )


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt pretrain``."""
    from tadapt.pretraining import collect_videos, pretrain  # torch: imported when run

    config = config_from_args(args)
    finetune = finetune_config_from_args(args) if args.finetune_classes else None
    finetune_videos = args.finetune_videos
    if args.finetune_classes is not None:
        if not args.finetune_classes.is_file():
            raise ValueError(f"--finetune-classes {args.finetune_classes}: no such file")
        finetune_videos = finetune_videos or args.finetune_classes.parent / "videos"
        if not finetune_videos.is_dir():
            raise ValueError(
                f"{finetune_videos}: no such folder; give the videos of "
                f"{args.finetune_classes} with --finetune-videos"
            )
    videos = collect_videos(args.videos)
    print(f"pretraining {config.backbone} on {len(videos)} videos -> {args.out}")
    result = pretrain(config, videos, args.out, progress=not args.no_progress)
    first, last = result.losses[0], result.losses[-1]
    print(
        f"reconstruction loss {first:.4f} (epoch 1) -> {last:.4f} (epoch {len(result.losses)}); "
        f"{result.steps} steps, {result.seconds:.0f} s"
    )
    print(f"weights (official VideoMAE pretraining layout): {result.checkpoint}")
    if finetune is None:
        return 0
    from tadapt.backbones import create_backbone
    from tadapt.pretraining.finetune import finetune_classifier

    # the fine-tuning stage starts from the file, through the loader every user checkpoint takes
    overrides: dict[str, Any] = {**config.backbone_overrides, "chunk_frames": config.num_frames}
    backbone = create_backbone(config.backbone, checkpoint=result.checkpoint, **overrides)
    tuned = finetune_classifier(
        backbone,
        finetune,
        annotation_file=args.finetune_classes,
        video_dir=finetune_videos,
        out_path=args.out / "finetuned.pth",
        num_frames=config.num_frames,
        stride=config.stride,
        size=config.size,
        precision=config.precision,
        device=config.device,
        num_workers=config.num_workers,
        progress=not args.no_progress,
    )
    held_out = f", held-out {100 * tuned.eval_accuracy[-1]:.1f} %" if tuned.eval_accuracy else ""
    print(
        f"clip classification: training accuracy {100 * tuned.train_accuracy[-1]:.1f} %"
        f"{held_out} after {finetune.epochs} epochs, {tuned.seconds:.0f} s"
    )
    print(f"weights (VideoMAE fine-tuned layout): {tuned.checkpoint}")
    return 0
