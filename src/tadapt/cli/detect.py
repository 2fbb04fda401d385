"""``tadapt detect VIDEO_OR_FOLDER --checkpoint CKPT``: find actions in your own videos.

Restores the detector of a run folder, a full checkpoint (best.pt / last.pt), an
adapter-only checkpoint (adapters.pt, with --backbone when its config's backbone weights are
elsewhere) or an inference bundle of ``tadapt export`` and runs it on one video or on every
video of a folder, cut into the training config's evaluation windows and merged as
``tadapt test`` does. Head-only detectors (trained on features) take feature files
(.npy / .pt) instead of videos.

Writes, in --out (default: ./detections), per video:

* ``<video>.json``: its detections in the ActivityNet results format;
* ``<video>.csv``: ``video-id,t-start,t-end,label,score``;
* ``<video>.png``: a timeline, one lane per class, segments shaded by score (and the
  ground-truth lanes with --gt);

and ``report.html``, the run in one offline page (a sortable table of the detections, the
timelines inlined, the failures); for a folder also ``predictions.json``, all videos in one
file, which
``tadapt evaluate --gt ANNOTATIONS --pred OUT/predictions.json`` scores (with --min-score 0
and a --top-k of at least the config's eval.postprocess.max_segments, every detection, as
``tadapt test`` scores them). docs/detect.md has the details.
A folder run goes on past a video that fails, lists the failures at the end and exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by run() only: `tadapt detect --help` stays fast
    from tadapt.inference import Detector, VideoDetections
    from tadapt.io import Annotations

__all__ = ["add_parser", "run"]

_MERGED = "predictions.json"  # a folder run's file of all videos
_REPORT = "report.html"  # the run's offline HTML report


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt detect``."""
    parser = subparsers.add_parser(
        "detect",
        help=help_text,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        type=Path,
        metavar="VIDEO_OR_FOLDER",
        help="a video (or feature file), or a folder of them",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        type=Path,
        metavar="CKPT",
        help="run folder, its checkpoints/best.pt, last.pt or adapters.pt, or an export bundle",
    )
    parser.add_argument(
        "--backbone",
        type=Path,
        metavar="FILE",
        help="backbone weights an adapter-only checkpoint was trained on (default: its config's)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("detections"),
        metavar="DIR",
        help="output folder (default: detections)",
    )
    parser.add_argument(
        "--min-score",
        type=float,
        default=0.1,
        metavar="S",
        help="keep detections scoring at least S (default 0.1)",
    )
    parser.add_argument(
        "--top-k", type=int, default=50, metavar="K", help="keep at most K per video (default 50)"
    )
    parser.add_argument(
        "--device", default="cpu", metavar="DEVICE", help="cpu, cuda, cuda:N or auto (default cpu)"
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16", "amp"),
        help="inference precision (default fp32; fp16 needs CUDA)",
    )
    parser.add_argument(
        "--gt",
        type=Path,
        metavar="ANNOTATIONS",
        help="annotation file: ground-truth lanes in the timelines (and its durations / fps)",
    )
    parser.set_defaults(handler=run)


def _inputs(source: Path, exts: tuple[str, ...]) -> list[Path]:
    """The file itself, or the folder's files with one of ``exts`` (not recursive), sorted."""
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such video, feature file or folder")
    files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise FileNotFoundError(f"{source}: no {', '.join(exts)} file in this folder")
    stems = [p.stem for p in files]
    if _MERGED.removesuffix(".json") in stems:
        raise ValueError(
            f"{source}: a video named {_MERGED.removesuffix('.json')} would overwrite the merged "
            f"{_MERGED}; rename it"
        )
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(
            f"{source}: several files share the video ids {', '.join(clashes[:5])} (outputs "
            "are named by id): keep one file per id"
        )
    return files


def _ground_truth(
    annotations: Annotations | None, video_id: str
) -> tuple[list[tuple[float, float, str]] | None, float | None, float | None]:
    """The video's annotated instances, duration and fps (``None`` each when not annotated)."""
    if annotations is None or video_id not in annotations.videos:
        return None, None, None
    gt = annotations.videos[video_id]
    names = annotations.class_names
    instances = [
        (float(s), float(e), names[int(label)])
        for (s, e), label in zip(gt.segments.tensor.tolist(), gt.labels.tolist(), strict=True)
    ]
    return instances, gt.duration_sec, gt.fps


def _write(
    found: VideoDetections, out_dir: Path, truth: list[tuple[float, float, str]] | None
) -> None:
    """The video's JSON, CSV and timeline PNG."""
    from tadapt.inference.timeline import draw_timeline
    from tadapt.io import write_predictions_json
    from tadapt.io.predictions import write_predictions_csv

    stem = out_dir / found.video_id
    write_predictions_json(stem.with_suffix(".json"), [found.detections], found.class_names)
    write_predictions_csv(stem.with_suffix(".csv"), [found.detections], found.class_names)
    draw_timeline(stem.with_suffix(".png"), found, ground_truth=truth)


def _summary(found: VideoDetections, kept: VideoDetections, args: argparse.Namespace) -> str:
    """One line per video: what was kept, and a hint when the threshold kept nothing."""
    line = f"{found.path}: {len(kept)} detections -> {args.out / found.video_id}.json/.csv/.png"
    if len(found) and not len(kept):
        best = float(found.detections.scores.max())
        line += f" (best score {best:.3g} < --min-score {args.min_score:g}: lower it to see some)"
    return line


def _detect_all(
    detector: Detector,
    files: list[Path],
    args: argparse.Namespace,
    annotations: Annotations | None,
) -> tuple[list[VideoDetections], list[str], list[tuple[Path, str]]]:
    """Detect and write each file; a folder run notes a failing file and goes on.

    Returns:
        The kept detections per video, a summary line per video, and the failures.
    """
    from tqdm import tqdm

    done: list[VideoDetections] = []
    lines: list[str] = []
    failures: list[tuple[Path, str]] = []
    for path in tqdm(files, desc="detect", unit="video", disable=len(files) < 2 or None):
        truth, duration, fps = _ground_truth(annotations, path.stem)
        try:
            found = detector.detect(path, duration_sec=duration, fps=fps, progress=True)
            kept = found.filtered(min_score=args.min_score, top_k=args.top_k)
            _write(kept, args.out, truth)
        except (ValueError, OSError) as err:
            if len(files) == 1:
                raise
            message = str(err).splitlines()[0]
            failures.append((path, message if str(path) in message else f"{path}: {message}"))
            continue
        done.append(kept)
        lines.append(_summary(found, kept, args))
    return done, lines, failures


def _class_list(names: tuple[str, ...], shown: int = 20) -> str:
    """The class names for the report's header: their count and the first ``shown``."""
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return f"{len(names)}: {', '.join(names[:shown])}{more}"


def _report(
    detector: Detector,
    args: argparse.Namespace,
    done: list[VideoDetections],
    failures: list[tuple[Path, str]],
    total: int,
) -> Path:
    """The run's offline HTML report: its settings, detections, timelines and failures."""
    from tadapt.inference.report import write_html_report

    settings = {
        "checkpoint": str(args.checkpoint),
        "input": str(args.input),
        "classes": _class_list(detector.class_names),
        "min score / top k": f"{args.min_score:g} / {args.top_k}",
        "device / precision": f"{args.device} / {args.precision}",
        "ground truth": str(args.gt) if args.gt else "none",
    }
    timelines = {d.video_id: args.out / f"{d.video_id}.png" for d in done}
    return write_html_report(
        args.out / _REPORT,
        done,
        timelines,
        settings=settings,
        failures=[message for _, message in failures],
        total_files=total,
    )


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt detect``."""
    from tadapt.inference import Detector
    from tadapt.io import load_annotations, write_predictions_json

    if args.min_score < 0 or args.top_k < 1:
        raise ValueError("--min-score must be >= 0 and --top-k >= 1")
    annotations = load_annotations(args.gt, past_duration="keep") if args.gt else None
    detector = Detector.from_checkpoint(
        args.checkpoint, backbone=args.backbone, device=args.device, precision=args.precision
    )
    files = _inputs(args.input, detector.inputs.file_exts)
    args.out.mkdir(parents=True, exist_ok=True)
    done, lines, failures = _detect_all(detector, files, args, annotations)
    if lines:
        print("\n".join(lines))
    if args.input.is_dir():
        merged = args.out / _MERGED
        write_predictions_json(merged, [d.detections for d in done], detector.class_names)
        print(f"all videos: {merged}")
    print(f"report: {_report(detector, args, done, failures, len(files))}")
    if failures:
        print(f"{len(failures)} of {len(files)} files failed:", file=sys.stderr)
        for _, message in failures:
            print(f"  {message}", file=sys.stderr)
        return 1
    return 0
