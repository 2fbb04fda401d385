"""Evaluation speed: tadapt's vectorised mAP vs a straightforward pandas/loop implementation.

Evaluates random predictions (half jittered copies of ground truth, half random segments)
against the real THUMOS-14 test ground truth with both implementations in the same run,
checks that they give identical AP (to 1e-9), and prints both times and their ratio.

    python benchmarks/eval_speed.py                      # 1,000,000 predictions
    python benchmarks/eval_speed.py --num-predictions 100000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loop reference and frame helpers live there

from frames import (  # noqa: E402
    detections_from_frame,
    ground_truth_from_frame,
    random_predictions,
    thumos_csv_frame,
)
from reference_map import reference_map  # noqa: E402
from tadapt.evaluation import evaluate_detections, tiou_thresholds_for  # noqa: E402

DEFAULT_GT = ROOT / "tests" / "data" / "thumos14" / "test_Annotation.csv"


def main() -> None:
    """Run the benchmark and print what it measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, default=DEFAULT_GT, help="THUMOS-14 gtad-style CSV")
    parser.add_argument("--num-predictions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.gt.is_file():
        sys.exit(f"ground truth not found: {args.gt} (pass --gt)")

    gt = thumos_csv_frame(args.gt)
    classes = sorted(gt["label"].unique())
    thresholds = np.asarray(tiou_thresholds_for("thumos14"))
    pred = random_predictions(gt, args.num_predictions, args.seed)
    print(f"ground truth: {args.gt.name}, {gt['video-id'].nunique()} videos, {len(gt)} instances")
    print(f"predictions:  {len(pred):,} (seed {args.seed}), tIoU {thresholds.tolist()}")

    t0 = time.perf_counter()
    gts = ground_truth_from_frame(gt, classes)
    dets = detections_from_frame(pred, classes)
    t1 = time.perf_counter()
    result = evaluate_detections(gts, dets, classes, thresholds)
    t2 = time.perf_counter()
    expected = reference_map(gt, pred, thresholds)
    t3 = time.perf_counter()

    max_diff = float(np.abs(result.ap - expected).max())
    fast, fast_total, slow = t2 - t1, t2 - t0, t3 - t2
    print(f"tadapt evaluate_detections:        {fast:8.2f} s")
    print(f"  + building Detections from pandas: {fast_total:6.2f} s")
    print(f"pandas/loop reference:             {slow:8.2f} s")
    print(
        f"speed-up: {slow / fast:.1f}x (evaluation only), "
        f"{slow / fast_total:.1f}x (with conversion)"
    )
    print(
        f"average mAP: tadapt {100 * result.average_map:.4f} %, "
        f"reference {100 * expected.mean():.4f} %"
    )
    print(
        f"max |AP difference|: {max_diff:.2e} ({'identical' if max_diff <= 1e-9 else 'DIFFERENT'})"
    )
    if max_diff > 1e-9:
        sys.exit(1)


if __name__ == "__main__":
    main()
