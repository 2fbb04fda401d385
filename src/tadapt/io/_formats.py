"""Readers for each annotation format behind :func:`tadapt.io.load_annotations`.

Each ``parse_*`` function reads one file into a :class:`RawFile`: videos in file order whose
segments are already checked (numbers, finite, ``0 <= start <= end``) but not yet clipped,
deduplicated or indexed. The clip/drop policies and label indexing are applied afterwards, the
same way for every format, in :mod:`tadapt.io.annotations`. Every error is an
:class:`AnnotationError` that names the file, the video and the field.

Format layouts follow the files that ActionFormer (happyharrycn/actionformer_release),
OpenTAD (sming256/OpenTAD), the official ActivityNet kit, BSN (wzmsltw/BSN) and G-TAD
(frostinassiky/gtad) ship; ``docs/formats.md`` describes each.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import json
import logging
import math
import os
import reprlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tadapt.io.text import utf8_required

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = (
    "actionformer", "opentad", "activitynet", "bsn_activitynet", "thumos_csv",
)  # fmt: skip

# The 20 THUMOS-14 detection classes (detclasslist.txt), alphabetical: the order of
# ActionFormer's label_id and of OpenTAD's category_idx.txt.
THUMOS14_CLASSES: tuple[str, ...] = (
    "BaseballPitch", "BasketballDunk", "Billiards", "CleanAndJerk", "CliffDiving",
    "CricketBowling", "CricketShot", "Diving", "FrisbeeCatch", "GolfSwing", "HammerThrow",
    "HighJump", "JavelinThrow", "LongJump", "PoleVault", "Shotput", "SoccerPenalty",
    "TennisSwing", "ThrowDiscus", "VolleyballSpiking",
)  # fmt: skip

# Split-role templates: role -> subset name (matched case-insensitively later). The role
# "test" is the subset a benchmark is evaluated on: THUMOS' test videos; ActivityNet's and
# OpenTAD's "validation" (ActivityNet's "testing" has no public ground truth).
ALIASES_THUMOS = {"train": "validation", "test": "test"}
ALIASES_VALIDATION = {"train": "training", "val": "validation", "test": "validation"}


class AnnotationError(ValueError):
    """A malformed annotation or prediction file; the message names the file, video and field."""


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = _BRIEF.maxlong = 60
_BRIEF.maxlist = 12  # a CSV header or the keys of an object, whole
_BRIEF.maxdict = 4
_BRIEF.maxlevel = 2


def brief(value: object) -> str:
    """``repr(value)`` cut to a readable length: a message quotes a file, it does not copy it."""
    try:
        return _BRIEF.repr(value)
    except ValueError:  # an integer with more digits than int -> str converts (4300)
        return f"<a {type(value).__name__} too large to show>"


class Loc:
    """Where in a file a value was read, to build error messages."""

    __slots__ = ("item", "source", "video")

    def __init__(self, source: str, video: str | None = None, item: str | None = None) -> None:
        self.source = source
        self.video = video
        self.item = item  # "annotation 3", "line 17", ...

    def at(self, *, video: str | None = None, item: str | None = None) -> Loc:
        """A location further inside the file."""
        return Loc(self.source, video if video is not None else self.video, item)

    def error(self, problem: str, *, field: str | None = None, hint: str = "") -> AnnotationError:
        """An :class:`AnnotationError` ``"<file>, video 'v', row 3, field 'x': problem. hint"``."""
        parts = [self.source]
        if self.video is not None:
            parts.append(f"video {brief(self.video)}")
        if self.item is not None:
            parts.append(self.item)
        if field is not None:
            parts.append(f"field {field!r}")
        return AnnotationError(", ".join(parts) + f": {problem}" + (f". {hint}" if hint else ""))


@dataclass
class RawInstance:
    """One annotated instance as read: label is a class name or an integer index."""

    label: str | int
    start: float
    end: float
    item: str


@dataclass
class RawVideo:
    """One video as read, before policies and label indexing."""

    video_id: str
    subset: str
    duration_sec: float | None = None
    fps: float | None = None
    instances: list[RawInstance] = field(default_factory=list)
    ambiguous: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class RawFile:
    """A whole file as read; ``class_names=None`` means "derive from the labels"."""

    format: str
    sources: list[str]
    videos: dict[str, RawVideo]
    class_names: tuple[str, ...] | None
    aliases: dict[str, str]
    messages: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- low-level readers


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a file is parsed.

    Parsing allocates ~10^5 containers (BSN ActivityNet) and the collections they trigger
    cost more than the parsing itself (1.8 s -> 1.1 s).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return out


def read_json(path: Path, *, unique_keys: bool = True) -> Any:
    """Parse JSON; ``unique_keys`` rejects an object with a repeated key (json keeps the last).

    Without ``unique_keys`` (prediction files, read as the public evaluators' ``json.load``
    reads them: a repeated key keeps the last) the fast ``orjson`` parser is used, about 5x
    faster than ``json`` on a million detections; a file it refuses (``NaN``, which ``json``
    accepts and the readers then report by entry, or invalid JSON) goes to ``json``.
    """
    try:
        if not unique_keys:
            data = path.read_bytes()
            try:
                return orjson.loads(data[3:] if data.startswith(codecs.BOM_UTF8) else data)
            except orjson.JSONDecodeError:
                return json.loads(data.decode("utf-8-sig"))
        with path.open(encoding="utf-8-sig") as f:
            return json.load(f, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}: not valid JSON ({e})") from None
    except _DuplicateKeyError as e:
        raise AnnotationError(
            f"{path}: key {brief(e.key)} appears twice in one JSON object; "
            "each video id (and each field) must appear once"
        ) from None
    except RecursionError:
        raise AnnotationError(
            f"{path}: JSON nested too deeply; not an annotation or prediction file"
        ) from None
    except UnicodeDecodeError:
        raise  # not UTF-8: reported by the caller
    except ValueError:  # json refuses an integer of more than 4300 digits
        raise AnnotationError(f"{path}: not valid JSON (a number with too many digits)") from None


def read_csv(path: Path, loc: Loc, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a headed CSV as dicts; checks that the ``required`` columns exist."""
    with utf8_required(path, AnnotationError), path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, restval="")
        with csv_errors(path, reader):
            header = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in header]
            if missing:
                raise loc.error(f"missing column(s) {missing}; the header is {brief(header)}")
            reader.fieldnames = header
            return list(reader)


def csv_header(path: Path) -> list[str]:
    """The stripped column names of a CSV's first line."""
    with utf8_required(path, AnnotationError), path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        with csv_errors(path, reader):
            return [c.strip() for c in next(reader, [])]


@contextlib.contextmanager
def csv_errors(path: Path, reader: Any) -> Iterator[None]:
    """Turn the csv module's errors (a field over 128 KiB, ...) into an AnnotationError."""
    try:
        yield
    except csv.Error as e:
        line = getattr(reader, "reader", reader).line_num  # a DictReader's own count lags
        raise AnnotationError(f"{path}, line {line}: unreadable CSV ({e})") from None


def read_category_file(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """Class names, one per line (``category_idx.txt``); the class id is the line index."""
    path = Path(path)
    with utf8_required(path, AnnotationError):
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()  # a trailing newline is common; an empty line inside is not
    names = [line.strip() for line in lines]
    for i, name in enumerate(names):
        if not name:
            raise AnnotationError(f"{path}, line {i + 1}: empty class name")
    _check_unique(names, str(path))
    return tuple(names)


def _check_unique(names: list[str] | tuple[str, ...], source: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise AnnotationError(f"{source}: class name {brief(name)} is listed twice")
        seen.add(name)


def number(value: object, loc: Loc, field: str) -> float:
    """A finite float from a JSON number (a string or a boolean is an error)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise loc.error(f"expected a number, got {brief(value)}", field=field)
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        finite = False
    if not finite:
        raise loc.error(f"expected a finite number, got {brief(value)}", field=field)
    return float(value)


def text_number(text: str, loc: Loc, field: str) -> float:
    """A finite float from a CSV cell."""
    try:
        value = float(text)
    except ValueError:
        raise loc.error(f"expected a number, got {brief(text)}", field=field) from None
    if not math.isfinite(value):
        raise loc.error(f"expected a finite number, got {brief(text)}", field=field)
    return value


def text_optional(text: str, loc: Loc, field: str) -> float:
    """A finite, non-negative float from a CSV cell (a duration or a frame rate)."""
    value = text_number(text, loc, field)
    if value < 0:
        raise loc.error(f"must not be negative, got {value}", field=field)
    return value


def _times(start: float, end: float, loc: Loc, field: str) -> tuple[float, float]:
    if start < 0 or end < 0:
        raise loc.error(f"negative time in [{start}, {end}]", field=field, hint="times are seconds")
    if end < start:
        raise loc.error(f"end {end} < start {start}", field=field, hint="write [start, end]")
    return start, end


def _segment(value: object, loc: Loc, field: str = "segment") -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise loc.error(f"expected [start, end] in seconds, got {brief(value)}", field=field)
    return _times(number(value[0], loc, field), number(value[1], loc, field), loc, field)


def _require(obj: object, key: str, loc: Loc) -> Any:
    if not isinstance(obj, dict):
        raise loc.error(f"expected a JSON object, got {type(obj).__name__}")
    if key not in obj:
        raise loc.error(
            f"missing required key {key!r}", field=key, hint=f"keys: {brief(sorted(obj))}"
        )
    return obj[key]


def _optional(obj: dict[str, Any], key: str, loc: Loc) -> float | None:
    """An optional non-negative number (duration, fps, frame count); ``None`` if absent."""
    if obj.get(key) is None:
        return None
    value = number(obj[key], loc, key)
    if value < 0:
        raise loc.error(f"must not be negative, got {value}", field=key)
    return value


def _string(obj: dict[str, Any], key: str, loc: Loc) -> str:
    value = _require(obj, key, loc)
    if not isinstance(value, str):
        raise loc.error(f"expected a string, got {brief(value)}", field=key)
    return value


def _database(data: Any, loc: Loc) -> dict[str, Any]:
    db = _require(data, "database", loc)
    if not isinstance(db, dict):
        raise loc.error("expected an object mapping video id -> video", field="database")
    return db


def _annotation_list(info: Any, loc: Loc, messages: list[str]) -> list[Any]:
    if not isinstance(info, dict):
        raise loc.error(f"expected a JSON object, got {type(info).__name__}")
    if "annotations" not in info:
        messages.append(f"{loc.video}: no 'annotations' key; treated as a video without instances")
        return []
    anns = info["annotations"]
    if not isinstance(anns, list):
        raise loc.error(f"expected a list, got {type(anns).__name__}", field="annotations")
    return anns


def _labelled_instances(info: Any, loc: Loc, messages: list[str]) -> list[RawInstance]:
    """The ``{label, segment}`` annotations of one video entry (OpenTAD, ANet, BSN layouts)."""
    instances = []
    for i, ann in enumerate(_annotation_list(info, loc, messages)):
        aloc = loc.at(item=f"annotation {i}")
        label = _string(ann, "label", aloc)
        start, end = _segment(_require(ann, "segment", aloc), aloc)
        instances.append(RawInstance(label, start, end, f"annotation {i}"))
    return instances


def read_payload(path: Path, *, unique_keys: bool = True) -> Any:
    """The parsed JSON of ``path``, or ``None`` when it is not JSON (a CSV, read later).

    ``unique_keys``: see :func:`read_json`.
    """
    with utf8_required(path, AnnotationError), path.open(encoding="utf-8-sig") as f:
        head = f.read(64).lstrip()
    return read_json(path, unique_keys=unique_keys) if head.startswith(("{", "[")) else None


# --------------------------------------------------------------------------- JSON formats


def parse_actionformer(path: Path, data: Any, explicit: tuple[str, ...] | None) -> RawFile:
    """ActionFormer JSON; class names ordered by ``label_id`` (one id per name, 0..K-1)."""
    loc = Loc(str(path))
    raw = RawFile("actionformer", [str(path)], {}, None, {})
    name_of: dict[int, str] = {}
    id_of: dict[str, int] = {}
    for vid, info in _database(data, loc).items():
        vloc = loc.at(video=vid)
        video = RawVideo(vid, _string(info, "subset", vloc))
        video.duration_sec = _optional(info, "duration", vloc)
        video.fps = _optional(info, "fps", vloc)
        for i, ann in enumerate(_annotation_list(info, vloc, raw.messages)):
            aloc = vloc.at(item=f"annotation {i}")
            label = _string(ann, "label", aloc)
            label_id = _require(ann, "label_id", aloc)
            if isinstance(label_id, float) and label_id.is_integer():
                label_id = int(label_id)
            if not isinstance(label_id, int) or isinstance(label_id, bool) or label_id < 0:
                raise aloc.error(
                    f"expected an integer >= 0, got {brief(label_id)}", field="label_id"
                )
            if name_of.setdefault(label_id, label) != label:
                raise aloc.error(
                    f"label_id {label_id} is {brief(name_of[label_id])} elsewhere but "
                    f"{brief(label)} here",
                    field="label_id",
                )
            if id_of.setdefault(label, label_id) != label_id:
                raise aloc.error(
                    f"label {brief(label)} has label_id {id_of[label]} elsewhere but {label_id} "
                    "here",
                    field="label_id",
                )
            start, end = _segment(_require(ann, "segment", aloc), aloc)
            video.instances.append(RawInstance(label, start, end, f"annotation {i}"))
        raw.videos[vid] = video
    by_id = tuple(name_of[i] for i in sorted(name_of))
    if explicit is None:
        missing = _missing_ids(sorted(name_of))
        if missing:
            raise loc.error(
                f"label_id values are not 0..K-1 (missing {missing[:10]})",
                field="label_id",
                hint="pass class_names= (or category_file=) to fix the label index",
            )
        raw.class_names = by_id
    elif any(explicit.index(n) != i for n, i in id_of.items() if n in explicit):
        raw.messages.append(
            "label_id order differs from the given class names; labels follow the given names"
        )
    subsets = {v.subset.lower() for v in raw.videos.values()}
    raw.aliases = thumos_roles(raw.videos) or (
        ALIASES_THUMOS if "test" in subsets else ALIASES_VALIDATION
    )
    return raw


def _missing_ids(ids: list[int], limit: int = 10) -> list[int]:
    """The first ``limit`` integers of ``0..max(ids)`` not in the sorted ``ids``."""
    missing: list[int] = []
    expected = 0
    for i in ids:
        # walk the gaps only: a label_id of 10**12 must not enumerate 10**12 numbers
        missing += range(expected, min(i, expected + limit - len(missing)))
        if len(missing) >= limit:
            break
        expected = i + 1
    return missing


def _parse_named(path: Path, data: Any, fmt: str, aliases: dict[str, str]) -> RawFile:
    """OpenTAD and official ActivityNet share a layout: ``database`` of ``{segment, label}``."""
    loc = Loc(str(path))
    raw = RawFile(fmt, [str(path)], {}, None, aliases)
    for vid, info in _database(data, loc).items():
        vloc = loc.at(video=vid)
        video = RawVideo(vid, _string(info, "subset", vloc))
        video.duration_sec = _optional(info, "duration", vloc)
        frames = _optional(info, "frame", vloc) if fmt == "opentad" else None
        if frames and video.duration_sec:
            video.fps = frames / video.duration_sec
        video.instances.extend(_labelled_instances(info, vloc, raw.messages))
        raw.videos[vid] = video
    return raw


def parse_opentad(path: Path, data: Any, explicit: tuple[str, ...] | None) -> RawFile:
    """OpenTAD JSON; class names from ``category_idx.txt`` beside the file when not given."""
    raw = _parse_named(path, data, "opentad", ALIASES_VALIDATION)
    raw.aliases = thumos_roles(raw.videos) or raw.aliases
    sibling = path.parent / "category_idx.txt"
    if explicit is None and sibling.is_file():
        raw.class_names = read_category_file(sibling)
        raw.sources.append(str(sibling))
    return raw


def parse_activitynet(path: Path, data: Any, explicit: tuple[str, ...] | None) -> RawFile:
    """Official ActivityNet JSON; class names are the taxonomy's leaf nodes, sorted."""
    raw = _parse_named(path, data, "activitynet", ALIASES_VALIDATION)
    taxonomy = data.get("taxonomy") or []
    if not isinstance(taxonomy, list):
        raise AnnotationError(f"{path}, field 'taxonomy': expected a list of nodes")
    nodes: list[tuple[Any, str, Any]] = []  # (nodeId, nodeName, parentId)
    for i, node in enumerate(taxonomy):
        nloc = Loc(str(path), item=f"taxonomy node {i}")
        node_id = _node_id(_require(node, "nodeId", nloc), nloc, "nodeId")
        parent = node.get("parentId")
        parent = None if parent is None else _node_id(parent, nloc, "parentId")
        nodes.append((node_id, _string(node, "nodeName", nloc), parent))
    parents = {parent for _, _, parent in nodes}
    leaves = sorted({name for node_id, name, _ in nodes if node_id not in parents})
    if leaves:
        raw.class_names = tuple(leaves)
    return raw


def _node_id(value: object, loc: Loc, field: str) -> int | float | str:
    """A taxonomy node id: a number or a string (ids are compared, so no list or object)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise loc.error(f"expected a number or a string, got {brief(value)}", field=field)
    return value


def parse_bsn(path: Path, data: Any, explicit: tuple[str, ...] | None) -> RawFile:
    """BSN/BMN ``anet_anno_action.json`` with ``video_info_new.csv``/``action_name.csv`` beside it.

    Video ids lose their ``v_`` prefix so they match the official ActivityNet ids; the BSN id
    is ``"v_" + video_id``.
    """
    loc = Loc(str(path))
    raw = RawFile("bsn_activitynet", [str(path)], {}, None, ALIASES_VALIDATION)
    info_path = path.parent / "video_info_new.csv"
    info_rows: dict[str, dict[str, str]] = {}
    if info_path.is_file():
        raw.sources.append(str(info_path))
        iloc = Loc(str(info_path))
        for n, info_row in enumerate(read_csv(info_path, iloc, ("video", "subset")), start=2):
            if info_row["video"] in info_rows:
                raise iloc.at(video=info_row["video"], item=f"line {n}").error(
                    "video listed twice", field="video", hint="keep one row per video"
                )
            info_rows[info_row["video"]] = info_row
    else:
        raw.messages.append(f"{info_path} not found: every subset is ''")
        logger.warning("%s not found: BSN subsets unknown", info_path)
    if explicit is None and (names_path := path.parent / "action_name.csv").is_file():
        raw.sources.append(str(names_path))
        rows = read_csv(names_path, Loc(str(names_path)), ("action",))
        raw.class_names = tuple(row["action"].strip() for row in rows)
        _check_unique(raw.class_names, str(names_path))
    if not isinstance(data, dict):
        raise loc.error("expected an object mapping 'v_<id>' -> video")
    for bsn_id, info in data.items():
        vid = bsn_id[2:] if bsn_id.startswith("v_") else bsn_id
        vloc = loc.at(video=bsn_id)
        if vid == bsn_id:
            raw.messages.append(f"{bsn_id}: no 'v_' prefix; id kept as written")
        if vid in raw.videos:
            raise vloc.error(f"id {brief(vid)} appears both with and without the 'v_' prefix")
        row = info_rows.get(bsn_id)
        if row is None:
            subset = ""
            if info_rows:
                raw.messages.append(f"{bsn_id}: not in video_info_new.csv; subset ''")
        else:
            subset = row["subset"].strip()
        video = RawVideo(vid, subset)
        if isinstance(info, dict):
            video.duration_sec = _optional(info, "duration_second", vloc)
        if row is not None and row.get("fps"):
            video.fps = text_optional(row["fps"], Loc(str(info_path), video=bsn_id), "fps")
        video.instances.extend(_labelled_instances(info, vloc, raw.messages))
        raw.videos[vid] = video
    if unused := len(set(info_rows) - set(data)):
        raw.messages.append(f"{unused} videos of video_info_new.csv are not in the json; ignored")
    return raw


# --------------------------------------------------------------------------- THUMOS CSV


def thumos_subset(vid: str) -> str:
    """The THUMOS-14 set of an id: ``video_validation_*`` / ``video_test_*``, else ``""``."""
    if vid.startswith("video_validation_"):
        return "validation"
    if vid.startswith("video_test_"):
        return "test"
    return ""


def thumos_roles(videos: dict[str, RawVideo]) -> dict[str, str] | None:
    """Split roles of a THUMOS-14 file from its video ids, whatever its subsets are called.

    ``train`` -> the subset of the ``video_validation_*`` videos and ``test`` -> the subset of
    the ``video_test_*`` videos (OpenTAD names them ``training`` / ``validation``). No ``val``:
    THUMOS' validation videos are its training data.

    Returns:
        The roles, or ``None`` when an id is not a THUMOS-14 id or a subset mixes both kinds.
    """
    subset_of: dict[str, str] = {}  # THUMOS kind -> subset
    kind_of: dict[str, str] = {}  # subset -> THUMOS kind
    for video in videos.values():
        kind = thumos_subset(video.video_id)
        if not kind or subset_of.setdefault(kind, video.subset) != video.subset:
            return None
        if kind_of.setdefault(video.subset, kind) != kind:
            return None
    roles = (("train", "validation"), ("test", "test"))
    return {role: subset_of[kind] for role, kind in roles if kind in subset_of}


def parse_thumos_csv(path: Path, data: Any, explicit: tuple[str, ...] | None) -> RawFile:
    """G-TAD THUMOS-14 CSV: ``video,type,type_idx,start,end,...`` or the ``label-idx`` variant.

    ``Ambiguous`` rows (``type == "Ambiguous"``, or ``label-idx == -1``) go to the ambiguous
    segments. The subset comes from the video id (``video_validation_*``/``video_test_*``).
    """
    loc = Loc(str(path))
    raw = RawFile("thumos_csv", [str(path)], {}, None, ALIASES_THUMOS)
    variant = "type" not in csv_header(path)
    cols: tuple[str, ...]
    if variant:
        cols = ("video-name", "t-init", "t-end", "video-duration", "frame-rate", "label-idx")
        vid_col, start_col, end_col = "video-name", "t-init", "t-end"
    else:
        cols = ("video", "type", "start", "end")
        vid_col, start_col, end_col = "video", "start", "end"
    names = explicit if explicit is not None else THUMOS14_CLASSES
    ucf_of: dict[str, str] = {}
    for n, row in enumerate(read_csv(path, loc, cols), start=2):
        vid = row[vid_col].strip()
        rloc = loc.at(video=vid, item=f"line {n}")
        if not vid:
            raise rloc.error("empty video id", field=vid_col)
        start, end = _times(
            text_number(row[start_col], rloc, start_col), text_number(row[end_col], rloc, end_col),
            rloc, f"{start_col}/{end_col}",
        )  # fmt: skip
        video = raw.videos.get(vid)
        if video is None:
            video = raw.videos[vid] = RawVideo(vid, thumos_subset(vid))
            if not video.subset:
                raw.messages.append(f"{vid}: id is not video_validation_*/video_test_*; subset ''")
            if variant:
                video.duration_sec = text_optional(row["video-duration"], rloc, "video-duration")
                video.fps = text_optional(row["frame-rate"], rloc, "frame-rate")
        elif (
            variant
            and text_number(row["video-duration"], rloc, "video-duration") != video.duration_sec
        ):
            raise rloc.error("differs from an earlier row of this video", field="video-duration")
        label: str | int
        if variant:
            idx = text_number(row["label-idx"], rloc, "label-idx")
            if idx == -1:
                video.ambiguous.append((start, end))
                continue
            if not idx.is_integer() or not 0 <= idx < len(names):
                raise rloc.error(
                    f"{brief(row['label-idx'])} is neither -1 (Ambiguous) nor a class index "
                    f"0..{len(names) - 1}",
                    field="label-idx",
                    hint="pass class_names= if this file uses other classes",
                )
            label = int(idx)
        else:
            label = row["type"].strip()
            if label == "Ambiguous":
                video.ambiguous.append((start, end))
                continue
            ucf = (row.get("type_idx") or "").strip()
            if ucf_of.setdefault(label, ucf) != ucf:
                raise rloc.error(
                    f"type {brief(label)} has type_idx {brief(ucf_of[label])} elsewhere but "
                    f"{brief(ucf)} here",
                    field="type_idx",
                )
        video.instances.append(RawInstance(label, start, end, f"line {n}"))
    if variant or explicit is not None:
        raw.class_names = names
    else:
        types = {str(i.label) for v in raw.videos.values() for i in v.instances}
        # all 20 classes even when a (partial) file lacks some, so indices stay comparable
        raw.class_names = THUMOS14_CLASSES if types <= set(THUMOS14_CLASSES) else None
    return raw


PARSERS: dict[str, Callable[[Path, Any, tuple[str, ...] | None], RawFile]] = {
    "actionformer": parse_actionformer,
    "opentad": parse_opentad,
    "activitynet": parse_activitynet,
    "bsn_activitynet": parse_bsn,
    "thumos_csv": parse_thumos_csv,
}
