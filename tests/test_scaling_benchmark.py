"""Smoke test of ``benchmarks/scaling.py --quick``: every file, and a calibration within 10 %."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scaling.py"


@pytest.mark.slow
def test_quick_scaling_run_writes_its_report_and_calibrates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1800,  # 1,113 s alone on a slow 2-core machine (2026-12-07); far less on most
        check=False,
    )
    assert done.returncode == 0, done.stderr
    names = {path.name for path in tmp_path.iterdir()}
    assert names >= {
        "scaling.md",
        "scaling_calibration.csv",
        "scaling_peak.csv",
        "scaling_frames.csv",
        "scaling_depth.csv",
        "scaling_time.csv",
        "scaling_time_depth.csv",
        "scaling_memory.png",
        "scaling_time.png",
    }
    with (tmp_path / "scaling_calibration.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 14  # 7 strategies, checkpointing on and off, one shape
    assert all(abs(float(row["error_pct"])) <= 10.0 for row in rows)
    with (tmp_path / "scaling_frames.csv").open() as handle:
        measured = [row for row in csv.DictReader(handle) if row["measured_gib"]]
    for row in measured:  # the meter's points lie on the model's curves
        assert float(row["measured_gib"]) == pytest.approx(float(row["predicted_gib"]), rel=0.1)
    report = (tmp_path / "scaling.md").read_text()
    assert "adatad_thumos14_videomaev2_g_1536x2_224" in report
