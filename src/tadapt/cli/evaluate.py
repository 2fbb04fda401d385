"""``tadapt evaluate``: score a prediction file against a ground-truth file.

Reads any supported annotation format (auto-detected), selects the split, evaluates with
the ActivityNet protocol at the dataset's tIoU thresholds, prints a table in percent and
optionally writes a JSON report whose numbers are fractions in ``[0, 1]``. The ground truth is
scored as the file gives it, as the public evaluators do: instances past their video's
duration are counted, not clipped or dropped.

A ``predictions.json`` written by ``tadapt train`` / ``tadapt test`` says how its run scored
it (tIoU thresholds, split, Ambiguous policy, blocked list): options not given take those
values, so the run's mAP is reproduced; the first printed line says where each came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tadapt.evaluation import (
    TIOU_PRESETS,
    EvaluationResult,
    evaluate_detections,
    tiou_thresholds_for,
)
from tadapt.io import (
    Annotations,
    load_annotations,
    load_blocked_videos,
    read_evaluation_settings,
    read_predictions,
    write_text_atomic,
)
from tadapt.structures import DetectionTable

__all__ = ["add_parser", "evaluate_files", "infer_dataset"]

_logger = logging.getLogger(__name__)

_Number = TypeVar("_Number", int, float)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt evaluate``."""
    parser = subparsers.add_parser(
        "evaluate",
        help=help_text,
        description=__doc__,
    )
    parser.add_argument("--gt", required=True, type=Path, help="ground-truth annotation file")
    parser.add_argument(
        "--pred",
        required=True,
        type=Path,
        help="predictions: ActivityNet results JSON, ActionFormer JSON or CSV",
    )
    parser.add_argument(
        "--split",
        help="subset to evaluate, case-insensitive; the roles train/test are mapped per format",
    )
    parser.add_argument(
        "--dataset",
        choices=sorted(TIOU_PRESETS),
        help="tIoU threshold preset (default: the run's, for a tadapt predictions file; else "
        "inferred from the ground truth)",
    )
    parser.add_argument("--tiou", help="explicit comma-separated tIoU thresholds, e.g. 0.3,0.5,0.7")
    parser.add_argument(
        "--ambiguous",
        choices=["remove", "ignore_fp"],
        help="THUMOS Ambiguous regions: only removed from the ground truth (default), or also "
        "ignore false positives overlapping them (THUMOS MATLAB kit behaviour)",
    )
    parser.add_argument(
        "--category-file", type=Path, help="OpenTAD category_idx.txt (default: next to --gt)"
    )
    parser.add_argument(
        "--blocked",
        type=Path,
        help="blocked-video list (OpenTAD's ActivityNet blocked.json, or one id per line): "
        "those videos leave the ground truth and the predictions",
    )
    parser.add_argument(
        "--unknown-labels",
        choices=["error", "ignore"],
        default="error",
        help="predicted labels that are not class names of the ground truth",
    )
    parser.add_argument("--top-k", default="1,5", help="k of the top-k-x recall (default 1,5)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--no-per-class", action="store_true", help="print only the summary")
    parser.set_defaults(handler=run)


def infer_dataset(annotations: Annotations) -> str | None:
    """Guess the threshold preset from the ground truth; ``None`` when unsure."""
    if (
        annotations.format in ("activitynet", "bsn_activitynet")
        or len(annotations.class_names) == 200
    ):
        return "activitynet"
    ids = annotations.table.video_ids[:50]
    if any(v.startswith(("video_test_", "video_validation_")) for v in ids):
        return "multithumos" if len(annotations.class_names) == 65 else "thumos14"
    return None


def _align_video_ids(detections: DetectionTable, gt_ids: set[str]) -> tuple[DetectionTable, int]:
    """Map prediction ids to ground-truth ids across the ``v_`` prefix (BSN vs official ANet).

    Returns the detections and how many videos were renamed.
    """
    aligned, renamed = [], 0
    for video_id in detections.video_ids:
        if video_id not in gt_ids:
            other = video_id[2:] if video_id.startswith("v_") else f"v_{video_id}"
            if other in gt_ids:
                video_id = other
                renamed += 1
        aligned.append(video_id)
    return dataclasses.replace(detections, video_ids=tuple(aligned)), renamed


def evaluate_files(
    gt_path: Path,
    pred_path: Path,
    *,
    split: str | None = None,
    dataset: str | None = None,
    tiou: str | None = None,
    ambiguous: str | None = None,
    category_file: Path | None = None,
    blocked: Path | None = None,
    unknown_labels: str = "error",
    top_k: str = "1,5",
) -> tuple[EvaluationResult, dict[str, Any]]:
    """Load both files, evaluate, and describe what was evaluated.

    ``split``, the thresholds (``dataset`` / ``tiou``), ``ambiguous`` and ``blocked`` left
    ``None`` take the values a tadapt predictions file records (its run's), else the
    defaults: one subset of the file, the thresholds inferred from the ground truth,
    ``remove``, no blocked list.

    Returns:
        The result and a JSON-ready dict of the run's settings and data-loading counts
        (``meta["from_run"]`` names the settings taken from the predictions file).

    Raises:
        ValueError: bad input, with a message naming the file and the problem.
    """
    run = read_evaluation_settings(pred_path) or {}
    from_run: list[str] = []
    if split is None and run.get("split") is not None:
        split, from_run = run["split"], [*from_run, "split"]
    if ambiguous is None and run.get("ambiguous") is not None:
        ambiguous, from_run = run["ambiguous"], [*from_run, "ambiguous"]
    if blocked is None and run.get("blocked_file") is not None:
        blocked, from_run = Path(run["blocked_file"]), [*from_run, "blocked"]
    annotations = load_annotations(gt_path, category_file=category_file, past_duration="keep")
    if split is not None:
        annotations = annotations.split(split)
    elif len(annotations.subsets()) > 1:
        raise ValueError(
            f"{gt_path} holds several subsets {annotations.subsets()}: choose one with --split "
            f"(roles: {', '.join(sorted(annotations.split_aliases)) or 'none'})"
        )
    if not annotations.table.video_ids:
        raise ValueError(f"{gt_path}: no videos in split {split!r}")
    thresholds: Sequence[float]
    source = "given"
    if tiou is not None:
        thresholds = _parse_list(tiou, "--tiou", float)
        preset = "custom"
    elif dataset is None and run.get("tiou_thresholds"):
        thresholds = [float(t) for t in run["tiou_thresholds"]]
        preset, source = "run", "the run's eval.tiou_thresholds"
        from_run.append("tiou_thresholds")
    else:
        preset = dataset or infer_dataset(annotations) or "activitynet"
        if dataset is None:
            source = "inferred from the ground truth; --dataset or --tiou to choose"
        thresholds = tiou_thresholds_for(preset)
    detections, num_unknown_label = read_predictions(
        pred_path,
        annotations.class_names,
        unknown_labels=unknown_labels,  # type: ignore[arg-type]
    )
    aligned, renamed = _align_video_ids(detections, set(annotations.table.video_ids))
    if renamed:
        _logger.warning(
            "%d prediction videos matched the ground truth after a v_ prefix change", renamed
        )
    result = evaluate_detections(
        annotations.table,
        aligned,
        annotations.class_names,
        thresholds,
        top_k=_parse_list(top_k, "--top-k", int),
        ambiguous=ambiguous or "remove",  # type: ignore[arg-type]
        blocked_videos=load_blocked_videos(blocked) if blocked is not None else (),
    )
    meta = {
        "ground_truth": str(gt_path),
        "predictions": str(pred_path),
        "format": annotations.format,
        "split": split,
        "tiou_preset": preset,
        "tiou_source": source,
        "tiou_thresholds": [float(t) for t in thresholds],
        "ambiguous": ambiguous or "remove",
        "blocked": str(blocked) if blocked is not None else None,
        "num_videos": len(annotations.table.video_ids),
        "num_instances": annotations.num_instances,
        "num_predictions": len(aligned),
        "num_unknown_label_predictions": num_unknown_label,
        "num_renamed_videos": renamed,
        "from_run": from_run,
    }
    return result, meta


def _parse_list(text: str, option: str, kind: Callable[[str], _Number]) -> list[_Number]:
    """Parse ``"0.3,0.5"`` into numbers of ``kind``; a ValueError names the option."""
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"{option} expects comma-separated {kind.__name__} values, got {text!r}"
        ) from None
    if not values:
        raise ValueError(f"{option} expects at least one value, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt evaluate``."""
    result, meta = evaluate_files(
        args.gt,
        args.pred,
        split=args.split,
        dataset=args.dataset,
        tiou=args.tiou,
        ambiguous=args.ambiguous,
        category_file=args.category_file,
        blocked=args.blocked,
        unknown_labels=args.unknown_labels,
        top_k=args.top_k,
    )
    split = f", split {meta['split']!r}" if meta["split"] else ""
    print(
        f"{meta['ground_truth']} ({meta['format']}{split}): {meta['num_videos']} videos, "
        f"{meta['num_instances']} instances; {meta['num_predictions']} predictions; "
        f"tIoU {', '.join(f'{t:g}' for t in meta['tiou_thresholds'])} "
        f"({meta['tiou_preset']}: {meta['tiou_source']})"
    )
    if meta["from_run"]:
        print(
            f"as the run that wrote {meta['predictions']} scored it: "
            f"{', '.join(meta['from_run'])} from the file (options override them)"
        )
    if result.num_past_duration:
        print(
            f"{result.num_past_duration} ground-truth instances end after their video's "
            "duration: evaluated as given, as the public evaluators do"
        )
    if meta["blocked"]:
        print(
            f"blocked ({meta['blocked']}): {result.num_blocked_videos} videos and "
            f"{result.num_blocked_predictions} predictions left out"
        )
    print(result.format_table(per_class=not args.no_per_class))
    if args.out is not None:
        write_text_atomic(args.out, json.dumps({**result.to_dict(), "meta": meta}, indent=2))
        print(f"report written to {args.out}")
    return 0
