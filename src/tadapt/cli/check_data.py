"""``tadapt check-data``: find missing, undecodable or mismatched videos before training.

Checks every video of an annotation file (or one split) against a video folder, or against a
folder of pre-extracted features, and prints a summary table (see :mod:`tadapt.data.check`).
Exit code 0 when nothing is wrong, 1 when problems were found, 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tadapt.data.files import VIDEO_EXTS  # torch-free

__all__ = ["add_parser", "run"]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt check-data``."""
    parser = subparsers.add_parser(
        "check-data",
        help=help_text,
        description=__doc__,
    )
    parser.add_argument(
        "--annotations", required=True, type=Path, help="annotation file (any supported format)"
    )
    folder = parser.add_mutually_exclusive_group(required=True)
    folder.add_argument("--videos", type=Path, help="folder of videos (searched recursively)")
    folder.add_argument("--features", type=Path, help="folder of (T, C) feature files")
    parser.add_argument("--split", help="check one subset only (or a role: train, test)")
    parser.add_argument(
        "--ext",
        default=",".join(VIDEO_EXTS),
        help=f"video extensions, comma-separated (default {','.join(VIDEO_EXTS)}, as training)",
    )
    parser.add_argument(
        "--feature-ext", default=".npy", choices=[".npy", ".pt"], help="feature file type"
    )
    parser.add_argument("--prefix", default="", help="file-name prefix before the video id")
    parser.add_argument(
        "--category-file", type=Path, help="OpenTAD category_idx.txt (default: next to the file)"
    )
    parser.add_argument(
        "--no-decode",
        action="store_true",
        help="only probe containers; skip decoding the first and last frame (faster)",
    )
    parser.add_argument(
        "--duration-tol-sec", type=float, default=1.0, help="allowed duration difference (s)"
    )
    parser.add_argument(
        "--duration-tol-frac",
        type=float,
        default=0.02,
        help="allowed relative duration difference (default 0.02)",
    )
    parser.add_argument(
        "--duration-floor-frames",
        type=float,
        default=2.0,
        help="differences up to this many frames are never flagged (default 2)",
    )
    parser.add_argument(
        "--channels", type=int, help="the C every feature file must have (default: the most common)"
    )
    parser.add_argument("--workers", type=int, default=4, help="parallel checks (threads)")
    parser.add_argument("--max-rows", type=int, default=50, help="problem rows to print")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Check the dataset, print the table; 0 when clean, 1 when problems were found."""
    from tadapt.data.check import check_dataset  # PyAV and the annotation readers

    report = check_dataset(
        args.annotations,
        videos=args.videos,
        features=args.features,
        split=args.split,
        exts=args.ext,
        feature_ext=args.feature_ext,
        prefix=args.prefix,
        category_file=args.category_file,
        decode=not args.no_decode,
        duration_tol_sec=args.duration_tol_sec,
        duration_tol_frac=args.duration_tol_frac,
        duration_floor_frames=args.duration_floor_frames,
        channels=args.channels,
        workers=args.workers,
        progress="checking",
    )
    print(report.summary(max_rows=args.max_rows))
    return 0 if report.ok else 1
