"""``benchmarks/mini_repro.py``: the comparison table in miniature, and its report."""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "mini_repro.py"
ROWS = ["frozen", "full", "adapter", "lora", "tia", "tia_side", "losa", "lofi"]
TIOUS = ["0.30", "0.40", "0.50", "0.60", "0.70"]  # the preset's eval.tiou_thresholds


def _tables(text: str) -> list[list[dict[str, str]]]:
    """Each Markdown table of ``text`` as rows of ``{column: cell}``."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous = line
    return [[dict(zip(t[0], row, strict=True)) for row in t[2:]] for t in tables]


def _check_consistent(
    table: list[dict[str, str]], raw: list[dict[str, str]], probes: list[dict[str, str]]
) -> None:
    """Every table row equals the mean / std of its raw runs and its memory probe's peak."""
    for row in table:
        runs = [r for r in raw if r["strategy"] == row["strategy"]]
        maps = [float(r["average mAP (%)"]) for r in runs]
        mean, _, std = row["average mAP (%)"].partition(" ± ")
        assert float(mean) == pytest.approx(statistics.mean(maps), abs=0.011)
        if len(runs) > 1:
            assert float(std) == pytest.approx(statistics.stdev(maps), abs=0.011)
        else:
            assert not std  # no spread from one run
        for tiou in TIOUS:
            key = f"mAP@{tiou} (%)"
            per_run = [float(r[key]) for r in runs]
            assert float(row[key]) == pytest.approx(statistics.mean(per_run), abs=0.011)
        assert {r["trainable params"] for r in runs} == {row["trainable params"]}
        (probe,) = [p for p in probes if p["strategy"] == row["strategy"]]
        assert float(row["peak MiB"]) == pytest.approx(float(probe["peak MiB"]), abs=0.51)
        wall = statistics.mean(float(r["wall s"]) for r in runs)
        assert float(row["wall s"]) == pytest.approx(wall, abs=0.051)


@pytest.mark.slow
def test_quick_run_has_a_row_per_strategy_and_a_plot(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,  # about 2 minutes on 2 idle cores; much more on a busy machine
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = (tmp_path / "mini_repro.md").read_text()
    shipped = "- backbone: `videomae_tiny_patch16.synth`, the weights tadapt ships "
    assert f"{shipped}(`videomae_tiny_patch16_synth.pth`, sha256 " in report
    assert "data.synthetic_videos.num_videos=10" in report  # the --quick shrink is recorded
    assert "in a fresh process with tadapt.profiling.MALLOC_ENV" in report  # how memory is metered
    table, raw, probes = _tables(report)
    assert [row["strategy"] for row in table] == ROWS
    assert [(r["strategy"], r["seed"]) for r in raw] == [(row, "0") for row in ROWS]
    # one probe per row, for the whole --quick schedule (2 epochs, PROBE_EPOCHS)
    assert [(p["strategy"], p["epochs"]) for p in probes] == [(row, "2") for row in ROWS]
    for row in table:
        assert 0.0 <= float(row["average mAP (%)"]) <= 100.0
        assert all(0.0 <= float(row[f"mAP@{t} (%)"]) <= 100.0 for t in TIOUS)
        assert float(row["peak MiB"]) > 0
        assert float(row["wall s"]) > 0
    assert {p["meter"] for p in probes} <= {"rss", "profiler"}  # the preset trains on the CPU
    trainable = {row["strategy"]: int(row["trainable params"].replace(",", "")) for row in table}
    # LoFi's end-to-end stage trains the whole detector, as full fine-tuning does
    assert trainable["lofi"] == trainable["full"]
    adapted = [n for row, n in trainable.items() if row not in ("frozen", "full", "lofi")]
    assert all(trainable["frozen"] < n < trainable["full"] for n in adapted)
    _check_consistent(table, raw, probes)
    png = (tmp_path / "mini_repro.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) < 200_000


def test_report_reduces_seeds_to_mean_std_and_takes_memory_from_the_probe(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from mini_repro_report import format_report, plot, summarize
    finally:
        sys.path.remove(str(BENCHMARKS))

    def run(row: str, seed: int, average: float) -> dict[str, object]:
        per_tiou = {t: average + i for i, t in enumerate(TIOUS)}
        return {
            "row": row,
            "seed": seed,
            "average_mAP": average,
            "mAP": per_tiou,
            "trainable": 1000,
            "wall_sec": 2.0 + seed,
        }

    def probe(row: str, peak: float) -> dict[str, object]:
        return {"row": row, "epochs": 2, "peak_mib": peak, "meter": "rss"}

    results = [run("tia", seed, average) for seed, average in enumerate([10.0, 20.0, 30.0])]
    results.append(run("lofi", 0, 5.0))
    probes = [probe("lofi", 40.0), probe("tia", 70.0)]  # in any order
    report = "\n".join(format_report(["- a header line"], results, probes))
    table, raw, probe_table = _tables(report)
    assert table[0]["average mAP (%)"] == "20.00 ± 10.00"  # sample standard deviation
    assert table[0]["peak MiB"] == "70"  # the row's probe
    assert table[1]["peak MiB"] == "40"
    assert table[0]["wall s"] == "3.0"
    assert table[1]["average mAP (%)"] == "5.00"
    assert len(raw) == 4
    assert "peak MiB" not in raw[0]  # a timed run has no memory figure
    _check_consistent(table, raw, probe_table)
    with pytest.raises(AssertionError, match="a probe per row"):
        summarize(results, probes[:1])
    plot(summarize(results, probes), tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")


def test_rows_that_train_every_backbone_weight_train_it_at_a_tenth_of_the_rate() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from mini_repro import row_overrides
        from tadapt.config import load_config
    finally:
        sys.path.remove(str(BENCHMARKS))
    backbone_lr = "optim.module_lrs.feature_extractor.backbone=0.0002"
    assert row_overrides("full", 2e-3) == ["model.strategy=full", backbone_lr]
    assert row_overrides("lofi", 2e-3)[-1] == backbone_lr
    assert row_overrides("lofi", 2e-3)[0] == "model.strategy=full"
    for row in ("frozen", "adapter", "tia", "losa"):  # the detector's rate everywhere
        assert row_overrides(row, 2e-3) == [f"model.strategy={row}"]
    config = load_config("mini_repro_synthetic", row_overrides("full", 2e-3))
    assert config.optim.module_lrs == {"feature_extractor.backbone": 2e-4}
    assert config.optim.lr == 2e-3  # the preset's, which the benchmark passes


def test_a_memory_probe_is_the_seed_0_run_cut_to_its_epochs() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from mini_repro import Run
    finally:
        sys.path.remove(str(BENCHMARKS))
    timed = Run("tia", 0, "mini_repro_synthetic", ("train.progress=false",), 2e-3, "r", 1)
    probe = Run("tia", 0, "mini_repro_synthetic", ("train.progress=false",), 2e-3, "p", 1, 2)
    assert probe.all_overrides() == [*timed.all_overrides(), "train.epochs=2"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategies", "tia", "adapters"], "--strategies: unknown adapters; choose from frozen"),
        (["--quick", "optim.lrr=0.1"], "optim.lrr"),  # the preset's error, no traceback
    ],
)
def test_bad_arguments_are_refused_with_what_to_do(argv: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_failing_run_stops_the_benchmark_with_its_error(tmp_path: Path) -> None:
    def benchmark(checkpoint: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                str(SCRIPT),
                "--quick",
                "--strategies",
                "tia",
                f"model.backbone.checkpoint={checkpoint}",
                "model.backbone.pretrained=true",
                "--out-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )

    # a file that is not there: refused with the overrides, before any video or run
    missing = tmp_path / "missing.pth"
    done = benchmark(missing)
    assert done.returncode == 2
    assert f"error: model.backbone.checkpoint: {missing} does not exist" in done.stderr
    assert "run tia seed 0" not in done.stderr
    # a file that is there but no checkpoint: the first run fails, and the benchmark with it
    garbage = tmp_path / "weights.pth"
    garbage.write_text("not weights")
    done = benchmark(garbage)
    assert done.returncode == 1
    assert "tia memory probe failed (exit code 1)" in done.stderr  # the probes run first
    assert f"error: {garbage}: not a checkpoint file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "mini_repro.md").exists()
