"""Fuzzing :func:`tadapt.io.load_annotations` with files of every format, valid and broken.

Properties:

* a well-formed file loads as written, with exactly the documented fixes, counted in its
  report (clipped / dropped past the duration, zero-length, duplicates);
* a broken file either loads (then every kept instance is a finite, non-empty segment with a
  known label) or raises an :class:`AnnotationError` naming one of the files read, quoting
  values cut short; never another exception, never a hang.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tadapt.io import THUMOS14_CLASSES, Annotations, load_annotations

from .files import (
    CLASS_POOL,
    FileSet,
    Video,
    actionformer_file,
    activitynet_file,
    assert_precise_error,
    bsn_file,
    mutated_file_set,
    opentad_file,
    thumos_csv_file,
    thumos_ids,
    used_classes,
    videos,
)

FORMATS = ("actionformer", "opentad", "opentad_no_category", "activitynet", "bsn")
FORMATS += ("thumos_csv", "thumos_csv_variant")
POLICIES = ("clip", "drop", "keep")
_MIN_LENGTH, _DUPLICATE_TOL = 1e-3, 1e-3  # tadapt.io.annotations

# video ids: any printable text (JSON keys, CSV cells), no control or surrogate characters
_IDS = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=8)


@st.composite
def annotation_case(draw: st.DrawFn, fmt: str) -> tuple[FileSet, list[Video], tuple[str, ...]]:
    """A well-formed file of ``fmt``, its model and the class names a reader must report."""
    if fmt.startswith("thumos_csv"):
        variant = fmt.endswith("variant")
        model = draw(videos(classes=THUMOS14_CLASSES, ids=thumos_ids(), with_duration=variant))
        for video in model:
            video.subset = "validation" if "validation" in video.video_id else "test"
        model = [v for v in model if v.instances]  # a CSV lists instances, not videos
        return thumos_csv_file(model, variant=variant), model, THUMOS14_CLASSES
    model = draw(videos(ids=_IDS))
    if fmt == "actionformer":  # label_id 0..K-1 in order of first use
        classes = tuple(used_classes(model))
        return actionformer_file(model, classes), model, classes
    if fmt == "opentad":
        return opentad_file(model, CLASS_POOL), model, CLASS_POOL
    if fmt == "opentad_no_category":
        return opentad_file(model, None), model, tuple(sorted(used_classes(model)))
    if fmt == "activitynet":
        return activitynet_file(model, CLASS_POOL), model, tuple(sorted(CLASS_POOL))
    return bsn_file(model, CLASS_POOL), model, CLASS_POOL


def _expected(
    model: list[Video], classes: tuple[str, ...], policy: str
) -> tuple[list[tuple[str, float, float, int]], dict[str, int]]:
    """The instances a reader keeps and its counts, from the documented load policies."""
    kept: list[tuple[str, float, float, int]] = []
    counts = dict.fromkeys(("clipped", "dropped_past", "kept_past", "zero", "duplicates"), 0)
    for video in model:
        seen: dict[int, list[tuple[float, float]]] = {}
        duration = video.duration
        for inst in video.instances:
            start, end, label = inst.start, inst.end, classes.index(inst.label)
            if policy == "keep":
                counts["kept_past"] += duration is not None and end > duration
            elif duration is not None and start >= duration:
                counts["dropped_past"] += 1
                continue
            elif duration is not None and end > duration:
                if policy == "drop":
                    counts["dropped_past"] += 1
                    continue
                counts["clipped"] += 1
                end = duration
            if end - start < _MIN_LENGTH:
                counts["zero"] += 1
                continue
            same = seen.setdefault(label, [])
            if any(
                abs(start - s) <= _DUPLICATE_TOL and abs(end - e) <= _DUPLICATE_TOL for s, e in same
            ):
                counts["duplicates"] += 1
                continue
            same.append((start, end))
            kept.append((video.video_id, start, end, label))
    return kept, counts


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
def test_a_well_formed_file_loads_as_written_with_counted_fixes(fmt, data):
    files, model, classes = data.draw(annotation_case(fmt))
    policy = data.draw(st.sampled_from(POLICIES))
    with tempfile.TemporaryDirectory() as folder:
        annotations = load_annotations(files.write(Path(folder)), past_duration=policy)
    assert annotations.class_names == classes
    table = annotations.table
    assert table.video_ids == tuple(v.video_id for v in model)
    assert table.subsets == tuple(v.subset for v in model)
    assert table.durations == tuple(v.duration for v in model)
    kept, counts = _expected(model, classes, policy)
    got = [
        (table.video_ids[v], float(s), float(e), int(lab))
        for v, (s, e), lab in zip(table.video, table.segments, table.labels, strict=True)
    ]
    assert got == kept
    report = annotations.report
    assert report.num_instances == len(kept)
    assert (
        report.clipped_past_duration,
        report.dropped_past_duration,
        report.kept_past_duration,
        report.dropped_zero_length,
        report.dropped_duplicates,
    ) == tuple(counts.values())
    assert len(report.messages) >= sum(counts.values())  # one message per changed instance


def _check_loaded(annotations: Annotations, policy: str) -> None:
    """What any accepted file must satisfy, however odd it was."""
    table = annotations.table
    assert len(set(annotations.class_names)) == len(annotations.class_names)
    assert np.isfinite(table.segments).all()
    assert (table.segments >= 0).all()
    assert (table.segments[:, 1] - table.segments[:, 0] >= _MIN_LENGTH).all()
    assert ((table.labels >= 0) & (table.labels < len(annotations.class_names))).all()
    assert len(table.video_ids) == len(set(table.video_ids))
    if policy != "keep":
        duration = np.array([np.inf if d is None else d for d in table.durations])
        assert (table.segments[:, 1] <= duration[table.video]).all()
    assert annotations.report.num_instances == len(table)


@pytest.mark.parametrize("fmt", FORMATS)
@given(data=st.data())
def test_a_broken_file_loads_or_raises_an_error_naming_the_file(fmt, data):
    files, _, _ = data.draw(annotation_case(fmt))
    broken = data.draw(mutated_file_set(files))
    policy = data.draw(st.sampled_from(POLICIES))
    with tempfile.TemporaryDirectory() as folder:
        path = broken.write(Path(folder))
        outcome = _outcome(path, policy)
        paths = broken.paths(Path(folder))
    if isinstance(outcome, ValueError):
        assert_precise_error(outcome, paths)
        return
    _check_loaded(outcome, policy)


def _outcome(path: Path, policy: str) -> Annotations | ValueError:
    """What loading ``path`` gives: annotations, or the error that refused it."""
    try:
        return load_annotations(path, past_duration=policy)
    except ValueError as err:
        return err
