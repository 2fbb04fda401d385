"""A `tadapt train` process killed with SIGKILL resumes to the uninterrupted run's exact weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tadapt.engine import load_checkpoint

PRESET = "tiny_synthetic_features"


def _command(tmp_path: Path, run: Path, *extra: str) -> list[str]:
    # 12 training videos at batch 4: 3 steps per epoch, 9 in all; last.pt after every step
    return [
        sys.executable,
        "-m",
        "tadapt",
        "train",
        PRESET,
        "train.progress=false",
        "train.epochs=3",
        "train.checkpoint_interval_steps=1",
        "data.synthetic.num_train_videos=12",
        "data.synthetic.num_eval_videos=4",
        f"data.synthetic.cache_dir={tmp_path / 'features'}",
        "--out-dir",
        str(run),
        *extra,
    ]


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    full = tmp_path / "full"
    subprocess.run(_command(tmp_path, full), env=_env(), check=True, capture_output=True)

    cut = tmp_path / "cut"
    process = subprocess.Popen(
        _command(tmp_path, cut),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = cut / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # after the first step's checkpoint, mid-run
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = load_checkpoint(last)["state"]["step"]
    assert killed_at < 9

    resumed = subprocess.run(
        _command(tmp_path, cut, "--resume", str(cut)), env=_env(), capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    a = load_checkpoint(full / "checkpoints" / "last.pt")
    b = load_checkpoint(last)
    assert a["state"] == b["state"]
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), f"{part}.{key}"
    for state_a, state_b in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    report_a, report_b = (json.loads((run / "report.json").read_text()) for run in (full, cut))
    assert report_a.pop("meta")["epoch"] == report_b.pop("meta")["epoch"] == 3
    assert report_a == report_b
