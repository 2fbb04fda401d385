"""``KEY=VALUE`` overrides may follow options: ``tadapt test CFG --checkpoint CKPT key=value``."""

from __future__ import annotations

import json

import pytest

from tadapt.cli.main import main
from tadapt.config import load_config

PRESET = "tiny_synthetic_features"


def test_an_override_after_an_option_reaches_the_config(tmp_path, capsys):
    # argparse used to refuse it: "unrecognized arguments: optim.learning_rate=1"
    argv = ["train", PRESET, "--out-dir", str(tmp_path / "run"), "optim.learning_rate=1"]
    assert main(argv) == 2
    assert "unknown key 'optim.learning_rate'" in capsys.readouterr().err
    argv = ["lofi", "tiny_synthetic_videos", "--out-dir", str(tmp_path), "model.strategy=tia"]
    assert main(argv) == 2
    assert "model.strategy: LoFi extracts chunk features" in capsys.readouterr().err


def test_overrides_before_and_after_options_apply_in_the_order_given(tmp_path, capsys):
    # the later num_heads=3 wins, which embed_dim 32 refuses; the other order would train
    argv = ["train", PRESET, "model.num_heads=4", "--out-dir", str(tmp_path), "model.num_heads=3"]
    assert main(argv) == 2
    assert "model.embed_dim: must divide by num_heads, got 32" in capsys.readouterr().err


def test_an_unknown_option_is_still_refused_with_the_commands_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", PRESET, "--out-dir", str(tmp_path), "--bogus", "train.epochs=1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: tadapt train" in err
    assert err.strip().endswith("tadapt train: error: unrecognized arguments: --bogus")
    with pytest.raises(SystemExit):  # a command without overrides takes no stray token
        main(["list", "presets", "extra"])
    assert "tadapt list: error: unrecognized arguments: extra" in capsys.readouterr().err


def test_test_takes_overrides_after_the_checkpoint(tiny_run, tmp_path, capsys):
    out = tmp_path / "test"
    argv = [
        "test",
        str(tiny_run / "config.yaml"),
        "--checkpoint",
        str(tiny_run / "checkpoints" / "last.pt"),
        "eval.postprocess.max_segments=1",
        "--out-dir",
        str(out),
        "train.progress=false",
    ]
    assert main(argv) == 0
    assert "Average mAP" in capsys.readouterr().out
    assert load_config(out / "config.yaml").eval.postprocess.max_segments == 1
    results = json.loads((out / "predictions.json").read_text())["results"]
    assert results
    assert all(len(detections) <= 1 for detections in results.values())
