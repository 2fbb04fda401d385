"""Ground-truth annotations of temporal action localization benchmarks, in memory.

:func:`load_annotations` reads any of the files the field uses (format auto-detected) into one
:class:`Annotations` model: class names, and the instances of every video with segments in
seconds (float64) and int64 labels indexing ``class_names``, as a numpy
:class:`~tadapt.structures.GroundTruthTable` (``table``; no torch) and, built on first use, a
torch :class:`~tadapt.structures.GroundTruth` per video (``videos``).

=================  ============================================================================
format             file
=================  ============================================================================
actionformer       ActionFormer JSON ``{"version", "database": {vid: {subset, duration, fps,
                   annotations: [{label, segment, label_id}]}}}``; classes ordered by label_id
opentad            OpenTAD JSON ``{"database": {vid: {duration, frame, subset, annotations:
                   [{segment, label}]}}}`` + ``category_idx.txt`` beside it (class id = line)
activitynet        official ActivityNet JSON (``database``/``taxonomy``/``version``, videos with
                   ``url``); classes = taxonomy leaf names, sorted
bsn_activitynet    BSN/BMN ``anet_anno_action.json`` + ``video_info_new.csv`` (subsets) +
                   ``action_name.csv`` (classes) beside it. Ids lose the ``v_`` prefix to match
                   the official ids; the BSN id is ``"v_" + video_id``
thumos_csv         G-TAD THUMOS-14 CSV ``video,type,type_idx,start,end,...`` or the variant with
                   ``video-duration,frame-rate,label-idx``; ``Ambiguous`` rows go to
                   ``GroundTruth.ambiguous``; classes = the 20 THUMOS-14 classes, alphabetical
                   (the file's sorted types if it has others)
=================  ============================================================================

Label indices agree across the THUMOS-14 files: ActionFormer's label_id, OpenTAD's
``category_idx.txt`` and the CSV's sorted class names are the same alphabetical list.

**Load policies**, applied in this order to every instance and counted in :class:`LoadReport`
(one message per instance, never silent; ambiguous segments are kept as read):

1. past the video's duration (``past_duration``; no check when the file gives no duration,
   as the G-TAD CSV): ``"clip"`` (the default, for training targets) drops an instance that
   starts at or after the duration and clips one that ends after it; ``"drop"`` drops both;
   ``"keep"`` keeps them as given and counts them (``kept_past_duration``): what evaluation
   uses, because the public evaluators (ActivityNet, ActionFormer, OpenTAD) score the ground
   truth as the file gives it;
2. shorter than 1e-3 s -> dropped (``dropped_zero_length``);
3. same label, start and end both within 1e-3 s of an earlier kept instance of the video ->
   dropped (``dropped_duplicates``). Rules 2-3 are ActionFormer's and OpenTAD's
   ``remove_duplicate_annotations``, which both evaluators apply; THUMOS' CliffDiving/Diving
   pairs differ in label and stay.

**Split names.** :meth:`Annotations.resolve_split` maps a split name to a subset:

1. a name equal (case-insensitively) to one of the file's subsets is that subset, as the file
   names it: ``validation`` in OpenTAD's THUMOS-14 file is its subset ``validation``, the
   THUMOS *test* videos;
2. any other name is a role: train/training -> ``train``, test/testing -> ``test`` (the subset
   the benchmark is evaluated on), val/valid/validation -> ``val``, looked up in
   ``split_aliases``, which only holds roles whose subset exists:

=======================================  ==========  ==========  ==========
file: its subsets                        train       val         test
=======================================  ==========  ==========  ==========
ActionFormer THUMOS: Validation, Test    Validation  n/a         Test
OpenTAD THUMOS-14: training, validation  training    n/a         validation
THUMOS CSV: validation, test             validation  n/a         test
official ActivityNet, BSN                training    validation  validation
other OpenTAD / ActionFormer files       training    validation  validation
=======================================  ==========  ==========  ==========

A THUMOS-14 file (every id ``video_validation_*`` / ``video_test_*``) takes its roles from the
ids, whatever its subsets are called, so ``train`` (the THUMOS validation videos) and ``test``
(the THUMOS test videos) are the same videos in every format; presets name roles. ActivityNet
is evaluated on ``validation``: its ``testing`` videos have no public ground truth, so the role
``test`` never means them; the explicit name ``testing`` does (e.g. to write predictions).

A resolution that is probably a mistake still resolves, with a logged warning: a THUMOS-14
name whose videos are the other THUMOS set (``validation`` in OpenTAD's file: the test
videos), and a subset without a single annotated instance (nothing to train on, an mAP of 0).
Training refuses overlapping training and evaluation videos (``tadapt train``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tadapt.io._formats import (
    FORMATS,
    PARSERS,
    THUMOS14_CLASSES,
    AnnotationError,
    Loc,
    RawFile,
    RawVideo,
    brief,
    csv_header,
    gc_paused,
    read_category_file,
    read_payload,
    thumos_subset,
)
from tadapt.io.text import utf8_required
from tadapt.structures.tables import GroundTruthTable

if TYPE_CHECKING:
    from tadapt.structures import GroundTruth

__all__ = [
    "FORMATS",
    "THUMOS14_CLASSES",
    "AnnotationError",
    "Annotations",
    "LoadReport",
    "PastDuration",
    "detect_format",
    "load_annotations",
]

logger = logging.getLogger(__name__)

# ActionFormer libs/utils/metrics.py and OpenTAD evaluations/builder.py both use 1e-3 s.
_MIN_LENGTH_SEC = 1e-3
_DUPLICATE_TOL_SEC = 1e-3
_SUMMARY_MESSAGES = 10

PastDuration = Literal["clip", "drop", "keep"]
"""What :func:`load_annotations` does with instances past the video's duration."""

_ROLES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}  # fmt: skip
# The THUMOS-14 videos a split word names: its training data is the THUMOS validation set.
_THUMOS_SET = {
    "train": "validation", "training": "validation",
    "val": "validation", "valid": "validation", "validation": "validation",
    "test": "test", "testing": "test",
}  # fmt: skip


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_annotations` changed or noticed in a file.

    Attributes:
        path: the annotation file read.
        format: its format name.
        num_videos: videos loaded.
        num_instances: instances kept (after clipping and dropping).
        num_ambiguous: THUMOS ``Ambiguous`` segments, kept aside from the instances.
        clipped_past_duration: instances ending after the video's end, clipped to it
            (``past_duration="clip"``).
        dropped_past_duration: instances ending after the end under ``past_duration="drop"``,
            plus instances starting at or after the end (``"clip"`` and ``"drop"``).
        kept_past_duration: instances ending after the video's end, kept as given
            (``past_duration="keep"``).
        dropped_zero_length: instances shorter than 1e-3 s.
        dropped_duplicates: same-label instances within 1e-3 s of an earlier kept one.
        messages: one line per affected video or instance.
    """

    path: str
    format: str
    num_videos: int
    num_instances: int
    num_ambiguous: int
    clipped_past_duration: int = 0
    dropped_past_duration: int = 0
    kept_past_duration: int = 0
    dropped_zero_length: int = 0
    dropped_duplicates: int = 0
    messages: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines: the counts, then the first messages and how many more there are."""
        lines = [
            f"{self.path} ({self.format}): {self.num_videos} videos, "
            f"{self.num_instances} instances, {self.num_ambiguous} ambiguous",
            f"  clipped past duration: {self.clipped_past_duration}, dropped past duration: "
            f"{self.dropped_past_duration}, kept past duration: {self.kept_past_duration}, "
            f"dropped zero-length: {self.dropped_zero_length}, "
            f"dropped duplicates: {self.dropped_duplicates}",
        ]
        lines += [f"  {m}" for m in self.messages[:_SUMMARY_MESSAGES]]
        if len(self.messages) > _SUMMARY_MESSAGES:
            lines.append(f"  ... {len(self.messages) - _SUMMARY_MESSAGES} more")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)  # eq would compare arrays; identity is what is meaningful
class Annotations:
    """The ground truth of one annotation file.

    Attributes:
        source: the path(s) read, comma-separated (e.g. a JSON and its category file).
        format: one of :data:`FORMATS`.
        class_names: label index -> class name; the labels index into it.
        table: every video's instances as numpy columns (what evaluation reads, no torch).
        split_aliases: role (``"train"`` / ``"val"`` / ``"test"``, the evaluated subset) ->
            subset name as written in the file (see the module docstring).
        report: what loading changed or noticed, for the whole file.
    """

    source: str
    format: str
    class_names: tuple[str, ...]
    table: GroundTruthTable
    split_aliases: dict[str, str]
    report: LoadReport

    @cached_property
    def videos(self) -> dict[str, GroundTruth]:
        """Video id -> torch ground truth, in file order (built on first use)."""
        return self.table.to_ground_truth()

    @property
    def num_instances(self) -> int:
        """Number of (kept) instances over all videos."""
        return len(self.table)

    def subsets(self) -> list[str]:
        """Subset names present, in order of first appearance."""
        return list(dict.fromkeys(self.table.subsets))

    def resolve_split(self, name: str) -> str:
        """The subset name a user's split name refers to (rules in the module docstring).

        Logs a warning when the subset is probably not what the name says: other THUMOS-14
        videos than the name's, or no annotated instance at all.

        Raises:
            AnnotationError: no subset matches; the message lists subsets and roles.
        """
        subsets = self.subsets()
        key = name.strip().lower()
        subset = next((s for s in subsets if s.lower() == key), None)
        role = _ROLES.get(key)
        if subset is None and role is not None:
            subset = self.split_aliases.get(role)
        if subset is None:
            roles = ", ".join(f"{r} -> {s}" for r, s in self.split_aliases.items()) or "none"
            raise AnnotationError(
                f"{self.source}: no subset matches split {name!r}; subsets: {subsets}; "
                f"roles: {roles}"
            )
        self._warn_if_unexpected(name, subset)
        return subset

    def _warn_if_unexpected(self, name: str, subset: str) -> None:
        """Warn when ``subset`` holds other THUMOS-14 videos than ``name`` says, or no GT."""
        table = self.table
        members = [i for i, s in enumerate(table.subsets) if s == subset]
        where = f"{self.source}: split {name!r} is the subset {subset!r}"
        kinds = {thumos_subset(table.video_ids[i]) for i in members}
        expected = _THUMOS_SET.get(name.strip().lower())
        if expected is not None and len(kinds) == 1 and (kind := kinds.pop()) not in ("", expected):
            logger.warning(
                "%s, whose %d videos are the THUMOS-14 %s videos (video_%s_*), not the %s "
                "videos its name says; the roles 'train' (THUMOS validation videos) and 'test' "
                "(THUMOS test videos) mean the same videos in every annotation format",
                where, len(members), kind, kind, expected,
            )  # fmt: skip
        annotated = set(table.video.tolist()) | set(table.ambiguous_video.tolist())
        if members and annotated.isdisjoint(members):
            logger.warning(
                "%s, whose %d videos have no annotated instance (ActivityNet's 'testing' has no "
                "public ground truth): nothing to train on, and its mAP is 0; the role 'test' "
                "names the subset the benchmark is evaluated on",
                where, len(members),
            )  # fmt: skip

    def split(self, name: str) -> Annotations:
        """Only the videos of one subset (resolved by :meth:`resolve_split`).

        The class names and the report (of the whole file) are kept.
        """
        subset = self.resolve_split(name)
        table = self.table
        return replace(
            self,
            table=table.select(
                v for v, s in zip(table.video_ids, table.subsets, strict=True) if s == subset
            ),
            split_aliases={r: s for r, s in self.split_aliases.items() if s == subset},
        )

    def __repr__(self) -> str:
        return (
            f"Annotations(format={self.format!r}, videos={len(self.table.video_ids)}, "
            f"instances={self.num_instances}, classes={len(self.class_names)}, "
            f"subsets={self.subsets()})"
        )


def detect_format(path: str | os.PathLike[str]) -> str:
    """The annotation format of ``path``, from its JSON keys or CSV header.

    Raises:
        AnnotationError: the layout matches none of :data:`FORMATS`.
    """
    path = Path(path)
    with utf8_required(path, AnnotationError):
        return _classify(path, read_payload(path))


def _classify(path: Path, data: Any) -> str:
    """The format of ``path`` from its CSV header or JSON keys (``data`` from ``read_payload``)."""
    supported = f"supported formats: {', '.join(FORMATS)}"
    if data is None:
        header = set(csv_header(path))
        gtad = {"video", "type", "start", "end"}
        variant = {"video-name", "t-init", "t-end", "label-idx"}
        if gtad <= header or variant <= header:
            return "thumos_csv"
        raise AnnotationError(
            f"{path}: unrecognised CSV header {brief(sorted(header))}; {supported}"
        )
    if isinstance(data, dict) and "results" in data:
        raise AnnotationError(
            f"{path}: a predictions file ('results' key); read it with load_predictions"
        )
    if isinstance(data, dict) and isinstance(data.get("database"), dict):
        videos = [v for v in data["database"].values() if isinstance(v, dict)]
        if len(videos) != len(data["database"]):
            raise AnnotationError(
                f"{path}: 'database' values must be video objects (a list per video is a "
                "predictions file; read it with load_predictions)"
            )
        lists = [v["annotations"] for v in videos if isinstance(v.get("annotations"), list)]
        anns = [a for annotations in lists for a in annotations if isinstance(a, dict)]
        taxonomy = data.get("taxonomy")
        if (isinstance(taxonomy, list) and taxonomy) or any(
            "url" in v or "resolution" in v for v in videos
        ):
            return "activitynet"
        if any("label_id" in a for a in anns):
            return "actionformer"
        return "opentad"
    if (
        isinstance(data, dict)
        and data
        and all(isinstance(v, dict) and "duration_second" in v for v in data.values())
    ):
        return "bsn_activitynet"
    raise AnnotationError(f"{path}: unrecognised JSON layout; {supported}")


def load_annotations(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    class_names: Sequence[str] | None = None,
    category_file: str | os.PathLike[str] | None = None,
    past_duration: PastDuration = "clip",
) -> Annotations:
    """Read an annotation file into :class:`Annotations`.

    Args:
        path: the annotation file (for BSN, ``anet_anno_action.json``).
        format: ``"auto"`` (detect) or one of :data:`FORMATS`.
        class_names: fixes the label index (label i = ``class_names[i]``); a label outside it
            is an error. Default: the format's own class list (module docstring).
        category_file: the same, read from a file with one class name per line.
        past_duration: instances past the video's end: ``"clip"`` (training targets),
            ``"drop"``, or ``"keep"`` them as given (evaluation); see the module docstring.

    Returns:
        The annotations; ``report`` says what was clipped or dropped.

    Raises:
        AnnotationError: the file is malformed; the message names file, video and field.
    """
    if past_duration not in ("clip", "drop", "keep"):
        raise ValueError(f"past_duration must be 'clip', 'drop' or 'keep', got {past_duration!r}")
    if class_names is not None and category_file is not None:
        raise ValueError("pass class_names or category_file, not both")
    path = Path(path)
    explicit = tuple(class_names) if class_names is not None else None
    if category_file is not None:
        explicit = read_category_file(category_file)
    if explicit is not None and len(set(explicit)) != len(explicit):
        raise ValueError(f"class_names has repeated names: {explicit}")
    if format != "auto" and format not in PARSERS:
        raise ValueError(f"unknown format {format!r}; supported: {', '.join(FORMATS)}")
    with gc_paused(), utf8_required(path, AnnotationError):  # companion files name themselves
        data = read_payload(path)
        fmt = _classify(path, data) if format == "auto" else format
        if data is None and fmt != "thumos_csv":
            raise AnnotationError(f"{path}: format {fmt!r} expects JSON, but this is not JSON")
        raw = PARSERS[fmt](path, data, explicit)
        if category_file is not None:
            raw.sources.append(str(category_file))
        names = explicit if explicit is not None else raw.class_names
        if names is None:
            names = tuple(sorted({str(i.label) for v in raw.videos.values() for i in v.instances}))
            raw.messages.append(f"no class list found: {len(names)} class names = sorted labels")
            logger.warning("%s: no class list found; using the %d sorted labels", path, len(names))
        return _build(raw, names, past_duration)


@dataclass
class _Tally:
    clipped: int = 0
    dropped_past: int = 0
    kept_past: int = 0
    zero: int = 0
    duplicates: int = 0
    messages: list[str] = field(default_factory=list)


def _build(raw: RawFile, names: tuple[str, ...], past_duration: str) -> Annotations:
    """Index labels, apply the load policies and assemble the :class:`Annotations`."""
    index = {name: i for i, name in enumerate(names)}
    tally = _Tally(messages=list(raw.messages))
    loc = Loc(raw.sources[0])
    kept = [
        _apply_policies(v, index, names, past_duration, tally, loc) for v in raw.videos.values()
    ]
    counts = [len(segs) for segs, _ in kept]
    amb_counts = [len(v.ambiguous) for v in raw.videos.values()]
    video_numbers = np.arange(len(raw.videos), dtype=np.int64)
    table = GroundTruthTable(
        video_ids=tuple(raw.videos),
        subsets=tuple(v.subset for v in raw.videos.values()),
        durations=tuple(v.duration_sec for v in raw.videos.values()),
        fps=tuple(v.fps for v in raw.videos.values()),
        video=np.repeat(video_numbers, counts),
        segments=np.array([s for segs, _ in kept for s in segs], dtype=np.float64).reshape(-1, 2),
        labels=np.array([x for _, ls in kept for x in ls], dtype=np.int64),
        ambiguous_video=np.repeat(video_numbers, amb_counts),
        ambiguous=np.array(
            [s for v in raw.videos.values() for s in v.ambiguous], dtype=np.float64
        ).reshape(-1, 2),
    )
    subsets: dict[str, str] = {}
    for subset in table.subsets:
        subsets.setdefault(subset.lower(), subset)
    aliases = {r: subsets[t.lower()] for r, t in raw.aliases.items() if t.lower() in subsets}
    report = LoadReport(
        path=raw.sources[0],
        format=raw.format,
        num_videos=len(table.video_ids),
        num_instances=sum(counts),
        num_ambiguous=sum(amb_counts),
        clipped_past_duration=tally.clipped,
        dropped_past_duration=tally.dropped_past,
        kept_past_duration=tally.kept_past,
        dropped_zero_length=tally.zero,
        dropped_duplicates=tally.duplicates,
        messages=tuple(tally.messages),
    )
    changed = tally.clipped + tally.dropped_past + tally.zero + tally.duplicates
    if changed:
        logger.warning(
            "%s: %d instances clipped, %d dropped (see Annotations.report)",
            raw.sources[0],
            tally.clipped,
            changed - tally.clipped,
        )
    return Annotations(", ".join(raw.sources), raw.format, names, table, aliases, report)


def _apply_policies(
    video: RawVideo,
    index: dict[str, int],
    names: tuple[str, ...],
    past_duration: str,
    tally: _Tally,
    loc: Loc,
) -> tuple[list[tuple[float, float]], list[int]]:
    """One video's kept segments and label indices after the load policies (module docstring)."""
    segments: list[tuple[float, float]] = []
    labels: list[int] = []
    kept: dict[int, list[tuple[float, float]]] = {}  # label -> kept segments, for duplicates
    duration = video.duration_sec
    for inst in video.instances:
        label = index.get(inst.label) if isinstance(inst.label, str) else inst.label
        if label is None or not 0 <= label < len(names):
            raise _unknown_label(inst.label, names, loc.at(video=video.video_id, item=inst.item))
        start, end = inst.start, inst.end
        what = f"{video.video_id} {inst.item} {names[label]} [{start:.3f}, {end:.3f}]"
        if past_duration == "keep":
            if duration is not None and end > duration:
                tally.kept_past += 1
                tally.messages.append(f"{what}: ends after the video end {duration:.3f}; kept")
        elif duration is not None and start >= duration:
            tally.dropped_past += 1
            tally.messages.append(f"{what}: starts at/after the video end {duration:.3f}; dropped")
            continue
        elif duration is not None and end > duration:
            if past_duration == "drop":
                tally.dropped_past += 1
                tally.messages.append(f"{what}: ends after the video end {duration:.3f}; dropped")
                continue
            tally.clipped += 1
            tally.messages.append(f"{what}: ends after the video end; clipped to {duration:.3f}")
            end = duration
        if end - start < _MIN_LENGTH_SEC:
            tally.zero += 1
            tally.messages.append(f"{what}: shorter than {_MIN_LENGTH_SEC} s; dropped")
            continue
        same_label = kept.setdefault(label, [])
        if any(
            abs(start - s) <= _DUPLICATE_TOL_SEC and abs(end - e) <= _DUPLICATE_TOL_SEC
            for s, e in same_label
        ):
            tally.duplicates += 1
            tally.messages.append(f"{what}: duplicate of an earlier instance; dropped")
            continue
        same_label.append((start, end))
        segments.append((start, end))
        labels.append(label)
    return segments, labels


def _unknown_label(label: str | int, names: tuple[str, ...], loc: Loc) -> AnnotationError:
    if isinstance(label, int):
        return loc.error(f"class index {label} outside 0..{len(names) - 1}", field="label")
    return loc.error(
        f"unknown label {brief(label)} ({len(names)} known classes)",
        field="label",
        hint="pass class_names= or category_file= listing every class",
    )
