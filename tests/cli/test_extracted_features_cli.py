"""``tadapt extract`` then ``tadapt train`` / ``tadapt test``: the manifest carries the layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tadapt.cli.experiment import build_model, prepare_experiment
from tadapt.cli.main import main
from tadapt.config import load_config
from tadapt.data.synthetic import write_video
from tadapt.engine import save_checkpoint
from tadapt.io.feature_manifest import MANIFEST_FILE

SIZE = 64


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> tuple[Path, Path]:
    """96-d features of the bundled tiny ViT for 2 videos, and their annotation file."""
    root = tmp_path_factory.mktemp("extracted")
    rng = np.random.default_rng(0)
    database = {}
    for vid, subset in (("a", "train"), ("b", "test")):
        clip = rng.integers(0, 255, (44, SIZE, SIZE, 3), dtype=np.uint8)
        write_video(root / "videos" / f"{vid}.mp4", list(clip), fps=15)
        action = {"label": "act", "segment": [0.5, 2.0], "label_id": 0}
        database[vid] = {"subset": subset, "duration": 2.9, "fps": 15.0, "annotations": [action]}
    annotations = root / "ann.json"
    annotations.write_text(json.dumps({"version": "x", "database": database}))
    argv = ["extract", str(root / "feats"), "--annotations", str(annotations)]
    argv += ["--videos", str(root / "videos"), "--backbone", "videomae_tiny_patch16"]
    assert main([*argv, "--size", str(SIZE), "--no-progress"]) == 0
    return root / "feats", annotations


def _train_argv(extracted: tuple[Path, Path], run: Path, *overrides: str) -> list[str]:
    features, annotations = extracted
    return [
        "train",
        "tiny_synthetic_features",  # sets feature_dim 32, feat_stride 4, num_frames 16
        "data.synthetic=null",
        f"data.feature_dir={features}",
        f"data.annotation_file={annotations}",
        "train.epochs=1",
        "train.batch_size=1",
        "train.progress=false",
        *overrides,
        "--out-dir",
        str(run),
    ]


def test_the_layout_comes_from_the_manifest(extracted, tmp_path, capsys):
    unset = ["data.feature_dim=null", "data.feat_stride=null", "data.num_frames=null"]
    argv = _train_argv(extracted, tmp_path / "unused", *unset)
    config, _ = prepare_experiment(argv[1], argv[2:-2], tmp_path / "unused")
    data = config.data
    assert (data.feature_dim, data.feat_stride, data.num_frames) == (96, 4, 16)
    # through the command line: a detector for 96-d features evaluates on them
    save_checkpoint(tmp_path / "last.pt", {"model": build_model(config).state_dict()})
    argv = ["test", *argv[1:-2], "--checkpoint", str(tmp_path / "last.pt")]
    assert main([*argv, "--out-dir", str(tmp_path / "test")]) == 0
    assert "mAP" in capsys.readouterr().out
    saved = load_config(tmp_path / "test" / "config.yaml").data
    assert (saved.feature_dim, saved.feat_stride, saved.num_frames) == (96, 4, 16)


def test_train_refuses_a_layout_the_features_do_not_have(extracted, tmp_path, capsys):
    manifest = extracted[0] / MANIFEST_FILE
    assert main(_train_argv(extracted, tmp_path / "run")) == 2  # the preset's 32-d
    err = capsys.readouterr().err
    assert (
        f"tadapt train: error: data.feature_dim: the config says 32, but {manifest} says the "
        "features are 96-d (videomae_tiny_patch16); set data.feature_dim=96, or null to take "
        "the manifest's"
    ) in err
    argv = _train_argv(extracted, tmp_path / "run", "data.feature_dim=null", "data.feat_stride=8")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        f"data.feat_stride: the config says 8 video frames between features, but {manifest}" in err
    )
    assert "every predicted time would be 2 times the true one" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
