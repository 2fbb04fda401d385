"""Commands that need no model start without importing torch (it alone takes seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from real_data import real_file
from tadapt.io.decoder import probe_video

# runs the command in-process, then reports whether torch was imported
_DRIVER = """
import json, sys
from tadapt.cli.main import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exit:  # --help exits through argparse
    rc = exit.code
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules}))
"""


def _run(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, *argv],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["evaluate", "--help"],
        ["list", "presets"],
        ["check-data", "--help"],
        ["pretrain", "--help"],
        ["detect", "--help"],
    ],
)
def test_commands_without_a_model_do_not_import_torch(argv):
    assert _run(*argv) == {"rc": 0, "torch": False}


def test_loading_a_preset_does_not_import_torch():
    code = (
        "import sys; from tadapt.config import load_config; "
        "c = load_config('losa_thumos14_videomaev2_g_768x1_224'); "
        "print(c.model.adapter.losa.num_heads, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["4", "False"]


@pytest.mark.data
def test_evaluate_does_not_import_torch(real_data: Path, tmp_path: Path):
    gt_path = real_data / "thumos14" / "thumos14_actionformer.json"
    database = json.loads(gt_path.read_text())["database"]
    results = {
        vid: [
            {"segment": a["segment"], "label": a["label"], "score": 0.5}
            for a in video["annotations"]
        ]
        for vid, video in database.items()
        if video["subset"] == "Test"
    }
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"results": results}))
    out = tmp_path / "report.json"
    argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred), "--split", "test"]
    assert _run(*argv, "--out", str(out)) == {"rc": 0, "torch": False}
    assert json.loads(out.read_text())["average_mAP"] == pytest.approx(1.0)


def _clip_dataset(tmp_path: Path) -> tuple[Path, Path]:
    """The real clips linked into a folder, and an annotation file with their true durations."""
    videos = tmp_path / "videos"
    videos.mkdir()
    database = {}
    for name in ("kinetics_clip_300f.mp4", "clip_164f.avi", "clip_32f.mp4"):
        (videos / name).symlink_to(real_file(f"videos/{name}"))
        duration = probe_video(videos / name).duration_sec
        database[Path(name).stem] = {
            "subset": "validation",
            "duration": duration,
            "annotations": [{"label": "A", "segment": [0.1, duration / 2]}],
        }
    annotations = tmp_path / "annotations.json"
    annotations.write_text(json.dumps({"version": "t", "database": database}))
    return annotations, videos


@pytest.mark.data
def test_check_data_on_videos_does_not_import_torch(tmp_path: Path):
    annotations, videos = _clip_dataset(tmp_path)
    argv = ["check-data", "--annotations", str(annotations), "--videos", str(videos)]
    # decodes each clip's first and last frame (clip_164f.avi is read sequentially)
    assert _run(*argv, "--ext", ".mp4,.avi") == {"rc": 0, "torch": False}
    # a video without a file is a problem found (rc 1), still without torch
    (videos / "clip_164f.avi").unlink()
    assert _run(*argv) == {"rc": 1, "torch": False}


@pytest.mark.data
def test_check_data_on_features_does_not_import_torch(tmp_path: Path):
    annotations, _ = _clip_dataset(tmp_path)
    features = tmp_path / "features"
    features.mkdir()
    for i, vid in enumerate(json.loads(annotations.read_text())["database"]):
        np.save(features / f"{vid}.npy", np.zeros((5 + i, 8), np.float32))
    argv = ["check-data", "--annotations", str(annotations), "--features", str(features)]
    assert _run(*argv) == {"rc": 0, "torch": False}
    np.save(features / "clip_32f.npy", np.zeros((4, 16), np.float32))  # channel mismatch
    assert _run(*argv) == {"rc": 1, "torch": False}


@pytest.mark.parametrize("kind", ["backbones", "strategies"])
def test_listing_models_still_imports_torch(kind: str):
    """The driver can see torch: backbones are built to count parameters.

    Strategies are registered beside their torch modules.
    """
    assert _run("list", kind)["torch"] is True
