"""``tadapt evaluate`` on the files that broke the readers (found by tests/fuzz).

Each exits 2 with one line naming the file (or reads, with the right mAP), never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tadapt.cli.main import main

CLASSES = ("Archery", "Curling", "Long Jump")
PRED_HEADER = "video-id,t-start,t-end,label,score\n"


def _gt(tmp_path: Path) -> Path:
    """Two validation videos, one instance of Archery and one of Long Jump."""
    anns = {
        "a": [{"label": "Archery", "label_id": 0, "segment": [1.0, 5.0]}],
        "b": [{"label": "Long Jump", "label_id": 2, "segment": [2.0, 6.0]}],
    }
    # Curling has no instance: label_id 1 must still exist, so the classes are given by a file
    db = {v: {"subset": "validation", "duration": 10.0, "annotations": a} for v, a in anns.items()}
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"database": db}))
    return path


def _evaluate(tmp_path: Path, pred: Path, *extra: str, gt: Path | None = None) -> int:
    gt = gt if gt is not None else _gt(tmp_path)
    argv = ["evaluate", "--gt", str(gt), "--pred", str(pred), "--tiou", "0.5"]
    return main([*argv, "--category-file", str(tmp_path / "classes.txt"), *extra])


def _one_line_error(capsys, path: Path, pattern: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"tadapt evaluate: error: {path}")
    assert pattern in err
    assert len(err) < 400
    return err


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        (
            "huge.json",
            '{"results": {"a": [{"label": "Archery", "score": 1, "segment": [0, '
            + "9" * 400
            + "]}]}}",
            "field 'segment': expected a finite number, got 9999",
        ),
        (
            "digits.json",
            '{"results": {"a": [{"label": "Archery", "score": 1, "segment": [0, '
            + "9" * 5000
            + "]}]}}",
            "not valid JSON (a number with too many digits)",
        ),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ("field.csv", PRED_HEADER + "a" * 200_000 + ",1,2,Archery,0.5\n", "line 2: unreadable CSV"),
    ],
)
def test_broken_prediction_files_exit_2_naming_the_file(tmp_path, capsys, name, text, pattern):
    pred = tmp_path / name
    pred.write_text(text)
    assert _evaluate(tmp_path, pred) == 2
    _one_line_error(capsys, pred, pattern)


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (
            {"database": {"a": {"subset": "validation", "annotations": 5}}},
            "video 'a', field 'annotations': expected a list",
        ),
        (
            {
                "database": {"a": {"subset": "validation", "url": "u", "annotations": []}},
                "taxonomy": [{"nodeId": [1], "nodeName": "Archery", "parentId": None}],
            },
            "taxonomy node 0, field 'nodeId': expected a number or a string",
        ),
        (
            {
                "database": {
                    "a": {
                        "subset": "validation",
                        "annotations": [{"label": "A", "label_id": 10**15, "segment": [1, 2]}],
                    }
                }
            },
            "label_id values are not 0..K-1 (missing [0, 1, 2",
        ),
    ],
)
def test_broken_annotation_files_exit_2_naming_the_file(tmp_path, capsys, payload, pattern):
    gt = tmp_path / "broken_gt.json"
    gt.write_text(json.dumps(payload))
    pred = tmp_path / "pred.csv"
    pred.write_text(PRED_HEADER)
    argv = ["evaluate", "--gt", str(gt), "--pred", str(pred), "--tiou", "0.5"]
    assert main(argv) == 2
    _one_line_error(capsys, gt, pattern)


def test_a_negative_duration_in_a_thumos_csv_exits_2(tmp_path, capsys):
    gt = tmp_path / "gt.csv"
    header = "video-name,t-init,t-end,video-duration,frame-rate,label-idx\n"
    gt.write_text(header + "video_test_0000001,1,2,-10,30,3\n")
    pred = tmp_path / "pred.csv"
    pred.write_text(PRED_HEADER)
    assert main(["evaluate", "--gt", str(gt), "--pred", str(pred)]) == 2
    _one_line_error(capsys, gt, "field 'video-duration': must not be negative, got -10.0")


def test_labels_that_only_look_like_indices_are_ignored_and_counted(tmp_path, capsys):
    pred = tmp_path / "pred.csv"
    rows = ["a,1,5,Archery,0.9", "a,1,5,²,0.8", "b,2,6,--1,0.7", "b,2,6,2,0.6"]
    pred.write_text(PRED_HEADER + "\n".join(rows) + "\n")
    assert _evaluate(tmp_path, pred) == 2
    _one_line_error(capsys, pred, "unknown label '²'")
    report = tmp_path / "report.json"
    assert _evaluate(tmp_path, pred, "--unknown-labels", "ignore", "--out", str(report)) == 0
    payload = json.loads(report.read_text())
    assert payload["meta"]["num_unknown_label_predictions"] == 2
    assert payload["average_mAP"] == 1.0  # "2" is Long Jump's index: both videos found


def test_label_id_in_a_later_entry_is_read_as_in_the_first(tmp_path, capsys):
    # the column reader took every entry's label from the first entry's key ("label"), so
    # this Long Jump detection counted as Archery, a false positive: mAP 50 % instead of 100 %
    entries = {
        "a": [{"label": "Archery", "scores": 0.9, "segment": [1.0, 5.0]}],
        "b": [{"label": "Archery", "label_id": 2, "scores": 0.8, "segment": [2.0, 6.0]}],
    }
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"database": entries}))
    assert _evaluate(tmp_path, pred) == 0
    assert "Average mAP: 100.00 %" in capsys.readouterr().out


def test_a_truncated_blocked_list_exits_2(tmp_path, capsys):
    pred = tmp_path / "pred.csv"
    pred.write_text(PRED_HEADER + "a,1,5,Archery,0.9\n")
    blocked = tmp_path / "blocked.json"
    blocked.write_text('["a", "b')
    assert _evaluate(tmp_path, pred, "--blocked", str(blocked)) == 2
    _one_line_error(capsys, blocked, "starts like a JSON list of video ids but is not valid JSON")
