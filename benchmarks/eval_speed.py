"""Evaluation speed, end to end: ``tadapt evaluate`` vs ActionFormer's public evaluator.

Writes one prediction file (half jittered copies of ground-truth instances, half random
segments, distinct random scores) for the real THUMOS-14 test ground truth in ActionFormer's
JSON (``thumos14_actionformer.json``), then times, each in its own fresh process from start to
exit:

* ``tadapt evaluate --gt GT --pred PRED --split test --dataset thumos14 --out REPORT``;
* ActionFormer's ``ANETdetection`` (``libs/utils/metrics.py`` of the ``actionformer==1.5.0``
  source distribution that ``make test`` downloads into ``.venv/reference/``): load its ground
  truth and the same prediction file, compute mAP (``num_workers`` = the CPU count).

Prints both times, their ratio and both mAPs, and fails unless the mAPs are identical.
ActionFormer's evaluator walks the predictions in a Python loop: on a 2-core machine it needs
minutes per 100,000 predictions, so the default million takes about an hour there.

    python benchmarks/eval_speed.py                      # 1,000,000 predictions
    python benchmarks/eval_speed.py --num-predictions 100000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_GT = ROOT / "tests" / "data" / "thumos14" / "thumos14_actionformer.json.gz"
PEER = ROOT / ".venv/reference/actionformer-1.5.0/actionformer/utils/metrics.py"
THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7]

# ActionFormer's evaluator, end to end: import, read both files, compute mAP
_PEER_DRIVER = """
import importlib.util, json, os, sys
import numpy as np
spec = importlib.util.spec_from_file_location("actionformer_metrics", sys.argv[1])
metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(metrics)
evaluator = metrics.ANETdetection(
    sys.argv[2], split="test", tiou_thresholds=np.array(json.loads(sys.argv[4])),
    num_workers=os.cpu_count(),
)
mean_ap, average_map, _ = evaluator.evaluate(sys.argv[3], verbose=False)
print(json.dumps({"average_mAP": float(average_map), "mAP": [float(x) for x in mean_ap]}))
"""


def write_predictions(gt_path: Path, out: Path, num: int, seed: int) -> int:
    """ActionFormer-format predictions around the test split's instances; returns the count."""
    rng = np.random.default_rng(seed)
    database = json.loads(gt_path.read_text())["database"]
    test = {vid: v for vid, v in database.items() if v["subset"].lower() == "test"}
    instances = [(vid, a) for vid, v in test.items() for a in v["annotations"]]
    label_ids = sorted({a["label_id"] for _, a in instances})
    vids = list(test)
    num_near = num // 2
    pick = rng.integers(0, len(instances), num_near)
    src = np.array([instances[i][1]["segment"] for i in pick], dtype=np.float64)
    length = src[:, 1] - src[:, 0]
    jittered = src + rng.normal(0, 0.3, (num_near, 2)) * length[:, None]
    near_label = np.array([instances[i][1]["label_id"] for i in pick])
    wrong = rng.random(num_near) < 0.2  # sometimes another class
    near_label[wrong] = rng.choice(label_ids, int(wrong.sum()))
    far_video = rng.integers(0, len(vids), num - num_near)
    duration = np.array([test[vids[i]]["duration"] for i in far_video])
    far_start = rng.uniform(0, 1, num - num_near) * duration
    far = np.stack([far_start, far_start + rng.uniform(0.5, 20, num - num_near)], axis=1)
    videos = [instances[i][0] for i in pick] + [vids[i] for i in far_video]
    segments = np.concatenate([np.sort(jittered, axis=1), far])
    labels = np.concatenate([near_label, rng.choice(label_ids, num - num_near)])
    scores = rng.random(num)  # continuous: no ties, so the peer's unstable sort is exact
    results: dict[str, list[dict[str, object]]] = {vid: [] for vid in vids}
    for vid, (s, e), label, score in zip(
        videos, segments.tolist(), labels.tolist(), scores.tolist(), strict=True
    ):
        results[vid].append({"segment": [s, e], "label_id": label, "scores": score})
    out.write_text(json.dumps({"database": results}))
    return num


def timed(command: list[str]) -> tuple[float, str]:
    """Wall time of ``command`` in a fresh process, and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{command[:3]} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    """Run the benchmark and print what it measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gt", type=Path, default=DEFAULT_GT, help="ActionFormer THUMOS JSON (or .json.gz)"
    )
    parser.add_argument("--num-predictions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.gt.is_file():
        sys.exit(f"ground truth not found: {args.gt} (pass --gt)")
    if not PEER.is_file():
        sys.exit(f"ActionFormer's evaluator not found at {PEER}: run `make test` once")

    with tempfile.TemporaryDirectory() as tmp:
        if args.gt.suffix == ".gz":  # the copy shipped in tests/data is compressed
            plain = Path(tmp) / args.gt.stem
            plain.write_bytes(gzip.decompress(args.gt.read_bytes()))
            args.gt = plain
        pred = Path(tmp) / "predictions.json"
        report = Path(tmp) / "report.json"
        write_predictions(args.gt, pred, args.num_predictions, args.seed)
        size_mb = pred.stat().st_size / 1e6
        print(
            f"ground truth: {args.gt.name} (test), predictions: {args.num_predictions:,} "
            f"({size_mb:.0f} MB), tIoU {THRESHOLDS}, {os.cpu_count()} CPUs"
        )

        tadapt_cmd = [sys.executable, "-m", "tadapt", "evaluate", "--gt", str(args.gt),
                      "--pred", str(pred), "--split", "test", "--dataset", "thumos14",
                      "--out", str(report)]  # fmt: skip
        tadapt_s, _ = timed(tadapt_cmd)
        ours = json.loads(report.read_text())
        peer_cmd = [sys.executable, "-c", _PEER_DRIVER, str(PEER), str(args.gt), str(pred),
                    json.dumps(THRESHOLDS)]  # fmt: skip
        peer_s, peer_out = timed(peer_cmd)
        theirs = json.loads(peer_out.strip().splitlines()[-1])

    our_map = [ours["mAP"][f"{t:.2f}"] for t in THRESHOLDS]
    diff = max(abs(a - b) for a, b in zip(our_map, theirs["mAP"], strict=True))
    print(f"tadapt evaluate (process, end to end):  {tadapt_s:8.2f} s")
    print(f"ActionFormer ANETdetection (process):   {peer_s:8.2f} s")
    print(f"speed-up: {peer_s / tadapt_s:.1f}x")
    print(
        f"average mAP: tadapt {100 * ours['average_mAP']:.10f} %, "
        f"ActionFormer {100 * theirs['average_mAP']:.10f} % (max |mAP difference| {diff:.1e})"
    )
    if diff > 1e-12:
        sys.exit("the two evaluators disagree")


if __name__ == "__main__":
    main()
