"""The shipped tiny ViT carries a signal a frozen detector can use.

Head-only detection (``tadapt extract`` then ``tadapt train`` on the features) on a few
rendered videos of motion classes: the shipped weights against a random init of the same
backbone, with the same videos, head, schedule and seed. No threshold: the shipped features
must localize better, whatever the two numbers are.
"""

from __future__ import annotations

from pathlib import Path

from tadapt.cli.main import main
from tadapt.cli.train import train_experiment
from tadapt.data.synthetic import SyntheticConfig, generate_synthetic_dataset

# four of the ten classes the shipped weights were fine-tuned on, the easy setting they saw
VIDEOS = SyntheticConfig(
    num_videos=16, classes=("grow", "shrink", "move_up", "move_down"), duration_sec=12.0,
    fps=15.0, size=64, actions_per_video=(2, 3), action_duration_sec=(2.0, 5.0),
    distractors_per_video=(0, 0), object_radius=(0.12, 0.3), noise_std=(0.0, 1.0),
    background_detail=(0.0, 1.0), test_fraction=0.5, seed=11,
)  # fmt: skip


def _head_only_average_map(data: Path, features: Path, weights: list[str], run: Path) -> float:
    """Extract ``weights``' features of ``data``'s videos, train and test a head on them."""
    annotations = data / "annotations.json"
    argv = ["extract", str(features), "--annotations", str(annotations)]
    argv += ["--videos", str(data / "videos"), *weights, "--size", "64", "--frame-stride", "2"]
    assert main([*argv, "--no-progress"]) == 0
    overrides = [
        "data.synthetic=null",
        f"data.feature_dir={features}",
        f"data.annotation_file={annotations}",
        "data.feature_dim=null",  # the manifest's: 96-d, every 4th frame, 16-frame snippets
        "data.feat_stride=null",
        "data.num_frames=null",
        "data.fps=null",  # each video's, from the annotation file
        "train.epochs=30",
        "train.progress=false",
    ]
    result = train_experiment("tiny_synthetic_features", overrides, out_dir=run)
    return float(result.metrics["average_mAP"])


def test_frozen_shipped_features_localize_better_than_a_random_init(tmp_path: Path) -> None:
    data = tmp_path / "videos"
    generate_synthetic_dataset(data, VIDEOS, workers=1, progress=False)
    shipped = ["--backbone", "videomae_tiny_patch16.synth"]
    random_init = ["--backbone", "videomae_tiny_patch16", "--random-init"]
    averages = {
        name: _head_only_average_map(data, tmp_path / f"{name}_features", weights, tmp_path / name)
        for name, weights in (("shipped", shipped), ("random", random_init))
    }
    assert averages["shipped"] > averages["random"], averages
