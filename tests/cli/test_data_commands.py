from __future__ import annotations

import json

import pytest

from tadapt.cli.experiment import prepare_experiment
from tadapt.cli.main import main
from tadapt.config import ConfigError


def test_synth_then_check_data_then_list(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", str(out), "--videos", "4", "--classes", "2", "--seed", "3"]
    assert main([*argv, "--duration", "16", "--workers", "1", "--no-progress"]) == 0
    assert "wrote 4 videos" in capsys.readouterr().out
    database = json.loads((out / "annotations.json").read_text())["database"]
    assert len(database) == 4
    ann, videos = str(out / "annotations.json"), str(out / "videos")
    assert main(["check-data", "--annotations", ann, "--videos", videos]) == 0
    assert "no problems found" in capsys.readouterr().out
    # a missing video is a problem: exit code 1, named in the output
    missing = sorted((out / "videos").iterdir())[0]
    missing.unlink()
    assert main(["check-data", "--annotations", ann, "--videos", videos]) == 1
    assert missing.stem in capsys.readouterr().out
    assert main(["list", "backbones"]) == 0
    assert "videomaev2_giant_patch14" in capsys.readouterr().out
    assert main(["list", "presets"]) == 0
    assert "tiny_synthetic_features" in capsys.readouterr().out


def test_synth_class_names(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", str(out), "--videos", "4", "--duration", "16", "--size", "32"]
    argv += ["--workers", "1", "--no-progress"]
    assert main([*argv, "--class-names", "blink,move_up", "--preview"]) == 0
    assert "of 2 classes" in capsys.readouterr().out
    assert (out / "classes.txt").read_text() == "blink\nmove_up\n"
    database = json.loads((out / "annotations.json").read_text())["database"]
    pairs = {(a["label_id"], a["label"]) for v in database.values() for a in v["annotations"]}
    assert pairs == {(0, "blink"), (1, "move_up")}
    # --classes may repeat the count; a clash or an unknown name is a one-line error
    assert main([*argv, "--classes", "2", "--class-names", "blink,move_up", "--overwrite"]) == 0
    capsys.readouterr()
    assert main([*argv, "--classes", "3", "--class-names", "blink,move_up"]) == 2
    assert "--classes 3 disagrees with --class-names, which names 2" in capsys.readouterr().err
    assert main([*argv, "--class-names", "blink,jump"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tadapt synth: error: SyntheticConfig.classes=('blink', 'jump'): ")
    assert "unknown motion class 'jump'; known: move_right, move_left, rotate_cw" in err


def test_experiment_config_names_synthetic_classes(tmp_path):
    small = [
        "data.synthetic_videos.num_videos=4",
        "data.synthetic_videos.duration_sec=4.0",
        f"data.synthetic_videos.cache_dir={tmp_path / 'videos'}",
    ]
    named = [*small, "data.synthetic_videos.classes=[move_down,grow]"]
    config, annotations = prepare_experiment("tiny_synthetic_videos", named, tmp_path / "run")
    assert annotations.class_names == ("move_down", "grow")
    assert config.model.num_classes == 2
    assert (tmp_path / "videos" / "classes.txt").read_text() == "move_down\ngrow\n"
    unknown = [*small, "data.synthetic_videos.classes=[grow,jump]"]
    with pytest.raises(ConfigError, match=r"data\.synthetic_videos: .*unknown motion class 'jump'"):
        prepare_experiment("tiny_synthetic_videos", unknown, tmp_path / "run2")
