"""What the fuzz tests write: annotation and prediction files of every format, and their mutations.

A file starts as a *model* (videos with instances, or detections) that a writer turns into the
layout of one format, so a test knows what a correct reader must return. Mutations then break
it at three levels:

* the JSON tree: a key deleted, a value replaced by any JSON value (wrong types, NaN,
  Infinity, huge or negative numbers, nesting), a list item duplicated, a segment reversed;
* CSV cells: a cell replaced by any text (empty, ``nan``, ``1e400``, 200 000 characters,
  quotes, commas, newlines), a row cut short or lengthened, the header changed;
* the bytes: truncated, invalid UTF-8 inserted, a BOM, an empty file.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tadapt.io import THUMOS14_CLASSES, AnnotationError

CLASS_POOL = ("Archery", "Curling", "Long Jump", "Zumba", "ñandú")
# the keys readers look for: a mutation adds them where they were not
KEYS = ("label", "label_id", "score", "scores", "segment", "subset", "annotations", "duration")
KEYS += ("fps", "frame", "database", "results", "taxonomy", "url", "nodeId", "parentId")
SUBSETS = ("training", "validation")

# --------------------------------------------------------------------------- numbers and text

_SPECIAL_FLOATS = (0.0, -0.0, 1e-300, 1e300, 1.7976931348623157e308, -1e300, float("nan"))
_SPECIAL_FLOATS += (float("inf"), float("-inf"), 0.1 + 0.2)

finite_times = st.floats(0.0, 200.0, allow_nan=False, allow_infinity=False)
any_float = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(_SPECIAL_FLOATS)
)
# too large for a float; longer literals (> 4300 digits) are tests/io's regression tests, since
# json.dumps cannot write them
huge_int = st.integers(min_value=10**300, max_value=10**320)
any_int = st.integers(-(2**70), 2**70) | huge_int
short_text = st.text(max_size=12)
json_scalars = st.one_of(st.none(), st.booleans(), any_int, any_float, short_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=8,
)
csv_cells = st.one_of(
    short_text,
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e400", "-1", "-0", "1_0", "²"]),
    st.sampled_from(['"', '"a,b"', "a\nb", "--1", " 3 ", "٣", "0x10", "1e-400"]),
    any_float.map(repr),
    any_int.map(str),
    st.just("9" * 5000),  # more digits than int() converts
    st.just("x" * 200_000),  # longer than the csv module's field limit
)

# --------------------------------------------------------------------------- models


@dataclass
class Instance:
    """One annotated instance: a class name (or an integer label) and a segment in seconds."""

    label: str
    start: float
    end: float


@dataclass
class Video:
    """One video of an annotation model."""

    video_id: str
    subset: str
    duration: float | None
    fps: float | None
    instances: list[Instance] = field(default_factory=list)


@dataclass
class Detection:
    """One detection of a prediction model; ``label`` is a name or an integer index."""

    video_id: str
    start: float
    end: float
    label: str | int
    score: float


def _segment(duration: float | None) -> st.SearchStrategy[tuple[float, float]]:
    """Mostly plausible segments, some past the duration, zero-length or reversed."""

    @st.composite
    def segment(draw: st.DrawFn) -> tuple[float, float]:
        start = draw(finite_times)
        kind = draw(st.sampled_from(["plain", "plain", "plain", "zero", "tiny", "past"]))
        if kind == "zero":
            return start, start
        if kind == "tiny":
            return start, start + draw(st.floats(0.0, 2e-3))
        if kind == "past" and duration is not None:
            start = duration + draw(st.floats(-1.0, 2.0) | st.just(0.0))
            return start, start + draw(st.floats(1e-3, 5.0))
        return start, start + draw(st.floats(1e-3, 30.0))

    return segment()


@st.composite
def videos(
    draw: st.DrawFn,
    *,
    classes: tuple[str, ...] = CLASS_POOL,
    ids: st.SearchStrategy[str] | None = None,
    with_duration: bool = True,
    max_videos: int = 4,
) -> list[Video]:
    """An annotation model: a few videos with instances (duplicates included)."""
    id_strategy = ids if ids is not None else st.text(min_size=1, max_size=8)
    video_ids = draw(st.lists(id_strategy, min_size=1, max_size=max_videos, unique=True))
    out = []
    for vid in video_ids:
        duration = draw(st.floats(1.0, 150.0)) if with_duration else None
        video = Video(
            vid, draw(st.sampled_from(SUBSETS)), duration, draw(st.sampled_from([25.0, 30.0]))
        )
        for _ in range(draw(st.integers(0, 4))):
            start, end = draw(_segment(duration))
            label = draw(st.sampled_from(classes))
            video.instances.append(Instance(label, start, end))
            if draw(st.integers(0, 9)) == 0:  # a near-duplicate of the instance
                jitter = draw(st.floats(0.0, 2e-3))
                video.instances.append(Instance(label, start + jitter, end + jitter))
        out.append(video)
    return out


@st.composite
def detections(
    draw: st.DrawFn, video_ids: list[str], classes: tuple[str, ...], *, extreme: bool = False
) -> list[Detection]:
    """A prediction model over ``video_ids`` (plus an unknown video), labels by name or index."""
    pool = [*video_ids, "not_in_ground_truth"]
    times = (
        st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([1e300, -1e300, 0.0])
        if extreme
        else st.floats(-5.0, 200.0)
    )
    scores = st.floats(-1e3, 1e3) | st.sampled_from([0.5, 0.5, 0.0, 1e300, -1e300])
    out = []
    for _ in range(draw(st.integers(0, 12))):
        start = draw(times)
        end = start + draw(st.floats(0.0, 40.0) | st.sampled_from([0.0, 1e300]))
        label: str | int = draw(st.sampled_from(classes))
        if draw(st.booleans()):
            label = classes.index(label)
        out.append(Detection(draw(st.sampled_from(pool)), start, end, label, draw(scores)))
    return out


# --------------------------------------------------------------------------- writers


@dataclass
class FileSet:
    """The files of one case: the file a reader is given and the files beside it."""

    main: str
    files: dict[str, bytes | str | Any]  # name -> bytes, text, or a JSON tree

    def write(self, folder: Path) -> Path:
        """Write every file into ``folder``; the main file's path."""
        for name, content in self.files.items():
            path = folder / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_text(json.dumps(content, allow_nan=True), encoding="utf-8")
        return folder / self.main

    def paths(self, folder: Path) -> list[str]:
        """The paths of every file, as error messages name them."""
        return [str(folder / name) for name in self.files]


def _csv(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def used_classes(model: list[Video]) -> list[str]:
    """The class names the model's instances use, in order of first use."""
    return list(dict.fromkeys(i.label for v in model for i in v.instances))


def actionformer_file(model: list[Video], classes: tuple[str, ...]) -> FileSet:
    """ActionFormer JSON; ``label_id`` is the class's index in ``classes``."""
    database = {
        v.video_id: {
            "subset": v.subset,
            "duration": v.duration,
            "fps": v.fps,
            "annotations": [
                {"label": i.label, "label_id": classes.index(i.label), "segment": [i.start, i.end]}
                for i in v.instances
            ],
        }
        for v in model
    }
    return FileSet("anno.json", {"anno.json": {"version": "Thumos14-30fps", "database": database}})


def opentad_file(model: list[Video], classes: tuple[str, ...] | None) -> FileSet:
    """OpenTAD JSON, with ``category_idx.txt`` beside it when ``classes`` is given."""
    database = {
        v.video_id: {
            "subset": v.subset,
            "duration": v.duration,
            "frame": None if v.duration is None or v.fps is None else v.duration * v.fps,
            "annotations": [{"label": i.label, "segment": [i.start, i.end]} for i in v.instances],
        }
        for v in model
    }
    files: dict[str, Any] = {"anno.json": {"database": database}}
    if classes is not None:
        files["category_idx.txt"] = "\n".join(classes) + "\n"
    return FileSet("anno.json", files)


def activitynet_file(model: list[Video], classes: tuple[str, ...]) -> FileSet:
    """Official ActivityNet JSON: the classes are the taxonomy's leaves under one root."""
    taxonomy = [{"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None}]
    taxonomy += [
        {"nodeId": k + 1, "nodeName": name, "parentId": 0, "parentName": "Root"}
        for k, name in enumerate(classes)
    ]
    database = {
        v.video_id: {
            "subset": v.subset,
            "duration": v.duration,
            "resolution": "640x360",
            "url": f"https://www.youtube.com/watch?v={v.video_id}",
            "annotations": [{"label": i.label, "segment": [i.start, i.end]} for i in v.instances],
        }
        for v in model
    }
    tree = {"version": "VERSION 1.3", "taxonomy": taxonomy, "database": database}
    return FileSet("anet.json", {"anet.json": tree})


def bsn_file(model: list[Video], classes: tuple[str, ...]) -> FileSet:
    """BSN ``anet_anno_action.json`` with ``video_info_new.csv`` and ``action_name.csv``."""
    tree = {
        f"v_{v.video_id}": {
            "duration_second": v.duration,
            "duration_frame": 0 if v.duration is None else int(v.duration * (v.fps or 30)),
            "annotations": [{"label": i.label, "segment": [i.start, i.end]} for i in v.instances],
            "feature_frame": 0,
        }
        for v in model
    }
    info = [["video", "numFrame", "seconds", "fps", "rfps", "subset", "featureFrame"]]
    info += [[f"v_{v.video_id}", 0, v.duration, v.fps, v.fps, v.subset, 0] for v in model]
    names = [["action"], *([c] for c in classes)]
    return FileSet(
        "anet_anno_action.json",
        {
            "anet_anno_action.json": tree,
            "video_info_new.csv": _csv(info),
            "action_name.csv": _csv(names),
        },
    )


def thumos_ids() -> st.SearchStrategy[str]:
    """THUMOS-14 video ids (the CSV takes a video's subset from its id)."""
    kind = st.sampled_from(["video_validation_", "video_test_"])
    return st.tuples(kind, st.integers(1, 9999)).map(lambda t: f"{t[0]}{t[1]:07d}")


def thumos_csv_file(model: list[Video], *, variant: bool) -> FileSet:
    """G-TAD THUMOS-14 CSV (``video,type,type_idx,start,end``) or its ``label-idx`` variant."""
    if variant:
        rows: list[list[Any]] = [
            ["video-name", "t-init", "t-end", "video-duration", "frame-rate", "label-idx"]
        ]
        rows += [
            [v.video_id, i.start, i.end, v.duration, v.fps, THUMOS14_CLASSES.index(i.label)]
            for v in model
            for i in v.instances
        ]
    else:
        rows = [["video", "type", "type_idx", "start", "end", "frame_start", "frame_end"]]
        rows += [
            [v.video_id, i.label, THUMOS14_CLASSES.index(i.label) + 1, i.start, i.end, 0, 0]
            for v in model
            for i in v.instances
        ]
    return FileSet("anno.csv", {"anno.csv": _csv(rows)})


def prediction_file(dets: list[Detection], classes: tuple[str, ...], layout: str) -> FileSet:
    """``results`` (ActivityNet / OpenTAD) JSON, ActionFormer ``database`` JSON or CSV."""
    if layout == "csv":
        rows: list[list[Any]] = [["video-id", "t-start", "t-end", "label", "score"]]
        rows += [[d.video_id, d.start, d.end, d.label, d.score] for d in dets]
        return FileSet("pred.csv", {"pred.csv": _csv(rows)})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for d in dets:
        if layout == "results":
            entry = {"label": d.label, "score": d.score, "segment": [d.start, d.end]}
        else:  # ActionFormer: label_id for an index, label for a name; "scores"
            key = "label_id" if isinstance(d.label, int) else "label"
            entry = {key: d.label, "scores": d.score, "segment": [d.start, d.end]}
        grouped.setdefault(d.video_id, []).append(entry)
    top = "results" if layout == "results" else "database"
    return FileSet("pred.json", {"pred.json": {"version": "x", top: grouped, "external_data": {}}})


# --------------------------------------------------------------------------- mutations


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON tree (the root is ``()``)."""
    out = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for k, value in enumerate(tree):
            out += _paths(value, (*prefix, k))
    return out


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any) -> Any:
    """``tree`` (a deep copy) with 1 to 3 structural mutations."""
    tree = json.loads(json.dumps(tree, allow_nan=True))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(tree)))
        actions = ["replace", "replace", "delete", "duplicate", "reverse", "add"]
        action = draw(st.sampled_from(actions))
        node = _get(tree, path)
        if action == "add" and isinstance(node, dict):  # a key a reader looks for
            values = st.sampled_from(list(node.values())) if node else st.none()
            value = draw(values | st.integers(0, 5) | json_values)
            node[draw(st.sampled_from(KEYS))] = value
            continue
        if not path:
            tree = draw(json_values) if action == "replace" else tree
            continue
        parent, key = _get(tree, path[:-1]), path[-1]
        if action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key], allow_nan=True)))
        elif action == "duplicate" and isinstance(parent, dict):
            parent[f"{key} "] = parent[key]  # a near-duplicate key (video id + space)
        elif action == "reverse" and isinstance(parent[key], list):
            parent[key] = parent[key][::-1]
    return tree


@st.composite
def mutated_csv(draw: st.DrawFn, text: str) -> str:
    """CSV ``text`` with 1 to 3 cell, row or header mutations."""
    rows = list(csv.reader(io.StringIO(text)))
    for _ in range(draw(st.integers(1, 3))):
        r = draw(st.integers(0, max(len(rows) - 1, 0)))
        if not rows:
            rows.append([draw(csv_cells)])
            continue
        row = rows[r]
        action = draw(st.sampled_from(["cell", "cell", "cell", "short", "long", "drop"]))
        if action == "cell" and row:
            row[draw(st.integers(0, len(row) - 1))] = draw(csv_cells)
        elif action == "short" and row:
            row.pop()
        elif action == "long":
            row.append(draw(csv_cells))
        elif action == "drop":
            rows.pop(r)
    return _csv(rows)


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` truncated, with invalid UTF-8 or a NUL inserted, BOM-prefixed or emptied."""
    action = draw(st.sampled_from(["truncate", "truncate", "insert", "bom", "empty"]))
    if action == "empty" or not data:
        return b""
    k = draw(st.integers(0, len(data) - 1))
    if action == "truncate":
        return data[:k]
    if action == "insert":
        return (
            data[:k]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"]))
            + data[k:]
        )
    return b"\xef\xbb\xbf" + data


@st.composite
def mutated_file_set(draw: st.DrawFn, files: FileSet) -> FileSet:
    """One file of ``files`` broken at the JSON, CSV or byte level (often the main file)."""
    names = list(files.files)
    name = files.main if draw(st.integers(0, 3)) else draw(st.sampled_from(names))
    content = files.files[name]
    level = draw(st.sampled_from(["structure", "structure", "bytes"]))
    if level == "structure" and isinstance(content, str) and name.endswith((".csv", ".txt")):
        content = draw(mutated_csv(content))
    elif level == "structure" and not isinstance(content, str | bytes):
        content = draw(mutated_tree(content))
    else:
        raw = (
            content.encode()
            if isinstance(content, str)
            else json.dumps(content, allow_nan=True).encode()
        )
        content = draw(mutated_bytes(raw))
    return FileSet(files.main, {**files.files, name: content})


def is_finite_number(value: object) -> bool:
    """A JSON number a reader may accept (not a boolean, finite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def assert_precise_error(err: ValueError, paths: list[str]) -> None:
    """What a refused file must raise: an ``AnnotationError`` naming a file read, briefly.

    An error about the encoding may be another ``ValueError``: it names the file and says
    UTF-8 (a bare ``UnicodeDecodeError`` fails here).
    """
    message = str(err)
    assert isinstance(err, AnnotationError) or "UTF-8" in message, repr(err)
    assert any(p in message for p in paths), message
    assert len(message) < 2000, "a message quotes a value cut short"
