"""Fuzzing :func:`tadapt.io.read_predictions` with prediction files of every layout.

Properties:

* a well-formed file reads as written: every detection, in file order, with its label
  resolved; unknown labels raise (``unknown_labels="error"``) or are skipped and counted
  (``"ignore"``);
* the fast column reader and the entry-by-entry reader agree on every file, broken or not
  (the same table, or the same error);
* a broken file reads (then every detection is finite, ``start <= end``, with a known label)
  or raises an :class:`AnnotationError` naming the file, quoting values cut short; never
  another exception.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tadapt.io import AnnotationError, predictions, read_predictions
from tadapt.io._formats import read_payload
from tadapt.structures import DetectionTable

from .files import (
    CLASS_POOL,
    Detection,
    assert_precise_error,
    detections,
    mutated_file_set,
    prediction_file,
)

LAYOUTS = ("results", "actionformer", "csv")
_IDS = st.lists(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=6),
    min_size=1,
    max_size=3,
    unique=True,
)


def _expected(
    dets: list[Detection], classes: tuple[str, ...], layout: str, video_ids: tuple[str, ...]
) -> DetectionTable:
    """The table a reader must return for the well-formed detections ``dets`` of a file."""
    if layout != "csv":  # JSON groups a video's detections under its key
        dets = sorted(dets, key=lambda d: video_ids.index(d.video_id))
    return DetectionTable(
        video_ids,
        np.array([video_ids.index(d.video_id) for d in dets], dtype=np.int64),
        np.array([[d.start, d.end] for d in dets], dtype=np.float64).reshape(-1, 2),
        np.array([d.score for d in dets], dtype=np.float64),
        np.array(
            [d.label if isinstance(d.label, int) else classes.index(d.label) for d in dets],
            dtype=np.int64,
        ),
    )


def _assert_same(a: DetectionTable, b: DetectionTable) -> None:
    assert a.video_ids == b.video_ids
    np.testing.assert_array_equal(a.video, b.video)
    np.testing.assert_array_equal(a.segments, b.segments)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize("layout", LAYOUTS)
@given(data=st.data())
def test_a_well_formed_file_reads_as_written(layout, data):
    dets = data.draw(detections(data.draw(_IDS), CLASS_POOL, extreme=data.draw(st.booleans())))
    classes = CLASS_POOL
    known = data.draw(st.integers(1, len(classes)))  # the evaluator may know fewer classes
    files = prediction_file(dets, classes, layout)
    unknown = [
        d
        for d in dets
        if (d.label if isinstance(d.label, int) else classes.index(d.label)) >= known
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = files.write(Path(folder))
        if unknown:
            with pytest.raises(AnnotationError, match=r"unknown label|outside 0\.\.") as caught:
                read_predictions(path, classes[:known])
            assert str(path) in str(caught.value)
        table, ignored = read_predictions(path, classes[:known], unknown_labels="ignore")
    assert ignored == len(unknown)
    kept = [d for d in dets if d not in unknown]
    # every video stays listed, also one whose detections were all ignored
    video_ids = tuple(dict.fromkeys(d.video_id for d in dets))
    _assert_same(table, _expected(kept, classes, layout, video_ids))


def _read_both(path: Path, classes: tuple[str, ...], ignore: bool):
    """The public reader's result and the entry-by-entry reader's, each a table or an error."""
    outcomes = []
    for reader in ("fast", "entrywise"):
        try:
            if reader == "fast":
                unknown = "ignore" if ignore else "error"
                outcomes.append(read_predictions(path, classes, unknown_labels=unknown))
            else:
                index = {name: i for i, name in enumerate(classes)}
                data = read_payload(path, unique_keys=False)
                outcomes.append(predictions._load_entrywise(path, data, index, ignore))
        except ValueError as err:
            outcomes.append(err)
    return outcomes


@pytest.mark.parametrize("layout", LAYOUTS)
@given(data=st.data())
def test_a_broken_file_reads_or_raises_an_error_naming_it(layout, data):
    dets = data.draw(detections(data.draw(_IDS), CLASS_POOL))
    broken = data.draw(mutated_file_set(prediction_file(dets, CLASS_POOL, layout)))
    ignore = data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as folder:
        path = broken.write(Path(folder))
        fast, entrywise = _read_both(path, CLASS_POOL, ignore)
    if isinstance(fast, ValueError):
        assert_precise_error(fast, [str(path)])
        assert type(entrywise) is type(fast)
        assert str(entrywise) == str(fast)
        return
    assert not isinstance(entrywise, ValueError), str(entrywise)
    (table, ignored), (reference, reference_ignored) = fast, entrywise
    assert ignored == reference_ignored
    assert table.video_ids == reference.video_ids
    order = np.argsort(table.video, kind="stable")  # the entrywise reader groups by video
    np.testing.assert_array_equal(table.video[order], reference.video)
    np.testing.assert_array_equal(table.segments[order], reference.segments)
    np.testing.assert_array_equal(table.scores[order], reference.scores)
    np.testing.assert_array_equal(table.labels[order], reference.labels)
    assert np.isfinite(table.segments).all()
    assert np.isfinite(table.scores).all()
    assert (table.segments[:, 1] >= table.segments[:, 0]).all()
    assert ((table.labels >= 0) & (table.labels < len(CLASS_POOL))).all()
