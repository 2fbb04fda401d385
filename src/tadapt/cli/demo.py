"""``tadapt demo``: the main job on an embedded default, on CPU, in under a minute.

1. **Evaluator self-check.** The demo writes a small ground-truth file (ActionFormer format)
   and a prediction file (ActivityNet results format) whose mAP is known in closed form,
   evaluates them through the same code path as ``tadapt evaluate``, and checks the answer.
2. **Training.** It trains the ActionFormer-style detector of the ``tiny_synthetic_features``
   preset on generated features with planted actions (``tadapt train``'s code path), then
   evaluates it on held-out videos and prints the mAP table. The run folder
   (``OUT/tiny_run``: config, checkpoints, metrics, predictions, report) is replaced on each
   demo run.
3. **End to end.** It renders synthetic videos (``OUT/videos``, kept between runs) and
   trains the ``tiny_synthetic_videos`` preset twice from the same pretrained backbone (the
   4-block ViT tadapt ships, ``videomae_tiny_patch16.synth``, pretrained on videos of other
   motion classes): head only on its frozen features (``OUT/tiny_frozen``) and with AdaTAD's
   temporal-informative adapters trained through the frozen ViT (``OUT/tiny_tia``); it prints
   both mAPs side by side, the papers' comparison at the smallest scale.

The known answer: every class has 10 instances, each predicted once with a segment shifted
to an exact tIoU of 1.0 (4 instances), 0.65 (2), 0.45 (2) or 0.35 (2), scored in that order,
plus low-scored false positives in a video without actions. Because the true positives at any
threshold are exactly the best-scored predictions, AP(t) is the fraction of instances with
tIoU >= t: 1.0, 0.8, 0.6, 0.6, 0.4 at THUMOS' 0.3:0.1:0.7, so average mAP = 68 %.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from tadapt.cli.evaluate import evaluate_files
from tadapt.cli.train import train_experiment
from tadapt.io import write_predictions_json, write_text_atomic
from tadapt.structures import Detections, Segments

__all__ = ["add_parser", "write_known_answer_set"]

DEMO_CLASSES = ("Jump", "Spin", "Wave")
# (tIoU of the prediction, how many of a class's 10 instances get it), best-scored first
TIOU_TIERS = ((1.0, 4), (0.65, 2), (0.45, 2), (0.35, 2))
THUMOS_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
# step 3: head-only transfer vs AdaTAD's temporal-informative adapters, same backbone
DEMO_STRATEGIES = ("frozen", "tia")
EXPECTED_AVERAGE_MAP = float(
    np.mean([sum(n for q, n in TIOU_TIERS if q >= t) / 10 for t in THUMOS_THRESHOLDS])
)


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], help_text: str | None = None
) -> None:
    """Register ``tadapt demo``."""
    parser = subparsers.add_parser("demo", help=help_text, description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(handler=run)


def write_known_answer_set(out_dir: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``ground_truth.json`` and ``predictions.json`` with the documented answer."""
    rng = np.random.default_rng(seed)
    tiers = [q for q, n in TIOU_TIERS for _ in range(n)]
    database: dict[str, dict[str, object]] = {}
    detections: list[Detections] = []
    for label, name in enumerate(DEMO_CLASSES):
        for i, tiou in enumerate(tiers):
            video_id = f"demo_{name.lower()}_{i:02d}"
            length = float(rng.uniform(3.0, 10.0))
            start = float(rng.uniform(5.0, 40.0))
            database[video_id] = _video(start, start + length, name, label)
            # shifting by d gives tIoU (L - d) / (L + d) = tiou
            shift = length * (1.0 - tiou) / (1.0 + tiou)
            score = 1.0 - 0.2 * TIOU_TIERS.index(next(t for t in TIOU_TIERS if t[0] == tiou))
            detections.append(_detection(video_id, start + shift, length, score - 0.001 * i, label))
    database["demo_background"] = {
        "subset": "Test",
        "duration": 60.0,
        "fps": 30.0,
        "annotations": [],
    }
    for label in range(len(DEMO_CLASSES)):
        starts = rng.uniform(0.0, 50.0, 5)
        detections.append(
            Detections(
                "demo_background",
                Segments(torch.tensor(np.stack([starts, starts + 5.0], 1))),
                torch.full((5,), 0.05, dtype=torch.float64),
                torch.full((5,), label, dtype=torch.int64),
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    gt_path, pred_path = out_dir / "ground_truth.json", out_dir / "predictions.json"
    gt_path.write_text(json.dumps({"version": "tadapt-demo", "database": database}, indent=1))
    write_predictions_json(pred_path, detections, DEMO_CLASSES)
    return gt_path, pred_path


def _video(start: float, end: float, name: str, label: int) -> dict[str, object]:
    return {
        "subset": "Test",
        "duration": 60.0,
        "fps": 30.0,
        "annotations": [
            {
                "label": name,
                "segment": [start, end],
                "segment(frames)": [start * 30.0, end * 30.0],
                "label_id": label,
            }
        ],
    }


def _detection(video_id: str, start: float, length: float, score: float, label: int) -> Detections:
    return Detections(
        video_id,
        Segments([[start, start + length]]),
        torch.tensor([score], dtype=torch.float64),
        torch.tensor([label]),
    )


def run(args: argparse.Namespace) -> int:
    """Execute ``tadapt demo``; exit code 1 if the evaluator misses the known answer."""
    print("== 1/3 evaluator self-check ==")
    gt_path, pred_path = write_known_answer_set(args.out, args.seed)
    result, meta = evaluate_files(gt_path, pred_path, split="test", dataset="thumos14")
    report = args.out / "report.json"
    write_text_atomic(report, json.dumps({**result.to_dict(), "meta": meta}, indent=2))
    ok = abs(result.average_map - EXPECTED_AVERAGE_MAP) < 1e-9
    verdict = "OK" if ok else "MISMATCH"
    print(
        f"known answer: average mAP {100 * EXPECTED_AVERAGE_MAP:.2f} %, "
        f"measured {100 * result.average_map:.2f} % -> {verdict} ({report})"
    )
    if not ok:
        return 1
    print("== 2/3 train the tiny detector on synthetic features, evaluate on held-out videos ==")
    run_dir = args.out / "tiny_run"
    shutil.rmtree(run_dir, ignore_errors=True)  # the demo's own previous run
    trained = train_experiment(
        "tiny_synthetic_features", ["train.progress=false"], out_dir=run_dir, command="tadapt demo"
    )
    if trained.report is None:
        raise ValueError(f"the demo run in {run_dir} wrote no evaluation report")
    summary = json.loads(trained.report.read_text())
    thresholds = "  ".join(f"{k}: {100 * v:5.2f}" for k, v in summary["mAP"].items())
    print(f"mAP (%) at tIoU  {thresholds}")
    print(f"average mAP: {100 * summary['average_mAP']:.2f} %  (run folder: {run_dir})")
    print(
        "== 3/3 end to end from videos: the shipped pretrained ViT, head only (frozen) vs "
        "AdaTAD's adapters (tia) =="
    )
    rows = []
    for strategy in DEMO_STRATEGIES:
        run_dir = args.out / f"tiny_{strategy}"
        shutil.rmtree(run_dir, ignore_errors=True)
        overrides = [
            "train.progress=false",
            f"model.strategy={strategy}",
            f"data.synthetic_videos.cache_dir={args.out / 'videos'}",
        ]
        run = train_experiment("tiny_synthetic_videos", overrides, out_dir=run_dir, command="demo")
        rows.append((strategy, run.metrics["average_mAP"], run_dir))
    print(f"{'strategy':<10}{'average mAP':>12}  run folder")
    for strategy, value, run_dir in rows:
        print(f"{strategy:<10}{100 * value:>10.2f} %  {run_dir}")
    print(
        "same videos, same pretrained backbone (videomae_tiny_patch16.synth), same head and "
        "schedule; every strategy: tadapt train tiny_synthetic_videos model.strategy=losa; "
        "the full comparison: benchmarks/mini_repro.py"
    )
    return 0
