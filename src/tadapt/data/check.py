"""Check a dataset before training: every video present, decodable and as long as annotated.

The silent failure this prevents (OpenTAD issues #35/#36): a video missing from the folder or
failing to decode is dropped or crashes an epoch hours into training. :func:`check_dataset`
looks at every video of an annotation file (or one split of it) up front:

* **missing**: no ``prefix + id + ext`` file in the folder (any listed extension; ActivityNet's
  ``v_`` prefix is tried both ways, as the datasets do);
* **undecodable**: the container cannot be probed, or its first or last frame cannot be
  decoded (with ``decode=True``);
* **duration mismatch**: the file's duration differs from the annotated one by more than
  ``duration_tol_sec`` (1 s) or more than ``duration_tol_frac`` (2 %) of it, whichever is
  smaller, and by more than ``duration_floor_frames`` (2) frames, which container rounding
  alone can give a short clip; annotations then point at the wrong frames (a re-encoded or
  trimmed file);
* for a feature folder: **unreadable features** (not a ``(T, C)`` array), **non-finite
  features** (NaN or inf anywhere) and **channel mismatch** (a ``C`` different from the
  expected one, or else from the most common one).

It also reports frame rates (how many videos at each fps) and the annotation file's
:class:`~tadapt.io.LoadReport` (clipped / dropped instances), which are information, not
problems.

Nothing here imports torch (``.pt`` feature files aside): checking a dataset needs no model.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from tadapt.data.feature_files import read_feature_array
from tadapt.data.files import VIDEO_EXTS, DataError, find_files
from tadapt.io import Annotations, LoadReport, load_annotations
from tadapt.io.decoder import VideoDecoder, VideoError, VideoInfo, probe_video

__all__ = ["DataCheckReport", "VideoCheck", "check_dataset"]

Problem = Literal[
    "missing",
    "undecodable",
    "duration_mismatch",
    "unreadable_features",
    "non_finite_features",
    "channel_mismatch",
]


@dataclass(frozen=True)
class VideoCheck:
    """The outcome for one video.

    Attributes:
        video_id: the id in the annotation file.
        path: the file found, or ``None`` when missing.
        problem: ``None`` when fine, else the kind of problem (module docstring).
        detail: a human-readable explanation of the problem.
        annotated_duration: duration in the annotation file, when given.
        file_duration: duration of the video file (videos only).
        fps: frame rate of the file (videos only).
        length: frames of the video, or ``T`` of its features.
        channels: ``C`` of its features (features only).
    """

    video_id: str
    path: Path | None
    problem: Problem | None = None
    detail: str = ""
    annotated_duration: float | None = None
    file_duration: float | None = None
    fps: float | None = None
    length: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class DataCheckReport:
    """All checks of one dataset.

    Attributes:
        annotations: what loading the annotation file changed (clipped / dropped instances).
        split: the subset checked, or ``None`` for the whole file.
        folder: the video or feature folder.
        kind: ``"videos"`` or ``"features"``.
        checks: one entry per video, in annotation order.
        no_instances: ids of videos without any instance (information).
    """

    annotations: LoadReport
    split: str | None
    folder: Path
    kind: Literal["videos", "features"]
    checks: tuple[VideoCheck, ...]
    no_instances: tuple[str, ...] = ()

    @property
    def problems(self) -> list[VideoCheck]:
        """The checks that found a problem."""
        return [c for c in self.checks if c.problem is not None]

    @property
    def ok(self) -> bool:
        """``True`` when no video has a problem."""
        return not self.problems

    def count(self, problem: Problem) -> int:
        """How many videos have ``problem``."""
        return sum(c.problem == problem for c in self.checks)

    def fps_counts(self) -> list[tuple[float, int]]:
        """``(fps rounded to 3 decimals, videos)``, most common first."""
        rates = Counter(round(c.fps, 3) for c in self.checks if c.fps is not None)
        return rates.most_common()

    def summary(self, *, max_rows: int = 50) -> str:
        """A table: counts per problem, frame rates, then one row per problem video."""
        scope = f"split {self.split!r}" if self.split else "all splits"
        n_ok = len(self.checks) - len(self.problems)
        lines = [
            self.annotations.summary(),
            f"{self.kind} in {self.folder} ({scope}): {len(self.checks)} videos, {n_ok} ok",
        ]
        if self.fps_counts():
            rates = ", ".join(f"{r:g} fps x {n}" for r, n in self.fps_counts())
            lines.append(f"  frame rates: {rates}")
        if self.no_instances:
            lines.append(f"  {len(self.no_instances)} videos have no instance (kept)")
        problems = self.problems
        kinds = sorted({c.problem for c in problems if c.problem is not None})
        if kinds:
            lines += ["", f"{'problem':<22}{'videos':>8}"]
            lines += [f"{k:<22}{self.count(k):>8}" for k in kinds]
            width = max(len(c.video_id) for c in problems) + 2
            lines += ["", f"{'video':<{width}}{'problem':<22}detail"]
            lines += [
                f"{c.video_id:<{width}}{c.problem or '':<22}{c.detail}" for c in problems[:max_rows]
            ]
            if len(problems) > max_rows:
                lines.append(f"... {len(problems) - max_rows} more")
        lines.append("")
        lines.append(
            "OK: no problems found" if self.ok else f"{len(problems)} videos have problems"
        )
        return "\n".join(lines)


def _mismatch(
    annotated: float | None, actual: float, tol_sec: float, tol_frac: float, floor_sec: float = 0.0
) -> bool:
    """Whether the durations differ by more than the smaller tolerance and the floor."""
    if annotated is None or annotated <= 0:
        return False
    diff = abs(actual - annotated)
    return diff > floor_sec and (diff > tol_sec or diff > tol_frac * annotated)


def _check_video(
    vid: str,
    path: Path,
    annotated: float | None,
    *,
    decode: bool,
    tol_sec: float,
    tol_frac: float,
    floor_frames: float,
    probe: Callable[[Path], VideoInfo],
) -> VideoCheck:
    try:
        info = probe(path)
        if decode:
            with VideoDecoder(path) as decoder:
                decoder.read_arrays(sorted({0, info.num_frames - 1}))
    except (VideoError, OSError) as exc:
        return VideoCheck(vid, path, "undecodable", str(exc), annotated)
    problem: Problem | None = None
    detail = ""
    floor_sec = floor_frames / info.fps if info.fps > 0 else 0.0
    if _mismatch(annotated, info.duration_sec, tol_sec, tol_frac, floor_sec):
        assert annotated is not None  # _mismatch is False without it
        problem = "duration_mismatch"
        detail = (
            f"file {info.duration_sec:.2f} s vs annotated {annotated:.2f} s "
            f"({info.duration_sec - annotated:+.2f} s)"
        )
    return VideoCheck(
        vid, path, problem, detail, annotated, info.duration_sec, info.fps, info.num_frames
    )


def _check_features(vid: str, path: Path, annotated: float | None) -> VideoCheck:
    try:
        feats = read_feature_array(path)
    except DataError as exc:
        return VideoCheck(vid, path, "unreadable_features", str(exc), annotated)
    t, c = feats.shape
    bad = int(feats.size - np.isfinite(feats).sum())
    problem: Problem | None = "non_finite_features" if bad else None
    detail = f"{path}: {bad} of {feats.size} values are NaN or inf" if bad else ""
    return VideoCheck(vid, path, problem, detail, annotated, length=int(t), channels=int(c))


def check_dataset(
    annotations: str | os.PathLike[str] | Annotations,
    *,
    videos: str | os.PathLike[str] | None = None,
    features: str | os.PathLike[str] | None = None,
    split: str | None = None,
    exts: str | Sequence[str] = VIDEO_EXTS,
    feature_ext: str = ".npy",
    prefix: str = "",
    category_file: str | os.PathLike[str] | None = None,
    decode: bool = True,
    duration_tol_sec: float = 1.0,
    duration_tol_frac: float = 0.02,
    duration_floor_frames: float = 2.0,
    channels: int | None = None,
    workers: int = 4,
    progress: str | None = None,
    probe: Callable[[Path], VideoInfo] = probe_video,
) -> DataCheckReport:
    """Check every video of ``annotations`` against a video folder or a feature folder.

    Args:
        annotations: an annotation file (any supported format) or loaded annotations.
        videos: the video folder (searched recursively); give this or ``features``.
        features: the feature folder (``(T, C)`` files).
        split: check only this subset (or a role, ``train`` / ``test``).
        exts: video extensions, e.g. ``".mp4,.avi"`` (default: those training reads).
        feature_ext: ``.npy`` or ``.pt``.
        prefix: file-name prefix before the video id.
        category_file: class list for OpenTAD-style files (default: found beside the file).
        decode: also decode each video's first and last frame (slower, catches truncation).
        duration_tol_sec: allowed absolute duration difference, seconds.
        duration_tol_frac: allowed relative duration difference.
        duration_floor_frames: differences up to this many frames (at the file's frame
            rate) are never flagged.
        channels: the ``C`` the features must have (e.g. ``data.feature_dim``); ``None``:
            the most common one.
        workers: threads probing / decoding in parallel.
        progress: show a progress bar with this description (``None``: none).
        probe: ``path -> VideoInfo`` (injectable for tests).

    Returns:
        The report; ``report.ok`` is ``True`` when nothing is wrong.

    Raises:
        ValueError: neither or both folders given; the annotation file is malformed.
    """
    if (videos is None) == (features is None):
        raise ValueError("check_dataset needs exactly one of videos= or features=")
    if isinstance(annotations, Annotations):
        loaded = annotations
    else:
        loaded = load_annotations(annotations, category_file=category_file)
    subset = loaded.resolve_split(split) if split is not None else None
    chosen = loaded.split(split) if split is not None else loaded
    folder = Path(videos if videos is not None else features)  # type: ignore[arg-type]
    ext_list = exts if videos is not None else (feature_ext,)
    table = chosen.table  # numpy columns: ``chosen.videos`` would build torch ground truth
    durations = dict(zip(table.video_ids, table.durations, strict=True))
    found, _ = find_files(folder, table.video_ids, exts=ext_list, prefix=prefix)

    def one(vid: str) -> VideoCheck:
        annotated = durations[vid]
        if vid not in found:
            names = "/".join(ext_list) if isinstance(ext_list, tuple | list) else ext_list
            return VideoCheck(vid, None, "missing", f"no {prefix}{vid}[{names}]", annotated)
        if features is not None:
            return _check_features(vid, found[vid], annotated)
        return _check_video(
            vid,
            found[vid],
            annotated,
            decode=decode,
            tol_sec=duration_tol_sec,
            tol_frac=duration_tol_frac,
            floor_frames=duration_floor_frames,
            probe=probe,
        )

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(one, table.video_ids)
        bar = tqdm(
            results, total=len(table.video_ids), desc=progress, unit="video", disable=not progress
        )
        checks = list(bar)
    if features is not None:
        checks = _flag_channels(checks, channels)
    per_video = np.bincount(table.video, minlength=len(table.video_ids))
    return DataCheckReport(
        annotations=loaded.report,
        split=subset,
        folder=folder,
        kind="videos" if videos is not None else "features",
        checks=tuple(checks),
        no_instances=tuple(v for v, n in zip(table.video_ids, per_video, strict=True) if n == 0),
    )


def _flag_channels(checks: list[VideoCheck], expected: int | None) -> list[VideoCheck]:
    """Mark feature files whose channel count differs from ``expected`` (or the most common)."""
    if expected is None:
        counts = Counter(c.channels for c in checks if c.channels is not None)
        if len(counts) <= 1:
            return checks
        expected = counts.most_common(1)[0][0]
        reason = f"most files have C={expected}"
    else:
        reason = f"expected C={expected}"
    return [
        replace(c, problem="channel_mismatch", detail=f"C={c.channels}, {reason}")
        if c.problem is None and c.channels is not None and c.channels != expected
        else c
        for c in checks
    ]
