"""Detection results on disk: read the files TAL codebases write, write the ActivityNet format.

Readers accept

* the ActivityNet results JSON ``{"results": {vid: [{label, score, segment: [s, e]}]},
  "version", "external_data"}`` (official ``eval_detection.py`` input; OpenTAD's
  ``result_detection.json`` is the same, possibly without ``version``/``external_data``);
* ActionFormer-style JSON ``{"database": {vid: [{segment, label_id or label, scores}]}}``;
* CSV with the header ``video-id,t-start,t-end,label,score`` (the column names of
  ActionFormer's ``ANETdetection`` DataFrame).

A label is a class name, or an integer index into ``class_names``. Segments are read as float64
seconds (negative times are accepted: decoders may emit them before clipping), labels as int64
indices, scores as float64. Writers produce the ActivityNet JSON and
that CSV, atomically (a temporary file in the same folder, then :func:`os.replace`), so a reader
never sees half a file. Written floats use Python's shortest round-trip ``repr``: reading a
written file back gives bit-identical float64 tensors.

:func:`read_predictions` returns a numpy :class:`~tadapt.structures.DetectionTable` (no torch:
what ``tadapt evaluate`` uses); :func:`load_predictions` the per-video torch
:class:`~tadapt.structures.Detections`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from tadapt.io._formats import (
    AnnotationError,
    Loc,
    brief,
    csv_errors,
    gc_paused,
    number,
    read_payload,
    text_number,
)
from tadapt.io.atomic import write_text_atomic
from tadapt.io.text import utf8_required
from tadapt.structures.tables import DetectionTable

if TYPE_CHECKING:
    from tadapt.structures import Detections

__all__ = [
    "EVALUATION_KEY",
    "load_predictions",
    "read_evaluation_settings",
    "read_predictions",
    "write_predictions_csv",
    "write_predictions_json",
]

CSV_COLUMNS: tuple[str, ...] = ("video-id", "t-start", "t-end", "label", "score")
EVALUATION_KEY = "tadapt_evaluation"
"""The field of a prediction JSON that holds how the run that wrote it scored it."""
_SETTINGS_HEAD_CHARS = 1 << 16  # the settings object is far smaller
_INTEGER = re.compile(r"-?[0-9]{1,30}")  # a label written as a class index (CSV labels are text)


class _Irregular(Exception):  # noqa: N818 -- a control-flow signal, not an error
    """The fast reader met something unusual; the entry-by-entry reader will name it."""


def _resolve_label(label: object, index: dict[str, int]) -> int | str:
    """The class index of a name or an integer index (an integer string counts), else a problem.

    Raises:
        TypeError: the label is neither a string nor an integer.
    """
    if isinstance(label, str):
        if label in index:
            return index[label]
        if not _INTEGER.fullmatch(label.strip()):
            return f"unknown label {brief(label)} ({len(index)} known classes)"
        label = int(label)  # CSV labels are strings; an integer string is an index
    if isinstance(label, int) and not isinstance(label, bool):
        if 0 <= label < len(index):
            return label
        return f"class index {label} outside 0..{len(index) - 1}"
    raise TypeError(f"expected a class name or index, got {brief(label)}")


def load_predictions(
    path: str | os.PathLike[str],
    class_names: Sequence[str],
    *,
    unknown_labels: Literal["error", "ignore"] = "error",
) -> tuple[dict[str, Detections], int]:
    """:func:`read_predictions` as one torch :class:`Detections` per video, in file order.

    Returns:
        Detections per video in file order (videos listed with no detections are kept, empty),
        and the number of ignored detections.
    """
    table, ignored = read_predictions(path, class_names, unknown_labels=unknown_labels)
    return table.to_detections(), ignored


def read_predictions(
    path: str | os.PathLike[str],
    class_names: Sequence[str],
    *,
    unknown_labels: Literal["error", "ignore"] = "error",
) -> tuple[DetectionTable, int]:
    """Read detections from an ActivityNet/OpenTAD JSON, ActionFormer JSON or CSV file.

    Args:
        path: the predictions file (format detected from its content).
        class_names: label index -> name, usually ``Annotations.class_names``.
        unknown_labels: ``"error"`` on a label not in ``class_names`` (or an index out of
            range), or ``"ignore"`` such detections and count them.

    Returns:
        The detections (videos in file order; those listed with no detections are kept), and
        the number of ignored detections.

    Raises:
        AnnotationError: missing keys, a malformed segment, ``end < start``, a non-finite score
            or time, or an unknown label under ``"error"``; the message names file, video, field.
    """
    if unknown_labels not in ("error", "ignore"):
        raise ValueError(f"unknown_labels must be 'error' or 'ignore', got {unknown_labels!r}")
    if len(set(class_names)) != len(class_names):
        raise ValueError("class_names has repeated names")
    path = Path(path)
    index = {name: i for i, name in enumerate(class_names)}
    ignore = unknown_labels == "ignore"
    with gc_paused(), utf8_required(path, AnnotationError):
        data = read_payload(path, unique_keys=False)
        try:  # whole columns at once: ~10x faster than entry by entry on 10^5 detections
            columns = _csv_columns(path) if data is None else _json_columns(data)
            return _assemble(*columns, index=index, ignore=ignore)
        except _Irregular:
            return _load_entrywise(path, data, index, ignore)


_Columns = tuple[list[str], NDArray[np.int64], Any, Any, list[Any]]


def _json_columns(data: Any) -> _Columns:
    """Video ids, per-detection video codes, and raw segment/score/label columns of a JSON."""
    if not isinstance(data, dict):
        raise _Irregular
    score_keys: tuple[str, ...] = ("score",)
    label_keys: tuple[str, ...] = ("label",)
    if "results" in data:
        videos = data["results"]
    elif "database" in data:
        videos, score_keys, label_keys = (
            data["database"],
            ("scores", "score"),
            ("label_id", "label"),
        )
    else:
        raise _Irregular
    if not isinstance(videos, dict):
        raise _Irregular
    counts: list[int] = []
    segments: list[Any] = []
    scores: list[Any] = []
    labels: list[Any] = []
    try:
        for entries in videos.values():
            if type(entries) is not list:
                raise _Irregular
            if entries:
                score_key = next(k for k in score_keys if k in entries[0])
                label_key = next(k for k in label_keys if k in entries[0])
                # an entry with a key that takes precedence (label_id over label) reads
                # differently from the first: the entry-by-entry reader decides each one
                preferred = score_keys[: score_keys.index(score_key)]
                preferred += label_keys[: label_keys.index(label_key)]
                if any(k in e for e in entries for k in preferred):
                    raise _Irregular
                segments += [e["segment"] for e in entries]
                scores += [e[score_key] for e in entries]
                labels += [e[label_key] for e in entries]
            counts.append(len(entries))
        # JSON numbers only: no strings, booleans or nested lists (numpy would accept some)
        types = {type(x) for seg in segments for x in seg} | {type(x) for x in scores}
    except (KeyError, TypeError, StopIteration):
        raise _Irregular from None
    if not types <= {int, float} or any(len(seg) != 2 for seg in segments):
        raise _Irregular
    codes = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    return list(videos), codes, segments, scores, labels


def _csv_columns(path: Path) -> _Columns:
    """The same columns from a CSV (a video's rows need not be contiguous)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = [c.strip() for c in next(reader, [])]
            rows = [row for row in reader if row]
        except csv.Error:
            raise _Irregular from None
    if not set(CSV_COLUMNS) <= set(header) or any(len(row) < len(header) for row in rows):
        raise _Irregular
    vid_col, start_col, end_col, label_col, score_col = (header.index(c) for c in CSV_COLUMNS)
    vids = [row[vid_col] for row in rows]
    order = {vid: i for i, vid in enumerate(dict.fromkeys(vids))}
    try:  # numpy parses the strings as float() does
        numbers = np.array(
            [[row[start_col], row[end_col], row[score_col]] for row in rows], dtype=np.float64
        ).reshape(-1, 3)
    except ValueError:
        raise _Irregular from None
    codes = np.array([order[vid] for vid in vids], dtype=np.int64)
    labels = [row[label_col].strip() for row in rows]
    return list(order), codes, numbers[:, :2], numbers[:, 2], labels


def _assemble(
    video_ids: list[str],
    codes: NDArray[np.int64],
    segments: Any,
    scores: Any,
    labels: list[Any],
    *,
    index: dict[str, int],
    ignore: bool,
) -> tuple[DetectionTable, int]:
    """Check whole columns and build the table; :class:`_Irregular` on any problem."""
    try:
        seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
        score = np.asarray(scores, dtype=np.float64).reshape(-1)
    except OverflowError:  # a JSON integer beyond the float range
        raise _Irregular from None
    if not (np.isfinite(seg).all() and np.isfinite(score).all()):
        raise _Irregular
    if bool((seg[:, 1] < seg[:, 0]).any()) or not {type(x) for x in labels} <= {str, int}:
        raise _Irregular
    mapping: dict[Any, int] = {}
    for label in set(labels):  # str and int never compare equal, so the set is exact
        resolved = _resolve_label(label, index)
        if isinstance(resolved, str) and not ignore:
            raise _Irregular
        mapping[label] = resolved if isinstance(resolved, int) else -1
    label_arr = np.array([mapping[x] for x in labels], dtype=np.int64)
    keep = label_arr >= 0
    table = DetectionTable(tuple(video_ids), codes[keep], seg[keep], score[keep], label_arr[keep])
    return table, int((~keep).sum())


# --------------------------------------------------------------------------- entry by entry


class _Collector:
    """Per-video columns gathered entry by entry, turned into a table at the end."""

    def __init__(self, index: dict[str, int], ignore: bool) -> None:
        self.index = index
        self.ignore_unknown = ignore
        self.ignored = 0
        self.columns: dict[str, tuple[list[list[float]], list[float], list[int]]] = {}

    def video(self, video_id: str) -> None:
        """Register a video (so that one with no detections is kept, empty)."""
        self.columns.setdefault(video_id, ([], [], []))

    def add(
        self, video_id: str, start: float, end: float, score: float, label: object, loc: Loc
    ) -> None:
        """Add one detection, or raise the error that names it."""
        if end < start:
            raise loc.error(f"end {end} < start {start}", field="segment")
        try:
            resolved = _resolve_label(label, self.index)
        except TypeError as e:
            raise loc.error(str(e), field="label") from None
        if isinstance(resolved, str):
            if not self.ignore_unknown:
                hint = (
                    "to skip such detections: tadapt evaluate --unknown-labels ignore "
                    "(Python: unknown_labels='ignore')"
                )
                raise loc.error(resolved, field="label", hint=hint)
            self.ignored += 1
            return
        segments, scores, labels = self.columns.setdefault(video_id, ([], [], []))
        segments.append([start, end])
        scores.append(score)
        labels.append(resolved)

    def table(self) -> DetectionTable:
        """The collected detections, in reading order within each video."""
        columns = self.columns.values()
        return DetectionTable(
            tuple(self.columns),
            np.repeat(np.arange(len(columns)), [len(c[1]) for c in columns]).astype(np.int64),
            np.array([s for c in columns for s in c[0]], dtype=np.float64).reshape(-1, 2),
            np.array([x for c in columns for x in c[1]], dtype=np.float64),
            np.array([x for c in columns for x in c[2]], dtype=np.int64),
        )


def _load_entrywise(
    path: Path, data: Any, index: dict[str, int], ignore: bool
) -> tuple[DetectionTable, int]:
    """The reference reader: one entry at a time, raising an error that names the entry."""
    collector = _Collector(index, ignore)
    if data is None:
        _read_csv(path, collector)
    else:
        _read_json(path, data, collector)
    return collector.table(), collector.ignored


def _read_json(path: Path, data: Any, collector: _Collector) -> None:
    loc = Loc(str(path))
    score_keys: tuple[str, ...] = ("score",)
    label_keys: tuple[str, ...] = ("label",)
    if isinstance(data, dict) and "results" in data:
        videos = data["results"]
    elif isinstance(data, dict) and "database" in data:
        # ActionFormer names the score "scores" and may give label_id instead of label
        videos, score_keys, label_keys = (
            data["database"],
            ("scores", "score"),
            ("label_id", "label"),
        )
    else:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise loc.error(f"expected a 'results' or 'database' object at the top, found {keys}")
    if not isinstance(videos, dict):
        raise loc.error("expected an object mapping video id -> list of detections")
    for vid, entries in videos.items():
        vloc = loc.at(video=vid)
        if not isinstance(entries, list):
            hint = (
                "an annotation file? read it with load_annotations"
                if isinstance(entries, dict)
                else ""
            )
            raise vloc.error(
                f"expected a list of detections, got {type(entries).__name__}", hint=hint
            )
        collector.video(vid)
        for i, entry in enumerate(entries):
            eloc = vloc.at(item=f"detection {i}")
            if not isinstance(entry, dict):
                raise eloc.error(f"expected an object, got {brief(entry)}")
            segment = _first(entry, ("segment",), eloc)
            if not isinstance(segment, list) or len(segment) != 2:
                raise eloc.error(f"expected [start, end], got {brief(segment)}", field="segment")
            start = number(segment[0], eloc, "segment")
            end = number(segment[1], eloc, "segment")
            score = number(_first(entry, score_keys, eloc), eloc, "score")
            collector.add(vid, start, end, score, _first(entry, label_keys, eloc), eloc)


def _first(entry: dict[str, Any], keys: tuple[str, ...], loc: Loc) -> Any:
    """The value of the first of ``keys`` present in ``entry``."""
    for key in keys:
        if key in entry:
            return entry[key]
    raise loc.error(
        f"missing required key {' or '.join(map(repr, keys))}",
        hint=f"keys: {brief(sorted(entry))}",
    )


def _read_csv(path: Path, collector: _Collector) -> None:
    loc = Loc(str(path))
    with utf8_required(path, AnnotationError), path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        with csv_errors(path, reader):
            _read_csv_rows(reader, loc, collector)


def _read_csv_rows(reader: Any, loc: Loc, collector: _Collector) -> None:
    """Collect the rows of a ``csv.reader`` positioned at the header."""
    header = [c.strip() for c in next(reader, [])]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise loc.error(f"missing column(s) {missing}; the header is {brief(header)}")
    cols = [header.index(c) for c in CSV_COLUMNS]
    for row in reader:
        if not row:
            continue
        if len(row) < len(header):
            raise loc.at(item=f"line {reader.line_num}").error(
                f"{len(row)} values for {len(header)} columns"
            )
        vid, start, end, label, score = (row[c] for c in cols)
        rloc = loc.at(video=vid, item=f"line {reader.line_num}")
        collector.video(vid)  # listed, as the column reader lists it, even if all are ignored
        collector.add(
            vid,
            text_number(start, rloc, "t-start"),
            text_number(end, rloc, "t-end"),
            text_number(score, rloc, "score"),
            label.strip(),
            rloc,
        )


# --------------------------------------------------------------------------- writers


_Rows = tuple[list[list[float]], list[float], list[str]]


def _rows(
    detections: Iterable[Detections] | Mapping[str, Detections], class_names: Sequence[str]
) -> dict[str, _Rows]:
    """Segments, scores and label names per video, after checking what will be written."""
    if isinstance(detections, Mapping):
        detections = detections.values()
    out: dict[str, _Rows] = {}
    for det in detections:
        vid = det.video_id
        if det.segments.unit != "sec":
            raise ValueError(f"video {vid!r}: segments must be in seconds to be written")
        segments = np.asarray(det.segments.tensor, dtype=np.float64).reshape(-1, 2)
        scores = np.asarray(det.scores, dtype=np.float64)
        finite = np.isfinite(segments).all(axis=1) & np.isfinite(scores)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"video {vid!r}: non-finite value in detection {i}")
        labels = np.asarray(det.labels).tolist()
        if labels and not 0 <= min(labels) <= max(labels) < len(class_names):
            bad = next(x for x in labels if not 0 <= x < len(class_names))
            raise ValueError(f"video {vid!r}: label {bad} outside 0..{len(class_names) - 1}")
        names = [class_names[x] for x in labels]
        if vid in out:  # several Detections of one video (e.g. one per class): concatenate
            out[vid][0].extend(segments.tolist())
            out[vid][1].extend(scores.tolist())
            out[vid][2].extend(names)
        else:
            out[vid] = (segments.tolist(), scores.tolist(), names)
    return out


def write_predictions_json(
    path: str | os.PathLike[str],
    detections: Iterable[Detections] | Mapping[str, Detections],
    class_names: Sequence[str],
    *,
    version: str = "tadapt",
    evaluation: Mapping[str, Any] | None = None,
) -> None:
    """Write detections as an ActivityNet results JSON (the official evaluation's input).

    Args:
        path: output file; its folder is created if needed.
        detections: :class:`Detections` per video (or a mapping video id -> detections);
            several for one video are written as one list, in order.
        class_names: label index -> name; labels are written as names.
        version: the ``version`` field.
        evaluation: how the writer scored them (tIoU thresholds, split, ...), written first as
            ``tadapt_evaluation`` (:func:`read_evaluation_settings` reads it back; other
            readers ignore the field).

    Raises:
        ValueError: a value is non-finite, a label is out of range or segments are not seconds.
    """
    with gc_paused():  # ~10^5 small dicts: the collector's passes would dominate
        results = {
            vid: [
                {"label": name, "score": score, "segment": seg}
                for seg, score, name in zip(segments, scores, names, strict=True)
            ]
            for vid, (segments, scores, names) in _rows(detections, class_names).items()
        }
    head = {EVALUATION_KEY: dict(evaluation)} if evaluation is not None else {}
    payload = {**head, "version": version, "results": results, "external_data": {}}
    write_text_atomic(Path(path), json.dumps(payload, allow_nan=False))


def read_evaluation_settings(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``tadapt_evaluation`` field a tadapt run wrote first in its predictions file.

    Only the file's head is read (the field comes before the results), so a large file costs
    nothing more. ``None`` when the file does not start with the field.
    """
    with Path(path).open(encoding="utf-8", errors="replace") as f:
        head = f.read(_SETTINGS_HEAD_CHARS)
    prefix = f'{{"{EVALUATION_KEY}": '
    if not head.startswith(prefix):
        return None
    try:
        settings, _ = json.JSONDecoder().raw_decode(head, len(prefix))
    except json.JSONDecodeError:
        return None
    return settings if isinstance(settings, dict) else None


def write_predictions_csv(
    path: str | os.PathLike[str],
    detections: Iterable[Detections] | Mapping[str, Detections],
    class_names: Sequence[str],
) -> None:
    """Write detections as CSV ``video-id,t-start,t-end,label,score`` (label as class name).

    A video with no detections has no row, so it does not come back when the file is read.

    Raises:
        ValueError: a value is non-finite, a label is out of range or segments are not seconds.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for vid, (segments, scores, names) in _rows(detections, class_names).items():
        # csv writes a float as str(), which is repr(): the shortest exact round-trip form
        writer.writerows(
            (vid, start, end, name, score)
            for (start, end), score, name in zip(segments, scores, names, strict=True)
        )
    write_text_atomic(Path(path), buffer.getvalue())
