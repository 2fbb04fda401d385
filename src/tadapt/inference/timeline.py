"""A video's detections drawn as a timeline PNG (matplotlib, Agg backend, no display needed).

One lane per class (with over 20 classes, per class detected or annotated): predicted
segments shaded by score (darker = more confident); with ground truth, a second, hatched lane
per class under it. The time axis reads ``mm:ss``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tadapt.inference.result import VideoDetections

__all__ = ["draw_timeline"]

_LANE_HEIGHT = 0.35  # inches per lane
_MIN_ALPHA = 0.15  # a zero-score segment stays visible
_ALL_LANES_UP_TO = 20  # more classes: lanes only for those detected or annotated


def _mm_ss(seconds: float, _position: object = None) -> str:
    sign = "-" if seconds < 0 else ""
    whole = round(abs(seconds))
    return f"{sign}{whole // 60:02d}:{whole % 60:02d}"


def draw_timeline(
    path: str | os.PathLike[str],
    detections: VideoDetections,
    *,
    ground_truth: Sequence[tuple[float, float, str]] | None = None,
) -> Path:
    """Write ``detections`` as a timeline PNG.

    Args:
        path: the PNG to write (its folder must exist).
        detections: one video's detections (seconds, labels as names).
        ground_truth: ``(start_sec, end_sec, class name)`` of the annotated instances, drawn
            in their own lanes; ``None``: no ground-truth lanes.

    Returns:
        ``path``.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter

    rows = detections.rows()
    truth = list(ground_truth or [])
    classes = list(detections.class_names)
    classes += sorted({name for _, _, name in truth} - set(classes))
    if len(classes) > _ALL_LANES_UP_TO:  # e.g. ActivityNet's 200: the classes seen only
        seen = {r[2] for r in rows} | {name for _, _, name in truth}
        classes = [name for name in classes if name in seen]
    lanes: list[tuple[str, str]] = []  # (class, "pred" | "gt"), top to bottom
    for name in classes:
        lanes.append((name, "pred"))
        if ground_truth is not None:
            lanes.append((name, "gt"))
    index = {lane: i for i, lane in enumerate(lanes)}
    end = max(
        [detections.duration_sec or 0.0]
        + [e for _, e, _, _ in rows]
        + [e for _, e, _ in truth]
        + [1.0]
    )
    fig, ax = plt.subplots(figsize=(10, 1.0 + _LANE_HEIGHT * len(lanes)))
    try:
        cmap = plt.get_cmap("tab10")
        colour = {name: cmap(i % 10) for i, name in enumerate(classes)}
        for start, stop, name, score in sorted(rows, key=lambda r: r[3]):  # strongest on top
            alpha = _MIN_ALPHA + (1.0 - _MIN_ALPHA) * min(max(score, 0.0), 1.0)
            ax.broken_barh(
                [(start, stop - start)],
                (index[(name, "pred")] - 0.4, 0.8),
                facecolors=colour[name],
                alpha=alpha,
            )
        for start, stop, name in truth:
            ax.broken_barh(
                [(start, stop - start)],
                (index[(name, "gt")] - 0.4, 0.8),
                facecolors="none",
                edgecolors=colour[name],
                hatch="///",
            )
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([name if kind == "pred" else f"{name} (GT)" for name, kind in lanes])
        ax.set_ylim(len(lanes) - 0.5, -0.5)
        ax.set_xlim(0.0, end)
        ax.xaxis.set_major_formatter(FuncFormatter(_mm_ss))
        ax.set_xlabel("time (mm:ss)")
        ax.set_title(f"{detections.video_id}: {len(rows)} detections (shade: score)")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)
