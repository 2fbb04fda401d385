"""``tadapt extract``: per-video snippet features of a backbone, for head-only training.

Writes ``OUT/<video_id>.npy`` of shape ``(T, C)`` for every video of an annotation file (or
one split of it), in the ActionFormer convention that ``tadapt.data.FeatureDataset`` reads
(``feat_stride``, ``num_frames`` = snippet frames), and ``OUT/tadapt_features.json``: the
backbone, its weights and every setting, which ``tadapt train`` reads the feature width and
strides from. The backbone needs weights: ``--checkpoint`` or a tag shipped with them
(``--random-init`` on purpose only). Resumable: a rerun with the same settings skips the
videos already written (no partial file is ever left behind); one with other settings is
refused unless ``--overwrite``. Every video is checked first (present, decodable, as long as
annotated): the problems are listed before the first feature is computed, and extraction goes
on with the other videos (exit code 1 at the end).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tadapt.backbones import list_backbones
from tadapt.data.check import check_dataset
from tadapt.data.files import VIDEO_EXTS
from tadapt.extraction import create_extraction_backbone, extract_features
from tadapt.io import load_annotations
from tadapt.io.feature_manifest import manifest_path

__all__ = ["add_parser", "run"]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt extract``."""
    parser = subparsers.add_parser("extract", help=help_text, description=__doc__)
    parser.add_argument("out", type=Path, help="output folder for <video_id>.npy files")
    parser.add_argument("--annotations", required=True, type=Path, help="annotation file")
    parser.add_argument("--videos", required=True, type=Path, help="folder of video files")
    parser.add_argument("--split", help="only this subset (default: every video in the file)")
    parser.add_argument(
        "--ext",
        default=",".join(VIDEO_EXTS),
        help=f"video extensions in order of preference (default {','.join(VIDEO_EXTS)})",
    )
    parser.add_argument(
        "--backbone", required=True, help="registered backbone (see `tadapt list backbones`)"
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="backbone weights (any supported format); default: the weights shipped with the "
        "backbone's tag (`tadapt list backbones` marks them 'bundled'); required otherwise",
    )
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="no weights, on purpose: features of an untrained network (seed 0), to test a "
        "pipeline; recorded in the manifest",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete OUT's .npy files and extract every video again (needed when OUT holds "
        "features made with other settings, or without a tadapt_features.json)",
    )
    parser.add_argument("--size", type=int, default=160, help="short side and centre crop (px)")
    parser.add_argument("--snippet-frames", type=int, default=16, help="frames per snippet")
    parser.add_argument("--feat-stride", type=int, default=4, help="frames between snippets")
    parser.add_argument("--frame-stride", type=int, default=1, help="sample every n-th frame")
    parser.add_argument("--batch-snippets", type=int, default=16, help="snippets per forward")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt extract``; exit code 1 if a video was missing or failed to decode."""
    if args.backbone.split(".")[0] not in list_backbones():
        raise ValueError(
            f"unknown backbone {args.backbone!r}; choose one of: {', '.join(list_backbones())}"
        )
    annotations = load_annotations(args.annotations)
    if args.split is not None:
        annotations = annotations.split(args.split)
    exts = tuple(e if e.startswith(".") else f".{e}" for e in args.ext.split(","))
    checked = check_dataset(
        annotations,
        videos=args.videos,
        exts=exts,
        progress=None if args.no_progress else "checking",
    )
    if not checked.ok:
        print(checked.summary())
        print("extracting the other videos; fix these and run the same command again")
    backbone, weights, load_report = create_extraction_backbone(
        args.backbone, checkpoint=args.checkpoint, random_init=args.random_init, size=args.size
    )
    print(f"{args.backbone}: {weights.source}")
    if load_report is not None:
        print(load_report.summary())
    backbone.to(args.device)
    report = extract_features(
        backbone,
        annotations.videos,
        args.videos,
        args.out,
        weights=weights,
        size=args.size,
        exts=exts,
        snippet_frames=args.snippet_frames,
        feat_stride=args.feat_stride,
        frame_stride=args.frame_stride,
        batch_snippets=args.batch_snippets,
        precision=args.precision,
        device=args.device,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(report.summary())
    print(
        f"features in {args.out}, settings in {manifest_path(args.out)}: train with "
        f"data.feature_dir={args.out} (tadapt train reads data.feature_dim="
        f"{backbone.embed_dim}, data.feat_stride={args.feat_stride * args.frame_stride} and "
        f"data.num_frames={args.snippet_frames * args.frame_stride} from there)"
    )
    return 1 if report.failed or report.missing else 0
