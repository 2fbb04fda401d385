"""The report of ``benchmarks/mini_repro.py``: a row per strategy, the raw runs, a plot.

A run is the JSON dict a timed ``--run-one`` process writes: ``row``, ``seed``,
``average_mAP`` and ``mAP`` (per tIoU, in %), ``trainable``, ``wall_sec``. A memory probe is
the dict a probe process writes: ``row``, ``epochs``, ``peak_mib``, ``meter``.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Summary", "format_report", "plot", "summarize"]

Result = dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """A strategy's runs, reduced to one table row.

    Attributes:
        row: the strategy (or ``lofi``).
        seeds: how many runs.
        map_mean: mean average mAP (%).
        map_std: its sample standard deviation; ``None`` for a single run.
        per_tiou: mean mAP (%) per tIoU threshold.
        trainable: trainable parameters (the same in every run).
        peak_mib: the peak memory of the row's memory probe.
        wall_sec: mean wall time per run.
    """

    row: str
    seeds: int
    map_mean: float
    map_std: float | None
    per_tiou: dict[str, float]
    trainable: int
    peak_mib: float
    wall_sec: float


def summarize(results: Sequence[Result], probes: Sequence[Result]) -> list[Summary]:
    """One :class:`Summary` per strategy, in the order the runs came; one probe per strategy."""
    rows = list(dict.fromkeys(r["row"] for r in results))
    peaks = {p["row"]: p["peak_mib"] for p in probes}
    assert sorted(peaks) == sorted(p["row"] for p in probes) == sorted(rows), "a probe per row"
    summaries = []
    for row in rows:
        runs = [r for r in results if r["row"] == row]
        maps = [r["average_mAP"] for r in runs]
        trainable = {r["trainable"] for r in runs}
        assert len(trainable) == 1, f"{row}: trainable parameters differ between seeds"
        summaries.append(
            Summary(
                row=row,
                seeds=len(runs),
                map_mean=statistics.mean(maps),
                map_std=statistics.stdev(maps) if len(maps) > 1 else None,
                per_tiou={t: statistics.mean(r["mAP"][t] for r in runs) for t in runs[0]["mAP"]},
                trainable=trainable.pop(),
                peak_mib=peaks[row],
                wall_sec=statistics.mean(r["wall_sec"] for r in runs),
            )
        )
    return summaries


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def format_report(
    description: Sequence[str], results: Sequence[Result], probes: Sequence[Result]
) -> list[str]:
    """The Markdown report: title, ``description`` lines, the table, every run, every probe.

    Average mAP is ``mean ± std`` over the seeds (the mean alone for one seed); mAP per tIoU
    is the mean; peak memory the row's memory probe's; wall time the mean.
    """
    summaries = summarize(results, probes)
    tious = list(summaries[0].per_tiou)
    header = ["strategy", "average mAP (%)", *(f"mAP@{t} (%)" for t in tious)]
    header += ["trainable params", "peak MiB", "wall s"]
    rows = []
    for s in summaries:
        average = f"{s.map_mean:.2f}" + ("" if s.map_std is None else f" ± {s.map_std:.2f}")
        cells = [s.row, average, *(f"{s.per_tiou[t]:.2f}" for t in tious)]
        rows.append([*cells, f"{s.trainable:,}", f"{s.peak_mib:.0f}", f"{s.wall_sec:.1f}"])
    raw_header = ["strategy", "seed", "average mAP (%)", *(f"mAP@{t} (%)" for t in tious)]
    raw_header += ["trainable params", "wall s"]
    raw = [
        [r["row"], str(r["seed"]), f"{r['average_mAP']:.2f}"]
        + [f"{r['mAP'][t]:.2f}" for t in tious]
        + [f"{r['trainable']:,}", f"{r['wall_sec']:.2f}"]
        for r in results
    ]
    probe_rows = [[p["row"], str(p["epochs"]), f"{p['peak_mib']:.1f}", p["meter"]] for p in probes]
    seeds = summaries[0].seeds
    return [
        "# Tuning strategies and LoFi in miniature",
        "",
        *description,
        "",
        f"Average mAP over {seeds} seed(s) on the test split; peak memory: the row's memory "
        "probe; wall time: the mean.",
        "",
        *_markdown(header, rows),
        "",
        "## Every run",
        "",
        *_markdown(raw_header, raw),
        "",
        "## Memory probes",
        "",
        *_markdown(["strategy", "epochs", "peak MiB", "meter"], probe_rows),
    ]


def plot(summaries: Sequence[Summary], path: Path) -> None:
    """Average mAP (mean, std error bars) against peak memory, one labelled point per row."""
    # imported here: the run processes import this module but never draw (about a second)
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for index, s in enumerate(summaries):
        axes.errorbar(s.peak_mib, s.map_mean, yerr=s.map_std or 0.0, fmt="o", capsize=3)
        # alternate above and below the point: rows of similar memory and mAP stay readable
        offset = (4, 4) if index % 2 == 0 else (4, -12)
        axes.annotate(s.row, (s.peak_mib, s.map_mean), xytext=offset, textcoords="offset points")
    axes.set_xlabel("peak training memory (MiB)")
    axes.set_ylabel("average mAP (%)")
    axes.set_title("tuning strategies: accuracy vs memory")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
