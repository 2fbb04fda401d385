"""Training refuses to evaluate on its own training videos unless data.allow_split_overlap."""

from __future__ import annotations

import logging
import re

import pytest

from real_data import real_file
from tadapt.cli import train as train_cmd
from tadapt.cli.experiment import check_split_overlap
from tadapt.cli.main import main
from tadapt.config import ConfigError, load_config
from tadapt.io import load_annotations

PRESET = "tiny_synthetic_features"


def _no_model(*args: object, **kwargs: object) -> None:
    raise AssertionError("a model was built before the splits were checked")


def test_train_refuses_overlapping_splits_before_building_a_model(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(train_cmd, "build_model", _no_model)
    run_dir = tmp_path / "run"
    argv = ["train", PRESET, "data.eval_split=train", "train.progress=false"]
    assert main([*argv, "--out-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    annotation_file = run_dir / "synthetic_features" / "annotations.json"
    assert (
        "data.train_split='train' and data.eval_split='train' are both the subset 'training' "
        f"of {annotation_file}: training and evaluation share all 32 of its videos "
        "(training_0000, training_0001, training_0002, training_0003, training_0004, ...)"
    ) in err
    assert "data.train_split=train data.eval_split=test" in err
    assert "data.allow_split_overlap=true" in err
    assert not (run_dir / "config.yaml").exists()
    # a split the file does not have is reported under its key, as early
    assert main(["train", PRESET, "data.eval_split=dev", "--out-dir", str(run_dir)]) == 2
    assert "data.eval_split='dev': " in (err := capsys.readouterr().err)
    assert "no subset matches split 'dev'; subsets: ['training', 'validation']" in err


@pytest.mark.slow
def test_allow_split_overlap_trains_with_a_warning(tmp_path, caplog) -> None:
    overrides = [
        "data.eval_split=training",
        "data.allow_split_overlap=true",
        "data.synthetic.num_train_videos=8",
        "data.synthetic.num_eval_videos=1",
        "train.epochs=1",
        "train.progress=false",
    ]
    with caplog.at_level(logging.WARNING, logger="tadapt.cli.experiment"):
        result = train_cmd.train_experiment(PRESET, overrides, out_dir=tmp_path / "run")
    assert result.state.epoch == 1
    assert result.report is not None
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "tadapt.cli.experiment"]
    assert "share all 8 of its videos" in warning
    assert warning.endswith("training anyway (data.allow_split_overlap=true)")


def test_lofi_refuses_overlapping_splits_before_building_a_model(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setattr(train_cmd, "build_model", _no_model)
    argv = [
        "lofi",
        "tiny_synthetic_videos",
        "data.synthetic_videos.num_videos=8",
        "data.synthetic_videos.duration_sec=4.0",
        f"data.synthetic_videos.cache_dir={tmp_path / 'videos'}",
        "data.image_size=32",
        "data.resize_short_side=36",
        "model.strategy=full",
        "data.train_split=test",
        "--out-dir",
        str(tmp_path / "lofi"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"data\.train_split='test' and data\.eval_split='test' are both the subset "
        r"'test' of \S+annotations\.json: training and evaluation share all \d+ of its "
        r"videos \(synth_\d+",
        err,
    ), err
    assert "data.allow_split_overlap=true" in err
    assert not (tmp_path / "lofi" / "lofi" / "config.yaml").exists()


@pytest.mark.data
def test_the_former_thumos_preset_splits_are_refused_on_opentads_file() -> None:
    path = real_file("thumos14/thumos_14_anno_opentad.json")
    opentad = load_annotations(path)
    preset = "adatad_thumos14_videomae_s_768x1_160"
    config = load_config(preset, [f"data.annotation_file={path}"])
    check_split_overlap(config, opentad)  # the shipped roles: THUMOS validation / test videos
    former = load_config(preset, [f"data.annotation_file={path}", "data.train_split=validation"])
    with pytest.raises(ConfigError) as info:
        check_split_overlap(former, opentad)
    message = str(info.value)
    assert (
        "data.train_split='validation' and data.eval_split='test' are both the subset "
        f"'validation' of {path}: training and evaluation share all 211 of its videos "
        "(video_test_0000004, "
    ) in message
    assert "data.allow_split_overlap=true" in message
