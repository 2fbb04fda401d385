"""Regression tests of the bugs the fuzz tests (tests/fuzz) found in the file readers.

Each was a crash with another exception than the readers' error (or a hang, or a silently
different result); each now reads, or raises an :class:`AnnotationError` / ``ValueError`` that
names the file, in a message of bounded length.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tadapt.io import (
    AnnotationError,
    load_annotations,
    load_blocked_videos,
    predictions,
    read_predictions,
)
from tadapt.io._formats import read_payload

CLASSES = ("Archery", "Curling", "Long Jump")
HUGE = "9" * 400  # an integer beyond the float range
LONGER = "9" * 5000  # more digits than Python converts from text (4300)


def _actionformer(segment: str, label_id: str = "0") -> str:
    return (
        '{"database": {"v1": {"subset": "training", "duration": 10.0, "annotations": '
        f'[{{"label": "Archery", "label_id": {label_id}, "segment": {segment}}}]}}}}}}'
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            _actionformer(f"[0, {HUGE}]"),
            r"video 'v1', annotation 0, field 'segment': expected a fin",
        ),
        (_actionformer(f"[0, {LONGER}]"), "not valid JSON \\(a number with too many digits\\)"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    ],
)
def test_huge_and_deep_json_values_are_errors_naming_the_file(tmp_path, text, pattern):
    path = _write(tmp_path / "anno.json", text)
    with pytest.raises(AnnotationError, match=pattern) as caught:
        load_annotations(path)
    assert str(caught.value).startswith(str(path))
    assert len(str(caught.value)) < 300  # the value is shown cut short


def test_a_huge_label_id_is_an_error_at_once_not_a_hang(tmp_path):
    path = _write(tmp_path / "anno.json", _actionformer("[1, 2]", label_id=str(10**15)))
    start = time.perf_counter()
    with pytest.raises(AnnotationError, match=r"label_id values are not 0..K-1 \(missing \[0, 1,"):
        load_annotations(path)
    assert time.perf_counter() - start < 1.0


def test_actionformer_missing_ids_are_the_first_gaps(tmp_path):
    anns = [
        {"label": name, "label_id": i, "segment": [1, 2]}
        for name, i in (("a", 0), ("b", 2), ("c", 5))
    ]
    db = {"database": {"v": {"subset": "training", "annotations": anns}}}
    path = _write(tmp_path / "anno.json", json.dumps(db))
    with pytest.raises(AnnotationError, match=r"\(missing \[1, 3, 4\]\)"):
        load_annotations(path)


@pytest.mark.parametrize(
    ("node", "pattern"),
    [
        ({"nodeId": [1], "nodeName": "a", "parentId": None}, "field 'nodeId': expected a number"),
        ({"nodeId": 1, "nodeName": "a", "parentId": {"x": 1}}, "field 'parentId': expected a nu"),
    ],
)
def test_activitynet_taxonomy_ids_must_be_numbers_or_strings(tmp_path, node, pattern):
    db = {"v": {"subset": "training", "url": "u", "annotations": []}}
    path = _write(tmp_path / "anet.json", json.dumps({"database": db, "taxonomy": [node]}))
    with pytest.raises(AnnotationError, match=f"taxonomy node 0, {pattern}"):
        load_annotations(path)


def test_annotations_that_are_not_a_list_are_named_not_a_type_error(tmp_path):
    db = {"database": {"v": {"subset": "training", "annotations": 5}}}
    path = _write(tmp_path / "anno.json", json.dumps(db))
    with pytest.raises(AnnotationError, match="video 'v', field 'annotations': expected a list"):
        load_annotations(path)


@pytest.mark.parametrize(
    ("duration", "fps", "field"), [("-10", "30", "video-duration"), ("10", "-1", "frame-rate")]
)
def test_negative_durations_and_frame_rates_in_csv_are_errors(tmp_path, duration, fps, field):
    header = "video-name,t-init,t-end,video-duration,frame-rate,label-idx\n"
    path = _write(tmp_path / "anno.csv", f"{header}video_test_0000001,1,2,{duration},{fps},3\n")
    with pytest.raises(AnnotationError, match=f"line 2, field '{field}': must not be negative"):
        load_annotations(path)


def test_negative_fps_in_bsn_video_info_is_an_error(tmp_path):
    db = {"v_a": {"duration_second": 10.0, "annotations": [{"label": "x", "segment": [1, 2]}]}}
    _write(tmp_path / "video_info_new.csv", "video,subset,fps\nv_a,training,-30\n")
    path = _write(tmp_path / "anet_anno_action.json", json.dumps(db))
    with pytest.raises(AnnotationError, match=r"video_info_new\.csv, video 'v_a', field 'fps'"):
        load_annotations(path)


def test_a_csv_field_over_the_csv_limit_is_an_error_with_its_line(tmp_path):
    header = "video,type,type_idx,start,end\n"
    path = _write(tmp_path / "anno.csv", header + "x" * 200_000 + ",Diving,1,1,2\n")
    with pytest.raises(AnnotationError, match=r"anno\.csv, line 2: unreadable CSV \(field larger"):
        load_annotations(path)
    pred = _write(tmp_path / "pred.csv", "video-id,t-start,t-end,label,score\n" + "v" * 200_000)
    with pytest.raises(AnnotationError, match=r"pred\.csv, line 2: unreadable CSV"):
        read_predictions(pred, CLASSES)


def test_a_long_value_is_shown_cut_short(tmp_path):
    header = "video-name,t-init,t-end,video-duration,frame-rate,label-idx\n"
    path = _write(tmp_path / "anno.csv", f"{header}video_test_0000001,{'1' * 5000}x,2,10,30,3\n")
    with pytest.raises(AnnotationError, match=r"expected a number, got '1111.*\.\.\..*1x'") as err:
        load_annotations(path)
    assert len(str(err.value)) < 300


@pytest.mark.parametrize(
    "segment", [f"[0, {HUGE}]", f"[0, {LONGER}]"], ids=["beyond-float", "too-many-digits"]
)
def test_huge_numbers_in_predictions_are_errors_naming_the_file(tmp_path, segment):
    text = f'{{"results": {{"v": [{{"label": "Archery", "score": 1, "segment": {segment}}}]}}}}'
    path = _write(tmp_path / "pred.json", text)
    with pytest.raises(AnnotationError, match=r"pred\.json") as caught:
        read_predictions(path, CLASSES)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("label", ["²", "--1", "٣x", LONGER])
def test_labels_that_only_look_like_integers_are_unknown_labels(tmp_path, label):
    path = _write(tmp_path / "pred.csv", f"video-id,t-start,t-end,label,score\nv,0,1,{label},0.5\n")
    with pytest.raises(AnnotationError, match="field 'label': unknown label"):
        read_predictions(path, CLASSES)
    table, ignored = read_predictions(path, CLASSES, unknown_labels="ignore")
    assert (len(table), ignored) == (0, 1)
    assert table.video_ids == ("v",)  # listed, as a JSON file's video is


def test_integer_labels_are_class_indices(tmp_path):
    path = _write(tmp_path / "pred.csv", "video-id,t-start,t-end,label,score\nv,0,1, 2 ,0.5\n")
    table, _ = read_predictions(path, CLASSES)
    assert table.labels.tolist() == [2]


def test_label_id_takes_precedence_in_every_entry_not_only_the_first(tmp_path):
    entries = [
        {"label": "Archery", "scores": 0.9, "segment": [0, 1]},
        {"label": "Archery", "label_id": 2, "scores": 0.8, "segment": [0, 1]},
    ]
    path = _write(tmp_path / "pred.json", json.dumps({"database": {"v": entries}}))
    table, _ = read_predictions(path, CLASSES)
    assert table.labels.tolist() == [0, 2]
    index = {name: i for i, name in enumerate(CLASSES)}
    reference, _ = predictions._load_entrywise(
        path, read_payload(path, unique_keys=False), index, False
    )
    assert reference.labels.tolist() == [0, 2]


def test_a_truncated_json_blocked_list_is_an_error_not_odd_ids(tmp_path):
    path = _write(tmp_path / "blocked.json", '["v_abc", "v_de')
    with pytest.raises(ValueError, match=r"blocked\.json: starts like a JSON list of video ids"):
        load_blocked_videos(path)
    deep = _write(tmp_path / "deep.json", "[" * 100_000)
    with pytest.raises(ValueError, match=r"deep\.json: starts like a JSON list"):
        load_blocked_videos(deep)
    lines = _write(tmp_path / "blocked.txt", "v_abc\nv_de\n")
    assert load_blocked_videos(lines) == {"v_abc", "v_de"}


@pytest.mark.parametrize("name", ["anno.json", "pred.csv"])
def test_non_utf8_files_are_named(tmp_path, name):
    path = tmp_path / name
    if name == "anno.json":
        path.write_bytes(b'{"database": {"v\xff": {"subset": "training", "annotations": []}}}')
        read = load_annotations
    else:
        path.write_bytes(b"video-id,t-start,t-end,label,score\nv\xff,0,1,Archery,0.5\n")
        read = lambda p: read_predictions(p, CLASSES)  # noqa: E731
    with pytest.raises(ValueError, match="UTF-8") as caught:
        read(path)
    assert str(path) in str(caught.value)
