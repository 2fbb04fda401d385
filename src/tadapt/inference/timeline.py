"""A video's detections drawn as a timeline PNG (matplotlib, Agg backend, no display needed).

One lane per class (with over 20 classes, per class detected or annotated): predicted
segments shaded by score (the darkest is the video's best score, named in the title); with
ground truth, a second, hatched lane per class under it. The time axis reads ``mm:ss``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tadapt.inference.result import VideoDetections

__all__ = ["draw_timeline"]

_LANE_HEIGHT = 0.35  # inches per lane
_MIN_ALPHA = 0.15  # a zero-score segment stays visible
_MAX_TRACKS = 4  # sub-rows of a lane for overlapping detections
_ALL_LANES_UP_TO = 20  # more classes: lanes only for those detected or annotated


def _mm_ss(seconds: float, _position: object = None) -> str:
    sign = "-" if seconds < 0 else ""
    whole = round(abs(seconds))
    return f"{sign}{whole // 60:02d}:{whole % 60:02d}"


def _pack(segments: Sequence[tuple[float, float]]) -> tuple[list[int], int]:
    """Sub-rows for overlapping segments (best first): each goes in the first free one.

    Returns:
        The sub-row of each segment and the number of sub-rows (at most
        :data:`_MAX_TRACKS`; past that, segments share the last one).
    """
    ends: list[float] = []  # per sub-row, the end of its last segment
    tracks = []
    for start, stop in segments:
        track = next((i for i, end in enumerate(ends) if end <= start), len(ends))
        track = min(track, _MAX_TRACKS - 1)
        if track == len(ends):
            ends.append(stop)
        else:
            ends[track] = max(ends[track], stop)
        tracks.append(track)
    return tracks, max(len(ends), 1)


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
        # shades relative to the video's best score: a weak model's detections stay readable
        best = max([r[3] for r in rows] + [1e-12])
        for name in classes:
            mine = sorted((r for r in rows if r[2] == name), key=lambda r: -r[3])
            rows_of, tracks = _pack([(r[0], r[1]) for r in mine])
            height = 0.8 / tracks
            for (start, stop, _, score), track in zip(mine, rows_of, strict=True):
                alpha = _MIN_ALPHA + (1.0 - _MIN_ALPHA) * min(max(score / best, 0.0), 1.0)
                ax.broken_barh(
                    [(start, stop - start)],
                    (index[(name, "pred")] - 0.4 + track * height, height),
                    facecolors=colour[name],
                    edgecolors="black",
                    linewidth=0.3,
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
        shade = f" (shade: score, darkest {best:.3g})" if rows else ""
        ax.set_title(f"{detections.video_id}: {len(rows)} detections{shade}")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)
