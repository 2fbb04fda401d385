"""Tests for tadapt.io.predictions: readers of each layout, writers, round trips."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

import pytest
import torch

from real_data import real_file
from tadapt.io import (
    AnnotationError,
    load_annotations,
    load_predictions,
    predictions,
    write_predictions_csv,
    write_predictions_json,
)
from tadapt.structures import Detections, Segments

CLASSES = ("Archery", "Curling", "Zumba")


def _write(path: Path, payload: Any) -> Path:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def _det(video_id: str, rows: list[tuple[float, float, float, int]]) -> Detections:
    return Detections(
        video_id,
        Segments(torch.tensor([r[:2] for r in rows], dtype=torch.float64).view(-1, 2), "sec"),
        torch.tensor([r[2] for r in rows], dtype=torch.float64),
        torch.tensor([r[3] for r in rows], dtype=torch.int64),
    )


def _assert_same(a: dict[str, Detections], b: dict[str, Detections]) -> None:
    assert list(a) == list(b)
    for vid in a:
        assert a[vid].segments.tensor.dtype == torch.float64 == a[vid].scores.dtype
        assert torch.equal(a[vid].segments.tensor, b[vid].segments.tensor), vid
        assert torch.equal(a[vid].scores, b[vid].scores), vid
        assert torch.equal(a[vid].labels, b[vid].labels), vid


def test_activitynet_results_json(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "res.json",
        {
            "version": "VERSION 1.3",
            "results": {
                "abc": [
                    {"label": "Zumba", "score": 0.9, "segment": [1.5, 3.25]},
                    {"label": "Archery", "score": 0.25, "segment": [0, 10]},
                ],
                "empty": [],
            },
            "external_data": {"used": False},
        },
    )
    dets, ignored = load_predictions(path, CLASSES)
    assert ignored == 0
    assert list(dets) == ["abc", "empty"]
    assert dets["abc"].segments.tensor.tolist() == [[1.5, 3.25], [0.0, 10.0]]
    assert dets["abc"].labels.tolist() == [2, 0]
    assert dets["abc"].labels.dtype == torch.int64
    assert dets["abc"].scores.tolist() == [0.9, 0.25]
    assert len(dets["empty"]) == 0
    assert dets["empty"].segments.tensor.shape == (0, 2)


def test_opentad_results_without_version(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "result_detection.json",
        {"results": {"v": [{"segment": [1, 2], "label": "Curling", "score": 1}]}},
    )
    dets, _ = load_predictions(path, CLASSES)
    assert dets["v"].labels.tolist() == [1]
    assert dets["v"].scores.dtype == torch.float64


def test_actionformer_style_json(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "af.json",
        {
            "database": {
                "v1": [
                    {"segment": [1, 2], "label_id": 2, "scores": 0.5},
                    {"segment": [3, 4], "label": "Archery", "scores": 0.4},
                    {"segment": [5, 6], "label": "Curling", "score": 0.3},
                ]
            }
        },
    )
    dets, _ = load_predictions(path, CLASSES)
    assert dets["v1"].labels.tolist() == [2, 0, 1]
    assert dets["v1"].scores.tolist() == [0.5, 0.4, 0.3]


def test_csv_with_names_and_indices(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.csv",
        "video-id,t-start,t-end,label,score\n"
        "v1,1.0,2.0,Zumba,0.5\n"
        "v2,0,1e-3,0,0.25\n"
        '"v,3",3.5,4.5,2,1.0\n'
        "v1, 7.5 ,8,Curling,0.75\n",
    )
    dets, ignored = load_predictions(path, CLASSES)
    assert ignored == 0
    assert list(dets) == ["v1", "v2", "v,3"]
    assert [int(d.labels[0]) for d in dets.values()] == [2, 0, 2]
    assert dets["v2"].segments.tensor.tolist() == [[0.0, 1e-3]]
    # a video's rows need not be contiguous; they stay in file order
    assert dets["v1"].segments.tensor.tolist() == [[1.0, 2.0], [7.5, 8.0]]
    assert dets["v1"].labels.tolist() == [2, 1]


def test_unknown_labels_error_or_ignore(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "res.json",
        {
            "results": {
                "v": [
                    {"label": "Zumba", "score": 0.9, "segment": [1, 2]},
                    {"label": "Karate", "score": 0.8, "segment": [1, 2]},
                    {"label": 7, "score": 0.7, "segment": [1, 2]},
                ]
            }
        },
    )
    with pytest.raises(AnnotationError, match=r"video 'v', detection 1, field 'label'.*Karate"):
        load_predictions(path, CLASSES)
    dets, ignored = load_predictions(path, CLASSES, unknown_labels="ignore")
    assert ignored == 2
    assert dets["v"].labels.tolist() == [2]
    csv_path = _write(tmp_path / "p.csv", "video-id,t-start,t-end,label,score\nv,1,2,3,0.5\n")
    with pytest.raises(AnnotationError, match=r"class index 3 outside 0\.\.2"):
        load_predictions(csv_path, CLASSES)
    with pytest.raises(ValueError, match="unknown_labels"):
        load_predictions(path, CLASSES, unknown_labels="warn")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("entry", "pattern"),
    [
        ({"label": "Zumba", "score": float("nan"), "segment": [1, 2]}, "'score'.*finite"),
        ({"label": "Zumba", "score": 0.5, "segment": [1, float("inf")]}, "'segment'.*finite"),
        ({"label": "Zumba", "score": 0.5, "segment": [2, 1]}, "end 1.0 < start 2.0"),
        ({"label": "Zumba", "score": 0.5, "segment": [1]}, r"expected \[start, end\]"),
        ({"label": "Zumba", "score": "high", "segment": [1, 2]}, "'score': expected a number"),
        ({"label": "Zumba", "segment": [1, 2]}, "missing required key 'score'"),
        ({"score": 0.5, "segment": [1, 2]}, "missing required key 'label'"),
        ({"label": "Zumba", "score": 0.5}, "missing required key 'segment'"),
        ({"label": 1.5, "score": 0.5, "segment": [1, 2]}, "expected a class name or index"),
        ({"label": True, "score": 0.5, "segment": [1, 2]}, "expected a class name or index"),
        ({"label": "Zumba", "score": 0.5, "segment": ["1", 2]}, "expected a number, got '1'"),
        ({"label": "Zumba", "score": 0.5, "segment": [1, [2]]}, "expected a number"),
        ("oops", "expected an object"),
    ],
)
def test_json_errors(tmp_path: Path, entry: Any, pattern: str) -> None:
    good = {"label": "Zumba", "score": 0.5, "segment": [1, 2]}
    path = _write(tmp_path / "res.json", {"results": {"vid9": [good, entry]}})
    with pytest.raises(AnnotationError, match=pattern) as info:
        load_predictions(path, CLASSES)
    assert str(path) in str(info.value)
    assert "video 'vid9', detection 1" in str(info.value)


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        ({"predictions": {}}, "expected a 'results' or 'database' object"),
        ({"results": []}, "expected an object mapping video id"),
        ({"results": {"v": {"label": "x"}}}, "video 'v': expected a list of detections"),
        ("[1, 2]", "expected a 'results' or 'database'"),
        ({"database": {"v": {"subset": "Test"}}}, "read it with load_annotations"),
        ('{"results": ', "not valid JSON"),
    ],
)
def test_json_layout_errors(tmp_path: Path, payload: Any, pattern: str) -> None:
    with pytest.raises(AnnotationError, match=pattern):
        load_predictions(_write(tmp_path / "res.json", payload), CLASSES)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("video-id,t-start,label,score\nv,1,Zumba,0.5\n", r"missing column\(s\) \['t-end'\]"),
        ("video-id,t-start,t-end,label,score\nv,1,x,Zumba,0.5\n", "line 2, field 't-end'"),
        ("video-id,t-start,t-end,label,score\nv,1,2,Zumba,nan\n", "'score'.*finite"),
        ("video-id,t-start,t-end,label,score\nv,3,2,Zumba,0.5\n", "end 2.0 < start 3.0"),
        ("video-id,t-start,t-end,label,score\nv,1,2,Zumba\n", "line 2: 4 values for 5 columns"),
        ("video-id,t-start,t-end,label,score\nv,1,2,Karate,0.1\n", "unknown label 'Karate'"),
    ],
)
def test_csv_errors(tmp_path: Path, body: str, pattern: str) -> None:
    path = _write(tmp_path / "p.csv", body)
    with pytest.raises(AnnotationError, match=pattern) as info:
        load_predictions(path, CLASSES)
    assert str(path) in str(info.value)


def _random_detections() -> list[Detections]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for i in range(5):
        n = i * 7
        starts = torch.rand(n, generator=gen, dtype=torch.float64) * 100
        ends = starts + torch.rand(n, generator=gen, dtype=torch.float64) * 10
        scores = torch.rand(n, generator=gen, dtype=torch.float64)
        labels = torch.randint(0, len(CLASSES), (n,), generator=gen)
        out.append(Detections(f"vid{i}", Segments(torch.stack([starts, ends], 1)), scores, labels))
    # values whose decimal form is long or tiny
    out.append(
        _det("tricky", [(0.1 + 0.2, 1 / 3, 1e-17, 0), (1e-300, 123456789.123456789, 1.0, 2)])
    )
    return out


def test_json_round_trip_is_exact(tmp_path: Path) -> None:
    dets = _random_detections()
    path = tmp_path / "out" / "res.json"
    write_predictions_json(path, dets, CLASSES, version="test-1")
    payload = json.loads(path.read_text())
    assert payload["version"] == "test-1"
    assert payload["external_data"] == {}
    assert payload["results"]["vid0"] == []
    first = payload["results"]["vid1"][0]
    assert set(first) == {"label", "score", "segment"}
    assert first["label"] in CLASSES
    loaded, ignored = load_predictions(path, CLASSES)
    assert ignored == 0
    _assert_same(loaded, {d.video_id: d for d in dets})


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    dets = _random_detections()
    path = tmp_path / "res.csv"
    write_predictions_csv(path, {d.video_id: d for d in dets}, CLASSES)  # a mapping works too
    assert path.read_text().splitlines()[0] == "video-id,t-start,t-end,label,score"
    loaded, _ = load_predictions(path, CLASSES)
    # CSV has no row for a video without detections
    _assert_same(loaded, {d.video_id: d for d in dets if len(d)})


def test_float32_detections_round_trip(tmp_path: Path) -> None:
    det = Detections(
        "v", Segments(torch.tensor([[0.1, 0.7]], dtype=torch.float32)),
        torch.tensor([0.3], dtype=torch.float32), torch.tensor([1]),
    )  # fmt: skip
    write_predictions_json(tmp_path / "r.json", [det], CLASSES)
    loaded, _ = load_predictions(tmp_path / "r.json", CLASSES)
    assert torch.equal(loaded["v"].segments.tensor, det.segments.tensor.double())
    assert torch.equal(loaded["v"].scores, det.scores.double())


def test_writers_reject_bad_input_and_keep_old_file(tmp_path: Path) -> None:
    path = tmp_path / "res.json"
    write_predictions_json(path, [_det("v", [(1, 2, 0.5, 0)])], CLASSES)
    before = path.read_text()
    bad = [
        ([_det("v", [(1, 2, math.nan, 0)])], "non-finite"),
        ([_det("v", [(1, 2, 0.5, 3)])], r"label 3 outside 0\.\.2"),
        ([Detections("v", Segments(torch.zeros(1, 2), "idx"), torch.ones(1), torch.ones(1).long())],
         "seconds"),
    ]  # fmt: skip
    for dets, pattern in bad:
        with pytest.raises(ValueError, match=pattern):
            write_predictions_json(path, dets, CLASSES)
        with pytest.raises(ValueError, match=pattern):
            write_predictions_csv(tmp_path / "res.csv", dets, CLASSES)
    assert path.read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["res.json"]  # no temporary files left behind
    assert (path.stat().st_mode & 0o777) == 0o644


@pytest.mark.data
def test_ground_truth_as_predictions_round_trip(tmp_path: Path) -> None:
    path = real_file("thumos14/thumos14_actionformer.json")
    gt = load_annotations(path).split("test")
    dets = [
        Detections(v.video_id, v.segments, torch.ones(len(v), dtype=torch.float64), v.labels)
        for v in gt.videos.values()
    ]
    write_predictions_json(tmp_path / "gt.json", dets, gt.class_names)
    loaded, _ = load_predictions(tmp_path / "gt.json", gt.class_names)
    assert sum(len(d) for d in loaded.values()) == gt.num_instances
    _assert_same(loaded, {d.video_id: d for d in dets})


@pytest.mark.parametrize("suffix", ["json", "csv"])
@pytest.mark.parametrize("unknown_labels", ["error", "ignore"])
def test_fast_reader_matches_entrywise_reader(
    tmp_path: Path, suffix: str, unknown_labels: Literal["error", "ignore"]
) -> None:
    # load_predictions reads whole columns and falls back to the entry-by-entry reader (the
    # reference, which names errors) on anything irregular: both must give the same result
    path = tmp_path / f"res.{suffix}"
    dets = _random_detections()
    (write_predictions_json if suffix == "json" else write_predictions_csv)(path, dets, CLASSES)
    classes = CLASSES[:2] if unknown_labels == "ignore" else CLASSES  # 'Zumba' unknown
    index = {name: i for i, name in enumerate(classes)}
    fast, fast_ignored = load_predictions(path, classes, unknown_labels=unknown_labels)
    data = None if suffix == "csv" else json.loads(path.read_text())
    reference, ref_ignored = predictions._load_entrywise(
        path, data, index, unknown_labels == "ignore"
    )
    _assert_same(fast, reference.to_detections())
    assert fast_ignored == ref_ignored
    assert (fast_ignored > 0) == (unknown_labels == "ignore")


def test_detections_of_one_video_are_concatenated(tmp_path: Path) -> None:
    parts = [_det("v", [(1, 2, 0.5, 0)]), _det("w", []), _det("v", [(3, 4, 0.25, 2)])]
    for write, name in ((write_predictions_json, "r.json"), (write_predictions_csv, "r.csv")):
        write(tmp_path / name, parts, CLASSES)
        loaded, _ = load_predictions(tmp_path / name, CLASSES)
        assert loaded["v"].segments.tensor.tolist() == [[1.0, 2.0], [3.0, 4.0]]
        assert loaded["v"].labels.tolist() == [0, 2]
    assert list(json.loads((tmp_path / "r.json").read_text())["results"]) == ["v", "w"]


def test_empty_results_file_gives_no_detections(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text('{"results": {}}')
    detections, ignored = load_predictions(path, ["a"])
    assert detections == {}
    assert ignored == 0
