"""`tadapt evaluate` on a run's own predictions scores them as the run did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tadapt.cli.main import main
from tadapt.config import load_config
from tadapt.io import read_evaluation_settings


def test_evaluate_takes_the_runs_split_and_thresholds(
    tiny_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = json.loads((tiny_run / "report.json").read_text())
    settings = report["meta"]["evaluation"]
    assert settings["tiou_thresholds"] == [0.3, 0.4, 0.5, 0.6, 0.7]
    assert settings["split"] == "test"
    predictions = tiny_run / "predictions.json"
    assert read_evaluation_settings(predictions) == settings
    gt = load_config(tiny_run / "config.yaml").data.annotation_file
    assert gt is not None

    # no --split, --dataset or --tiou: the run's (a two-subset file, ActivityNet-style ids)
    out = tmp_path / "report.json"
    assert main(["evaluate", "--gt", gt, "--pred", str(predictions), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tIoU 0.3, 0.4, 0.5, 0.6, 0.7 (run: the run's eval.tiou_thresholds)" in printed
    assert "split, ambiguous, tiou_thresholds from the file (options override them)" in printed
    again = json.loads(out.read_text())
    assert again["average_mAP"] == report["average_mAP"]
    assert again["meta"]["from_run"] == ["split", "ambiguous", "tiou_thresholds"]

    # options still win, and a file without the field falls back to inference and says so
    argv = ["evaluate", "--gt", gt, "--pred", str(predictions), "--split", "test"]
    assert main([*argv, "--tiou", "0.5"]) == 0
    assert "tIoU 0.5 (custom: given)" in capsys.readouterr().out
    plain = tmp_path / "plain.json"
    payload = json.loads(predictions.read_text())
    del payload["tadapt_evaluation"]
    plain.write_text(json.dumps(payload))
    assert read_evaluation_settings(plain) is None
    assert main(["evaluate", "--gt", gt, "--pred", str(plain), "--split", "test"]) == 0
    assert "(activitynet: inferred from the ground truth; --dataset or --tiou to choose)" in (
        capsys.readouterr().out
    )
