"""`tadapt train` checks every input first, and `--dry-run` measures a run without writing it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from real_data import real_file
from tadapt.backbones import bundled_weights
from tadapt.cli.dry_run import DryRunReport
from tadapt.cli.main import main
from tadapt.config.schema import DataConfig
from tadapt.data import check_dataset
from tadapt.data.files import VIDEO_EXTS
from tadapt.data.synthetic_features import SyntheticFeatureSpec, generate_synthetic_features
from tadapt.io.decoder import probe_video

FEATURES = "tiny_synthetic_features"
VIDEOS = "tiny_synthetic_videos"


@pytest.fixture
def features(tmp_path: Path) -> Path:
    """A small synthetic feature dataset (annotations.json + features/) of the tiny preset."""
    spec = SyntheticFeatureSpec(splits=(("training", 8), ("validation", 4)), num_steps=(96, 100))
    return generate_synthetic_features(tmp_path / "feats", spec).root


def _feature_args(root: Path, *extra: str) -> list[str]:
    return [
        "train",
        FEATURES,
        "data.synthetic=null",
        f"data.annotation_file={root / 'annotations.json'}",
        f"data.feature_dir={root / 'features'}",
        "train.progress=false",
        "train.epochs=1",
        *extra,
    ]


def test_dry_run_measures_and_writes_nothing(
    features: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert main([*_feature_args(features), "--out-dir", str(run), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run on cpu: 2 training steps" in out
    assert "peak memory during the steps:" in out
    assert "evaluation:" in out
    assert "batches x 1 evaluations" in out
    assert "estimated run time:" in out
    assert "for 2 steps" in out
    assert not run.exists() or not any(run.rglob("*.pt")), "a dry run writes no checkpoint"
    assert not (run / "metrics.jsonl").exists()
    assert not (run / "config.yaml").exists()


def test_dry_run_estimate_adds_steps_and_evaluations() -> None:
    report = DryRunReport(
        step_seconds=(5.0, 1.0, 3.0),
        remaining_steps=101,
        eval_batch_seconds=0.5,
        eval_batches=10,
        evaluations=4,
        peak_mib=100.0,
        memory_method="rss",
        device="cpu",
    )
    assert report.steady_step_seconds == 2.0
    assert report.estimated_seconds == 5.0 + 100 * 2.0 + 4 * 10 * 0.5
    assert "estimated run time: 3 min 45 s for 101 steps" in report.summary()


def test_every_feature_problem_is_reported_at_once_before_training(
    features: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = features / "features"
    nan = np.load(folder / "training_0001.npy")
    nan[3, 5] = np.nan
    np.save(folder / "training_0001.npy", nan)
    np.save(folder / "training_0002.npy", np.zeros((96, 16), dtype=np.float32))  # C=16, not 32
    (folder / "validation_0000.npy").unlink()
    run = tmp_path / "run"
    assert main([*_feature_args(features), "--out-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "3 problems found before training" in err
    assert "training_0001: non_finite_features:" in err
    assert "1 of 3200 values" in err
    assert "training_0002: channel_mismatch: C=16, expected C=32" in err
    assert "validation_0000: missing:" in err
    assert "data.check_inputs=false" in err
    assert not (run / "checkpoints").exists()

    # data.on_error=skip leaves the missing file out, but a NaN or a wrong width still stops
    assert main([*_feature_args(features, "data.on_error=skip"), "--out-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "2 problems found before training" in err
    assert "validation_0000" not in err


def test_check_data_flags_non_finite_features(
    features: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = features / "features" / "validation_0001.npy"
    np.save(path, np.full((96, 32), np.inf, dtype=np.float32))
    argv = ["check-data", "--annotations", str(features / "annotations.json")]
    assert main([*argv, "--features", str(features / "features")]) == 1
    out = capsys.readouterr().out
    assert "non_finite_features" in out
    assert "3072 of 3072 values are NaN or inf" in out
    assert main([*argv, "--features", str(features / "features"), "--channels", "16"]) == 1
    assert "expected C=16" in capsys.readouterr().out


def _clip_annotations(path: Path, durations: dict[str, float]) -> Path:
    database = {
        vid: {
            "subset": "training" if i % 2 == 0 else "validation",
            "duration": duration,
            "fps": 30.0,
            "annotations": [{"label": "A", "segment": [0.1, 0.5], "label_id": 0}],
        }
        for i, (vid, duration) in enumerate(durations.items())
    }
    path.write_text(json.dumps({"version": "t", "database": database}))
    return path


@pytest.mark.data
def test_a_video_annotated_ten_times_longer_stops_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "short.mp4").symlink_to(real_file("videos/clip_32f.mp4"))  # 32 frames, 30 fps
    (videos / "long.mp4").symlink_to(real_file("videos/kinetics_clip_300f.mp4"))
    ann = _clip_annotations(tmp_path / "ann.json", {"short": 10.7, "long": 10.0})
    argv = [
        "train",
        VIDEOS,
        "data.synthetic_videos=null",
        f"data.annotation_file={ann}",
        f"data.video_dir={videos}",
        "train.progress=false",
        "--out-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "1 problem found before training" in err
    assert "short: duration_mismatch: file 1.10 s vs annotated 10.70 s (-9.60 s)" in err
    assert f"--videos {videos}" in err


@pytest.mark.data
def test_check_data_reads_every_extension_training_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert DataConfig().video_exts == VIDEO_EXTS == (".mp4", ".mkv", ".avi", ".webm")
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.avi").symlink_to(real_file("videos/clip_164f.avi"))
    ann = _clip_annotations(tmp_path / "ann.json", {"a": 6.56})
    assert main(["check-data", "--annotations", str(ann), "--videos", str(videos)]) == 0
    assert "OK: no problems found" in capsys.readouterr().out


@pytest.mark.data
def test_one_frame_difference_on_a_short_clip_is_not_a_mismatch(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "short.mp4").symlink_to(real_file("videos/clip_32f.mp4"))  # 30 fps, 1.1 s
    info = probe_video(videos / "short.mp4")
    frame = 1 / info.fps  # 2 % of 1.1 s is 0.66 frames
    one_frame_off = _clip_annotations(tmp_path / "a.json", {"short": info.duration_sec + frame})
    assert check_dataset(one_frame_off, videos=videos).ok
    three_frames_off = _clip_annotations(
        tmp_path / "b.json", {"short": info.duration_sec + 3 * frame}
    )
    (check,) = check_dataset(three_frames_off, videos=videos).problems
    assert check.problem == "duration_mismatch"


@pytest.mark.data
def test_a_damaged_checkpoint_is_reported_with_the_data_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "long.mp4").symlink_to(real_file("videos/kinetics_clip_300f.mp4"))
    ann = _clip_annotations(tmp_path / "ann.json", {"long": 10.0, "gone": 4.0})
    shipped = Path(bundled_weights("videomae_tiny_patch16.synth"))
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(shipped.read_bytes()[:5000])
    argv = [
        "train",
        VIDEOS,
        f"data.annotation_file={ann}",
        f"data.video_dir={videos}",
        f"model.backbone.checkpoint={truncated}",
        "train.progress=false",
        "--out-dir",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "2 problems found before training" in err
    assert "gone: missing:" in err
    assert f"checkpoint: {truncated}: the file is truncated or corrupt" in err


def test_a_broken_npy_file_is_named_without_unpickling_advice(
    features: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = features / "features"
    (folder / "training_0003.npy").write_text("hello")  # not a .npy at all
    np.save(folder / "training_0004.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    argv = ["check-data", "--annotations", str(features / "annotations.json")]
    assert main([*argv, "--features", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "training_0003.npy: not a NumPy .npy file; write features with np.save" in out
    assert "training_0004.npy: holds Python objects, which tadapt will not unpickle" in out
    assert "allow_pickle" not in out
    assert "pickle.load" not in out


def test_dry_run_counts_evaluations_before_its_steps_cross_an_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = SyntheticFeatureSpec(splits=(("training", 4), ("validation", 4)), num_steps=(96, 100))
    root = generate_synthetic_features(tmp_path / "feats", spec).root
    # batch 4 of 4 videos: one step per epoch, so the two timed steps span epochs 1 and 2
    args = [*_feature_args(root), "train.epochs=3", "train.eval_interval=1"]
    assert main([*args, "--out-dir", str(tmp_path / "run"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "batches x 3 evaluations" in out
    assert "for 3 steps" in out
