from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tadapt.backbones import create_backbone
from tadapt.cli.main import main
from tadapt.data.synthetic import write_video
from tadapt.data.transforms import eval_transforms
from tadapt.extraction import extract_features, snippet_starts
from tadapt.io import VideoReader

SIZE = 64


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for name, frames in (("long", 44), ("short", 10)):
        clip = rng.integers(0, 255, (frames, SIZE, SIZE, 3), dtype=np.uint8)
        write_video(root / f"{name}.mp4", list(clip), fps=15)
    (root / "broken.mp4").write_text("not a video")
    return root


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return create_backbone("videomae_tiny_patch16", img_size=SIZE).eval()


def test_snippet_starts_follow_actionformer_convention():
    assert snippet_starts(44, 16, 4) == [0, 4, 8, 12, 16, 20, 24, 28]  # (44 - 16) // 4 + 1
    assert snippet_starts(10, 16, 4) == [0]  # shorter than a snippet: one, padded
    with pytest.raises(ValueError, match=">= 1"):
        snippet_starts(10, 16, 0)


def test_features_equal_a_direct_forward_per_snippet(videos, backbone, tmp_path):
    report = extract_features(
        backbone, ["long", "short"], videos, tmp_path, eval_transforms(SIZE),
        batch_snippets=3, progress=False,
    )  # fmt: skip
    assert sorted(report.written) == ["long", "short"]
    feats = np.load(tmp_path / "long.npy")
    assert feats.shape == (8, 96)
    assert feats.dtype == np.float32
    assert np.load(tmp_path / "short.npy").shape == (1, 96)
    # snippet 5 covers frames 20..35: encode it alone and compare
    with VideoReader(videos / "long.mp4") as reader:
        frames, _ = reader.read_window(20, 16)
    with torch.no_grad():
        expected = backbone.forward_features(eval_transforms(SIZE)(frames)[None]).mean(-1)[0]
    np.testing.assert_allclose(feats[5], expected.numpy(), rtol=1e-4, atol=1e-5)


def test_resume_skips_done_videos_and_failures_leave_no_file(videos, backbone, tmp_path):
    first = extract_features(
        backbone, ["long", "broken", "absent"], videos, tmp_path, eval_transforms(SIZE),
        progress=False,
    )  # fmt: skip
    assert first.written == ["long"]
    assert list(first.failed) == ["broken"]
    assert first.missing == ["absent"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy"]  # no partial files
    stamp = (tmp_path / "long.npy").stat().st_mtime_ns
    second = extract_features(
        backbone, ["long"], videos, tmp_path, eval_transforms(SIZE), progress=False
    )
    assert second.skipped == ["long"]
    assert (tmp_path / "long.npy").stat().st_mtime_ns == stamp


def test_cli_extract(videos, tmp_path, capsys):
    annotations = {
        "version": "x",
        "database": {
            vid: {
                "subset": "test",
                "duration": 3.0,
                "fps": 15.0,
                "annotations": [{"label": "a", "segment": [0.5, 1.5], "label_id": 0}],
            }
            for vid in ("long", "short")
        },
    }
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(annotations))
    out = tmp_path / "feats"
    argv = ["extract", str(out), "--annotations", str(ann), "--videos", str(videos)]
    argv += ["--backbone", "videomae_tiny_patch16", "--size", str(SIZE), "--no-progress"]
    assert main(argv) == 0
    assert "written 2" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["long.npy", "short.npy"]
    assert main([*argv[:-5], "--backbone", "no_such_net"]) == 2
    assert "unknown backbone" in capsys.readouterr().err
