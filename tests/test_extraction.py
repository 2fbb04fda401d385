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
from tadapt.extraction import (
    BackboneWeights,
    create_extraction_backbone,
    extract_features,
    snippet_starts,
    weights_sha256,
)
from tadapt.io import VideoReader
from tadapt.io.feature_manifest import (
    MANIFEST_FILE,
    FeatureManifestError,
    read_feature_manifest,
)
from tadapt.version import __version__

SIZE = 64
WEIGHTS = BackboneWeights("videomae_tiny_patch16", "random init (seed 0)")


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
        backbone, ["long", "short"], videos, tmp_path, weights=WEIGHTS, size=SIZE,
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
        backbone, ["long", "broken", "absent"], videos, tmp_path, weights=WEIGHTS, size=SIZE,
        progress=False,
    )  # fmt: skip
    assert first.written == ["long"]
    assert list(first.failed) == ["broken"]
    assert first.missing == ["absent"]
    # no partial files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy", MANIFEST_FILE]
    stamp = (tmp_path / "long.npy").stat().st_mtime_ns
    second = extract_features(
        backbone, ["long"], videos, tmp_path, weights=WEIGHTS, size=SIZE, progress=False
    )
    assert second.skipped == ["long"]
    assert (tmp_path / "long.npy").stat().st_mtime_ns == stamp


def test_the_manifest_records_the_settings_and_a_rerun_cannot_mix(videos, backbone, tmp_path):
    def run(model=backbone, **changes):
        settings = {"weights": WEIGHTS, "size": SIZE, "progress": False, **changes}
        return extract_features(model, ["short"], videos, tmp_path, **settings)

    run(frame_stride=2)
    manifest = read_feature_manifest(tmp_path)
    assert manifest is not None
    assert (manifest.extractor, manifest.backbone) == ("snippets", "videomae_tiny_patch16")
    assert (manifest.weights, manifest.weights_sha256) == (WEIGHTS.source, weights_sha256(backbone))
    assert manifest.settings == {
        "size": SIZE, "snippet_frames": 16, "feat_stride": 4, "frame_stride": 2,
        "precision": "fp32",
    }  # fmt: skip
    # what data.* reads them with: in video frames
    assert (manifest.feature_dim, manifest.feat_stride, manifest.num_frames) == (96, 8, 32)
    assert (manifest.file_ext, manifest.tadapt_version) == (".npy", __version__)

    with pytest.raises(
        FeatureManifestError, match=r"frame_stride: 2 -> 1; snippet_frames: 16 -> 8"
    ):
        run(snippet_frames=8)
    other = create_backbone("videomae_tiny_patch16", img_size=SIZE)  # other random weights
    with pytest.raises(FeatureManifestError, match=r"weights: random init \(seed 0\) \(sha256 "):
        run(other, frame_stride=2)
    assert run(frame_stride=2).skipped == ["short"]  # the same settings: a resume
    (tmp_path / "short.npy").unlink()  # its files deleted by hand: nothing left to mix with
    assert run(frame_stride=3).written == ["short"]
    again = run(other, overwrite=True)
    assert (again.written, again.removed) == (["short"], 1)
    manifest = read_feature_manifest(tmp_path)
    assert manifest is not None
    assert manifest.weights_sha256 == weights_sha256(other)
    assert manifest.settings["frame_stride"] == 1
    assert (tmp_path / "short.npy").is_file()


def test_features_without_a_manifest_are_not_mixed_with_new_ones(videos, backbone, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((3, 2048), dtype=np.float32))  # another tool's
    with pytest.raises(FeatureManifestError, match=r"holds 1 \.npy feature files but no"):
        extract_features(backbone, ["long"], videos, tmp_path, weights=WEIGHTS, size=SIZE)
    assert not (tmp_path / MANIFEST_FILE).exists()
    report = extract_features(
        backbone, ["long"], videos, tmp_path, weights=WEIGHTS, size=SIZE, overwrite=True,
        progress=False,
    )  # fmt: skip
    assert (report.written, report.removed) == (["long"], 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.npy", MANIFEST_FILE]


def test_a_random_init_is_refused_unless_asked_for():
    with pytest.raises(
        ValueError, match=r"'videomaev2_tiny_patch14' ships no weights.*random_init=True"
    ):
        create_extraction_backbone("videomaev2_tiny_patch14", size=56)
    first = create_extraction_backbone("videomaev2_tiny_patch14", random_init=True, size=56)
    second = create_extraction_backbone("videomaev2_tiny_patch14", random_init=True, size=56)
    assert first.weights == BackboneWeights("videomaev2_tiny_patch14", "random init (seed 0)")
    assert first.report is None
    assert weights_sha256(first.model) == weights_sha256(second.model)  # a rerun can resume
    with pytest.raises(ValueError, match="contradicts the checkpoint"):
        create_extraction_backbone("videomae_tiny_patch16", checkpoint="w.pth", random_init=True)
    shipped = create_extraction_backbone("videomae_tiny_patch16", size=SIZE)
    assert shipped.weights.source == "bundled videomae_tiny_patch16"
    assert shipped.report is not None


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
    printed = capsys.readouterr().out
    assert "videomae_tiny_patch16: bundled videomae_tiny_patch16" in printed
    assert "written 2" in printed
    assert f"settings in {out / MANIFEST_FILE}" in printed
    assert "data.feature_dim=96, data.feat_stride=4 and data.num_frames=16" in printed
    assert sorted(p.name for p in out.iterdir()) == ["long.npy", "short.npy", MANIFEST_FILE]
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["weights"] == "bundled videomae_tiny_patch16"
    assert manifest["settings"]["size"] == SIZE
    assert main([*argv[:-5], "--backbone", "no_such_net"]) == 2
    assert "unknown backbone" in capsys.readouterr().err

    # other settings into the same folder: refused, naming each; --overwrite re-extracts
    assert main([*argv, "--feat-stride", "2"]) == 2
    err = capsys.readouterr().err
    assert f"tadapt extract: error: {out / MANIFEST_FILE}: the features there were made " in err
    assert "(feat_stride: 4 -> 2); extract into a new folder, or delete its .npy files" in err
    assert "--overwrite" in err
    assert main([*argv, "--feat-stride", "2", "--overwrite"]) == 0
    assert "written 2 (after deleting 2 old files)" in capsys.readouterr().out
    assert json.loads((out / MANIFEST_FILE).read_text())["feat_stride"] == 2
    assert main([*argv, "--feat-stride", "2"]) == 0  # the same settings: a resume
    assert "written 0, skipped (already done) 2" in capsys.readouterr().out


def test_cli_extract_refuses_a_random_network_unless_asked(videos, tmp_path, capsys, caplog):
    annotations = {
        "version": "x",
        "database": {
            "long": {"subset": "test", "duration": 3.0, "fps": 15.0, "annotations": []},
        },
    }
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(annotations))
    out = tmp_path / "feats"
    argv = ["extract", str(out), "--annotations", str(ann), "--videos", str(videos)]
    # a backbone without tags, so without weights (patch 14: 56 px)
    argv += ["--backbone", "videomaev2_tiny_patch14", "--size", "56", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "tadapt extract: error: backbone 'videomaev2_tiny_patch14' ships no weights" in err
    assert "--checkpoint PATH" in err
    assert "`tadapt list backbones` marks them 'bundled'" in err
    assert "--random-init" in err
    assert not out.exists()

    with caplog.at_level("WARNING", logger="tadapt.extraction"):
        assert main([*argv, "--random-init"]) == 0
    assert "random init (seed 0): the features of an untrained network" in caplog.text
    assert "videomaev2_tiny_patch14: random init (seed 0)" in capsys.readouterr().out
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["weights"] == "random init (seed 0)"
    assert main([*argv, "--random-init"]) == 0  # the same seed: the same network, a resume
    assert "skipped (already done) 1" in capsys.readouterr().out
    assert main([*argv, "--random-init", "--checkpoint", str(tmp_path / "w.pth")]) == 2
    assert "contradicts the checkpoint" in capsys.readouterr().err


def test_cli_extract_lists_bad_videos_before_extracting_the_others(videos, tmp_path, capsys):
    database = {
        vid: {"subset": "test", "duration": duration, "fps": 15.0, "annotations": []}
        for vid, duration in (("long", 44 / 15), ("broken", 3.0), ("absent", 3.0))
    }
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"version": "x", "database": database}))
    out = tmp_path / "feats"
    argv = ["extract", str(out), "--annotations", str(ann), "--videos", str(videos)]
    argv += ["--backbone", "videomae_tiny_patch16", "--size", str(SIZE), "--no-progress"]
    assert main(argv) == 1
    printed = capsys.readouterr().out
    listed = printed.index("2 videos have problems")
    assert printed.index("broken") < listed  # the bad ones come first ...
    assert printed.index("absent") < listed
    assert "extracting the other videos" in printed
    assert printed.index("written 1") > listed  # ... then the good one is extracted
    assert (out / "long.npy").is_file()
