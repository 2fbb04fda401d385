"""``tadapt synth``: write a synthetic action-localization dataset of real H.264 videos.

Each class is a motion pattern (move, rotate, grow / shrink, oscillate, blink) of an object
among look-alike distractors on a noisy, panning background, so only temporal modelling
finds the actions (see docs/synthetic.md). The output folder holds ``videos/*.mp4``,
``annotations.json`` (ActionFormer format, subsets ``train`` / ``test``), ``classes.txt``,
``config.json`` and, with ``--preview``, ``preview.png`` (one row of frames per class).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from tadapt.data.synthetic import (
    MOTION_CLASSES,
    SyntheticConfig,
    generate_synthetic_dataset,
    plan_dataset,
    preview_sheet,
    write_png,
)
from tadapt.io import load_annotations
from tadapt.structures import pairwise_tiou

__all__ = ["add_parser", "run"]

_DEFAULTS = SyntheticConfig()
_PREVIEW_COLORS = 128  # palette PNG: ~3x smaller than RGB, no visible change


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt synth``."""
    parser = subparsers.add_parser(
        "synth",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--videos", type=int, default=_DEFAULTS.num_videos, help="videos")
    parser.add_argument(
        "--classes",
        type=int,
        default=argparse.SUPPRESS,  # absent unless given (no "default: None" in --help)
        metavar="K",
        help=f"the first K of: {', '.join(MOTION_CLASSES)} (default: the first "
        f"{_DEFAULTS.num_classes}, or those of --class-names)",
    )
    parser.add_argument(
        "--class-names",
        type=_split_names,
        default=argparse.SUPPRESS,
        metavar="NAME,...",
        help="the classes by name, in label order: grow,shrink,blink gives label_id 0, 1, 2",
    )
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--duration", type=float, default=_DEFAULTS.duration_sec, help="seconds")
    parser.add_argument("--size", type=int, default=_DEFAULTS.size, help="frame side, px")
    parser.add_argument("--fps", type=float, default=_DEFAULTS.fps)
    ranges: list[tuple[str, type, tuple[float, float], str]] = [
        ("--actions", int, _DEFAULTS.actions_per_video, "action instances per video"),
        ("--action-duration", float, _DEFAULTS.action_duration_sec, "seconds (log-uniform)"),
        ("--distractors", int, _DEFAULTS.distractors_per_video, "look-alikes that never act"),
        (
            "--object-radius",
            float,
            _DEFAULTS.object_radius,
            "object radius, fraction of --size (log-uniform); larger is easier to learn",
        ),
        ("--noise", float, _DEFAULTS.noise_std, "per-pixel noise std of each video, 0-255"),
        ("--detail", float, _DEFAULTS.background_detail, "background texture amplitude, 0-255"),
    ]
    for flag, kind, default, text in ranges:
        parser.add_argument(
            flag, type=kind, nargs=2, metavar=("MIN", "MAX"), default=default, help=text
        )
    parser.add_argument(
        "--overlap", type=float, default=_DEFAULTS.overlap_prob, help="overlap probability"
    )
    parser.add_argument("--test-fraction", type=float, default=_DEFAULTS.test_fraction)
    parser.add_argument(
        "--workers",
        type=int,
        default=min(len(os.sched_getaffinity(0)), 8),
        help="processes (default: the usable CPU cores, at most 8)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a dataset in OUT")
    parser.add_argument(
        "--preview", action="store_true", help="also write OUT/preview.png, a row per class"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def _split_names(text: str) -> tuple[str, ...]:
    """``"grow,blink"`` -> ``("grow", "blink")``; :class:`SyntheticConfig` checks the names."""
    return tuple(name.strip() for name in text.split(","))


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt synth``; prints what was written and how long it took."""
    count, names = getattr(args, "classes", None), getattr(args, "class_names", None)
    if names is not None:
        if count not in (None, len(names)):
            raise ValueError(
                f"--classes {count} disagrees with --class-names, which names {len(names)} "
                "classes; give only --class-names"
            )
        count = len(names)
    config = SyntheticConfig(
        num_videos=args.videos,
        num_classes=_DEFAULTS.num_classes if count is None else count,
        classes=names,
        duration_sec=args.duration,
        fps=args.fps,
        size=args.size,
        seed=args.seed,
        actions_per_video=tuple(args.actions),
        action_duration_sec=tuple(args.action_duration),
        overlap_prob=args.overlap,
        distractors_per_video=tuple(args.distractors),
        object_radius=tuple(args.object_radius),
        noise_std=tuple(args.noise),
        background_detail=tuple(args.detail),
        test_fraction=args.test_fraction,
    )
    started = time.perf_counter()
    path = generate_synthetic_dataset(
        args.out,
        config,
        workers=args.workers,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    elapsed = time.perf_counter() - started
    annotations = load_annotations(path)  # also proves the file reads back
    lengths = [float(s) for gt in annotations.videos.values() for s in gt.segments.lengths()]
    overlaps = sum(
        int(torch.triu(pairwise_tiou(gt.segments, gt.segments) > 0, diagonal=1).sum())
        for gt in annotations.videos.values()
    )
    subsets = {s: len(annotations.split(s).videos) for s in annotations.subsets()}
    print(
        f"wrote {len(annotations.videos)} videos "
        f"({', '.join(f'{n} {s}' for s, n in subsets.items())}), "
        f"{config.num_frames} frames each ({config.duration_sec:g} s at {config.fps:g} fps, "
        f"{config.size}x{config.size}) in {elapsed:.1f} s with {args.workers} worker(s)"
    )
    print(
        f"{annotations.num_instances} action instances of {len(annotations.class_names)} "
        f"classes, {min(lengths):.1f}-{max(lengths):.1f} s long, {overlaps} overlapping pairs"
    )
    print(f"annotations: {path}")
    if args.preview:
        preview = args.out / "preview.png"
        sheet = preview_sheet(plan_dataset(config), config.num_classes)
        write_png(preview, sheet, colors=_PREVIEW_COLORS)
        print(f"preview: {preview} (rows: {', '.join(config.class_names)})")
    return 0
