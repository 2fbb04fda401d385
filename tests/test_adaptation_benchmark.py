"""Smoke test of ``benchmarks/adaptation_memory.py --quick``: one table row per strategy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tadapt.adapters import list_strategies
from tadapt.backbones import count_backbone_parameters

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "adaptation_memory.py"


def _tables(stdout: str) -> list[list[list[str]]]:
    """Each Markdown table's rows as lists of cells (header and separator dropped)."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in stdout.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous = line
    return [table[2:] for table in tables]


@pytest.mark.slow
def test_quick_benchmark_has_a_row_per_strategy() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    main, schemes = _tables(done.stdout)
    rows = {row[0]: row[1:] for row in main}
    assert list(rows) == [
        "frozen",
        "full",
        "full (no ckpt)",
        "adapter",
        "lora",
        "tia",
        "tia (reentrant, skip first)",
        "tia (reentrant, every block)",
        "tia (non-reentrant, skip first)",
        "tia (no ckpt)",
        "tia_side",
        "tia_side (last 2 blocks)",
        "losa",
    ]
    assert {label.split(" (")[0] for label in rows} == set(list_strategies())
    # the light head: conv k=3 (384 -> 384) and conv k=1 (384 -> 20 classes), with biases
    head = 384 * 384 * 3 + 384 + 384 * 20 + 20
    backbone = count_backbone_parameters("videomae_small_patch16", depth=2)
    assert int(rows["frozen"][0].replace(",", "")) == head
    assert int(rows["full"][0].replace(",", "")) == backbone + head
    # columns: trainable, peak d2, / full (no ckpt), / full, step d2, peak d4, step d4, ratio
    assert rows["full (no ckpt)"][2] == "1.000"
    peaks = {label: float(row[1]) for label, row in rows.items()}
    assert all(peak > 0 for peak in peaks.values())
    # full fine-tuning's gradients alone (4.6 M fp32 values, 17 MiB) exceed head-only's step
    assert peaks["full"] > 2 * peaks["frozen"]
    assert float(rows["full"][7]) > 1.2  # more blocks keep more activations and gradients
    # every checkpointing scheme of tia, its memory and time over non-reentrant, every block
    assert [row[:2] for row in schemes] == [
        ["tia", "non-reentrant, every block (default)"],
        ["tia", "reentrant, skip first"],
        ["tia", "reentrant, every block"],
        ["tia", "non-reentrant, skip first"],
    ]
    assert schemes[0][3] == "1.000"  # the reference itself
    for row in schemes:  # columns per depth: peak, / reference, step, / reference
        label = "tia" if row[1].endswith("(default)") else f"tia ({row[1]})"
        assert float(row[2]) == peaks[label]
        assert float(row[3]) > 0
