"""``check_dataset`` / ``tadapt check-data`` on the real clips, a corrupt and a truncated file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from real_data import real_file
from tadapt.cli.check_data import add_parser
from tadapt.data import (
    SlidingWindows,
    SyntheticConfig,
    VideoDataset,
    check_dataset,
    generate_synthetic_dataset,
)
from tadapt.data.check import _mismatch
from tadapt.io import load_annotations


def _annotations(path: Path, videos: dict[str, tuple[float, str]]) -> Path:
    database = {
        vid: {
            "subset": subset,
            "duration": duration,
            "fps": 30.0,
            "annotations": [{"label": "A", "segment": [0.2, 0.8], "label_id": 0}],
        }
        for vid, (duration, subset) in videos.items()
    }
    path.write_text(json.dumps({"version": "t", "database": database}))
    return path


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """The real clips linked into a folder, plus a corrupt and a truncated file."""
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    for name in ("kinetics_clip_300f.mp4", "clip_164f.avi", "clip_32f.mp4"):
        (folder / name).symlink_to(real_file(f"videos/{name}"))
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x17" * 500)
    data = real_file("videos/kinetics_clip_300f.mp4").read_bytes()
    (folder / "sub" / "truncated.mp4").write_bytes(data[: len(data) // 2])
    return folder


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["check-data", *argv])
    return int(args.handler(args))


@pytest.mark.data
def test_check_finds_every_kind_of_problem(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = _annotations(
        tmp_path / "ann.json",
        {
            "kinetics_clip_300f": (10.0, "test"),  # fine
            "clip_164f": (6.56, "test"),  # fine (an AVI with audio)
            "clip_32f": (5.0, "test"),  # the file is 1.1 s long
            "corrupt": (3.0, "test"),
            "truncated": (10.0, "test"),
            "not_there": (4.0, "test"),
        },
    )
    report = check_dataset(ann, videos=clips, exts=".mp4,.avi", workers=2)
    problems = {c.video_id: c.problem for c in report.problems}
    assert problems["clip_32f"] == "duration_mismatch"
    assert problems["corrupt"] == "undecodable"
    assert problems["not_there"] == "missing"
    # a file cut in half either decodes fewer frames (shorter) or fails at its end
    assert problems["truncated"] in ("duration_mismatch", "undecodable")
    assert set(problems) == {"clip_32f", "corrupt", "not_there", "truncated"}
    assert not report.ok
    fine = {c.video_id: c for c in report.checks if c.problem is None}
    assert fine["clip_164f"].fps == pytest.approx(25.0)
    assert fine["kinetics_clip_300f"].length == 300
    assert "corrupt.mp4" in next(c.detail for c in report.problems if c.video_id == "corrupt")

    assert _cli("--annotations", str(ann), "--videos", str(clips), "--ext", "mp4,avi") == 1
    out = capsys.readouterr().out
    assert "6 videos, 2 ok" in out
    assert "frame rates: 30 fps x" in out
    for row in ("missing", "undecodable", "duration_mismatch", "not_there"):
        assert row in out
    assert "4 videos have problems" in out


@pytest.mark.data
def test_clean_split_exits_zero(
    clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann = _annotations(
        tmp_path / "ann.json",
        {"kinetics_clip_300f": (10.0, "training"), "corrupt": (3.0, "validation")},
    )
    assert _cli("--annotations", str(ann), "--videos", str(clips), "--split", "train") == 0
    out = capsys.readouterr().out
    assert "split 'training'" in out
    assert "OK: no problems found" in out
    # without --split the corrupt validation video is found
    assert _cli("--annotations", str(ann), "--videos", str(clips), "--no-decode") == 1


@pytest.mark.data
def test_real_thumos_annotations_report_missing_videos(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = real_file("thumos14/thumos14_actionformer.json")
    report = check_dataset(path, videos=tmp_path / "empty", split="test")
    database = json.loads(path.read_text())["database"]
    n_test = sum(v["subset"] == "Test" for v in database.values())
    assert report.count("missing") == len(report.checks) == n_test
    assert report.annotations.format == "actionformer"
    text = report.summary(max_rows=3)
    assert report.annotations.summary().splitlines()[0] in text  # the annotation load report
    assert f"... {n_test - 3} more" in text


def test_feature_folder_checks(tmp_path: Path) -> None:
    ann = _annotations(
        tmp_path / "ann.json",
        {f"v{i}": (10.0, "train") for i in range(5)},
    )
    feats = tmp_path / "feats"
    feats.mkdir()
    for i in range(3):
        np.save(feats / f"v{i}.npy", np.zeros((70, 16), dtype=np.float32))
    np.save(feats / "v3.npy", np.zeros((70, 8), dtype=np.float32))  # wrong width
    (feats / "v4.npy").write_text("garbage")
    report = check_dataset(ann, features=feats)
    problems = {c.video_id: c.problem for c in report.problems}
    assert problems == {"v3": "channel_mismatch", "v4": "unreadable_features"}
    assert report.checks[0].length == 70
    assert report.checks[0].channels == 16
    assert _cli("--annotations", str(ann), "--features", str(feats)) == 1


def test_pt_feature_folder_checks(tmp_path: Path) -> None:
    import torch

    ann = _annotations(tmp_path / "ann.json", {f"v{i}": (10.0, "train") for i in range(3)})
    feats = tmp_path / "feats"
    feats.mkdir()
    torch.save(torch.ones(70, 16, dtype=torch.bfloat16), feats / "v0.pt")  # no numpy bfloat16
    torch.save(torch.zeros(70, 16), feats / "v1.pt")
    torch.save({"feats": torch.zeros(70, 16)}, feats / "v2.pt")
    report = check_dataset(ann, features=feats, feature_ext=".pt")
    assert {c.video_id: c.problem for c in report.problems} == {"v2": "unreadable_features"}
    assert "expected a tensor" in report.problems[0].detail
    assert (report.checks[0].length, report.checks[0].channels) == (70, 16)


def test_duration_tolerance_is_the_smaller_of_1s_and_2_percent() -> None:
    assert not _mismatch(100.0, 100.9, 1.0, 0.02)
    assert _mismatch(100.0, 101.1, 1.0, 0.02)  # > 1 s although < 2 %
    assert not _mismatch(10.0, 10.15, 1.0, 0.02)
    assert _mismatch(10.0, 10.25, 1.0, 0.02)  # > 2 % although < 1 s
    assert not _mismatch(None, 3.0, 1.0, 0.02)


def test_needs_exactly_one_folder(tmp_path: Path) -> None:
    ann = _annotations(tmp_path / "ann.json", {"a": (1.0, "train")})
    with pytest.raises(ValueError, match="exactly one"):
        check_dataset(ann)
    with pytest.raises(ValueError, match="exactly one"):
        check_dataset(ann, videos=tmp_path, features=tmp_path)


def test_synthetic_dataset_checks_clean_and_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = SyntheticConfig(
        num_videos=4, num_classes=2, duration_sec=8.0, size=48, seed=3, action_duration_sec=(1, 4)
    )
    ann_path = generate_synthetic_dataset(tmp_path / "synth", config, progress=False)
    videos = ann_path.parent / "videos"
    assert _cli("--annotations", str(ann_path), "--videos", str(videos)) == 0
    assert "4 videos, 4 ok" in capsys.readouterr().out
    ann = load_annotations(ann_path).split("train")
    ds = VideoDataset(ann, videos, SlidingWindows(128), frame_stride=1)  # one window per video
    for i in range(len(ds)):
        sample = ds[i]
        gt = ann.videos[sample.video_id]
        assert int(sample.mask.sum()) == round(8.0 * config.fps)
        seconds = sample.to_seconds(sample.segments).tensor
        assert (seconds - gt.segments.tensor).abs().max() < sample.grid_stride_sec
