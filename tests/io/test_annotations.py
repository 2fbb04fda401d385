"""Tests for tadapt.io.annotations: real benchmark files, then synthetic files per rule."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from real_data import real_file
from tadapt.io import (
    THUMOS14_CLASSES,
    AnnotationError,
    Annotations,
    detect_format,
    load_annotations,
)
from tadapt.structures import GroundTruth


@pytest.fixture(scope="module")
def actionformer() -> Annotations:
    return load_annotations(real_file("thumos14/thumos14_actionformer.json"))


@pytest.fixture(scope="module")
def opentad() -> Annotations:
    return load_annotations(real_file("thumos14/thumos_14_anno_opentad.json"))


@pytest.fixture(scope="module")
def thumos_test_csv() -> Annotations:
    return load_annotations(real_file("thumos14/test_Annotation.csv"))


@pytest.fixture(scope="module")
def bsn() -> Annotations:
    return load_annotations(real_file("activitynet/anet_anno_action.json"))


def _instances(gt: GroundTruth) -> list[tuple[int, float, float]]:
    """(label, start, end) sorted, rounded to 1 ms."""
    rows = zip(gt.labels.tolist(), gt.segments.tensor.tolist(), strict=True)
    return sorted((label, round(s, 3), round(e, 3)) for label, (s, e) in rows)


# --------------------------------------------------------------------------- real files


@pytest.mark.data
def test_thumos_csv_test_counts(thumos_test_csv: Annotations) -> None:
    ann = thumos_test_csv
    assert ann.format == "thumos_csv"
    assert (len(ann.videos), ann.num_instances) == (213, 3358)
    assert ann.report.num_ambiguous == 99
    assert ann.class_names == THUMOS14_CLASSES
    # no durations in this CSV: nothing can be checked against the video end
    assert ann.report.clipped_past_duration == ann.report.dropped_past_duration == 0
    assert ann.report.dropped_duplicates == ann.report.dropped_zero_length == 0
    only_ambiguous = ann.videos["video_test_0001292"]
    assert len(only_ambiguous) == 0
    assert len(only_ambiguous.ambiguous) > 0
    assert only_ambiguous.duration_sec is None
    assert ann.subsets() == ["test"]
    assert ann.resolve_split("test") == "test"
    assert ann.split_aliases == {"test": "test"}  # no 'train' alias: no validation videos here
    with pytest.raises(AnnotationError, match="subsets: \\['test'\\]"):
        ann.resolve_split("train")
    # CliffDiving is always also annotated as Diving: different labels, so both are kept
    cliff, diving = THUMOS14_CLASSES.index("CliffDiving"), THUMOS14_CLASSES.index("Diving")
    labels = torch.cat([gt.labels for gt in ann.videos.values()])
    assert int((labels == cliff).sum()) == 217
    assert int((labels == diving).sum()) == 388


@pytest.mark.data
def test_thumos_csv_val_counts() -> None:
    ann = load_annotations(real_file("thumos14/val_Annotation.csv"))
    assert (len(ann.videos), ann.num_instances, ann.report.num_ambiguous) == (200, 3007, 89)
    assert ann.resolve_split("train") == "validation"
    assert ann.class_names == THUMOS14_CLASSES


@pytest.mark.data
def test_thumos_groundtruth_csv_variant(thumos_test_csv: Annotations) -> None:
    ann = load_annotations(real_file("thumos14/thumos14_test_groundtruth.csv"))
    assert (len(ann.videos), ann.report.num_ambiguous) == (213, 99)
    # This variant has video-duration: 26 instances start after their video's end
    # (22 HammerThrow in video_test_0000270, 3 in video_test_0000814, 1 in video_test_0001081)
    # and are dropped; none merely ends late.
    assert ann.report.dropped_past_duration == 26
    assert ann.report.clipped_past_duration == 0
    assert ann.num_instances == 3358 - 26
    assert len(ann.videos["video_test_0000270"]) == 29 - 22
    assert ann.videos["video_test_0000270"].fps == 30.0
    # label-idx (0..19) and the gtad CSV's sorted names give the same labels
    for vid, gt in ann.videos.items():
        if vid not in ("video_test_0000270", "video_test_0000814", "video_test_0001081"):
            assert _instances(gt) == _instances(thumos_test_csv.videos[vid])


@pytest.mark.data
def test_actionformer_thumos(actionformer: Annotations) -> None:
    ann = actionformer
    assert ann.format == "actionformer"
    assert len(ann.videos) == 412
    assert {s: len(ann.split(s).videos) for s in ann.subsets()} == {"Test": 212, "Validation": 200}
    assert ann.resolve_split("test") == "Test"
    assert ann.resolve_split("train") == "Validation"
    assert ann.resolve_split("validation") == "Validation"  # exact (case-insensitive) match
    with pytest.raises(AnnotationError, match="roles: train -> Validation, test -> Test"):
        ann.resolve_split("val")
    # 30 instances start at/after their video's end and are dropped: 22 of video_test_0000270
    # (kept here, dropped whole by OpenTAD) plus 8 in video_validation_0000364 (2),
    # video_validation_0000856 (2), video_test_0000814 (3), video_test_0001081 (1) -- the ones
    # OpenTAD removed ("7" in the spec; it is 8). None ends late, so nothing is clipped.
    report = ann.report
    assert report.dropped_past_duration == 30
    assert report.clipped_past_duration == 0
    assert report.dropped_zero_length == report.dropped_duplicates == 0
    assert ann.num_instances == report.num_instances == 3007 + 3358 - 30
    assert len(report.messages) == 30
    assert "video_test_0000270" in report.messages[0]
    assert "20 more" in report.summary()
    gt = ann.videos["video_test_0000004"]
    assert gt.subset == "Test"
    assert gt.fps == 30.0
    assert gt.duration_sec == pytest.approx(33.83)
    assert gt.segments.tensor.dtype == torch.float64
    assert gt.labels.dtype == torch.int64


@pytest.mark.data
def test_actionformer_labels_follow_label_id(actionformer: Annotations) -> None:
    raw = json.loads(real_file("thumos14/thumos14_actionformer.json").read_text())["database"]
    checked = 0
    for vid, gt in actionformer.videos.items():
        ids = [a["label_id"] for a in raw[vid]["annotations"]]
        if len(ids) == len(gt):  # videos without dropped instances
            assert gt.labels.tolist() == ids
            checked += 1
    assert checked == 412 - 5


@pytest.mark.data
def test_opentad_thumos(opentad: Annotations, actionformer: Annotations) -> None:
    ann = opentad
    assert ann.format == "opentad"
    assert len(ann.videos) == 411
    assert "video_test_0000270" not in ann.videos
    assert ann.resolve_split("test") == "validation"  # OpenTAD's validation = THUMOS test
    assert ann.resolve_split("train") == "training"
    assert len(ann.split("test").videos) == 211
    assert "category_idx.txt" in ann.source
    # OpenTAD already removed the late instances: nothing left to clip or drop
    report = ann.report
    assert (report.clipped_past_duration, report.dropped_past_duration) == (0, 0)
    assert (report.dropped_zero_length, report.dropped_duplicates) == (0, 0)
    # ... so after our drops the two files agree instance by instance, except for the
    # 7 in-range instances of video_test_0000270 that OpenTAD dropped with the video
    assert ann.num_instances == actionformer.num_instances - 7 == 6328
    for vid, gt in ann.videos.items():  # same instances, in a different order in some videos
        assert _instances(gt) == _instances(actionformer.videos[vid]), vid
    assert ann.videos["video_validation_0000051"].fps == pytest.approx(5091 / 169.794)


@pytest.mark.data
def test_class_index_agreement(
    actionformer: Annotations, opentad: Annotations, thumos_test_csv: Annotations
) -> None:
    category_idx = real_file("thumos14/category_idx.txt").read_text().split()
    assert actionformer.class_names == tuple(category_idx) == opentad.class_names
    assert thumos_test_csv.class_names == actionformer.class_names == THUMOS14_CLASSES
    csv_types = sorted(
        {
            line.split(",")[1]
            for line in real_file("thumos14/test_Annotation.csv").read_text().split()
        }
        - {"type", "Ambiguous"}
    )
    assert tuple(csv_types) == THUMOS14_CLASSES
    # same video, same labels whichever file it came from
    vid = "video_test_0000004"
    assert torch.equal(thumos_test_csv.videos[vid].labels, actionformer.videos[vid].labels)


@pytest.mark.data
def test_multithumos() -> None:
    ann = load_annotations(real_file("multithumos/multithumos_anno.json"))
    assert ann.format == "opentad"
    assert (len(ann.videos), len(ann.class_names), ann.num_instances) == (20, 65, 703)
    # one 'Stand' instance of video_validation_0000054 runs to 817 s in a 135.1 s video
    assert ann.report.clipped_past_duration == 1
    assert ann.report.dropped_past_duration == ann.report.dropped_duplicates == 0
    gt = ann.videos["video_validation_0000054"]
    assert float(gt.segments.ends.max()) == pytest.approx(135.103)
    # dense multi-label: some video holds overlapping instances of different classes
    assert max(len(set(gt.labels.tolist())) for gt in ann.videos.values()) > 5
    assert ann.resolve_split("test") == "validation"


@pytest.mark.data
def test_bsn_activitynet(bsn: Annotations) -> None:
    ann = bsn
    assert ann.format == "bsn_activitynet"
    assert (len(ann.videos), len(ann.class_names)) == (19228, 200)
    assert ann.class_names[0] == "Applying sunscreen"  # action_name.csv order, not sorted
    assert {s: len(ann.split(s).videos) for s in ann.subsets()} == {
        "training": 9649,
        "validation": 4728,
        "testing": 4851,
    }
    assert ann.resolve_split("val") == "validation"
    assert ann.resolve_split("test") == "validation"  # the evaluated subset, not "testing"
    assert ann.resolve_split("testing") == "testing"  # the exact name: no ground truth
    assert len(ann.split("val").videos) == 4728
    # ids lose the v_ prefix; the BSN id is "v_" + id (a YouTube id may itself start with v_)
    raw_ids = json.loads(real_file("activitynet/anet_anno_action.json").read_text()).keys()
    assert ["v_" + vid for vid in ann.videos] == list(raw_ids)
    gt = ann.videos["QOlSCBRmfWY"]
    assert gt.subset == "training"
    assert gt.duration_sec == 82.73
    assert gt.fps == 25.0
    # The BSN repackaging rounds durations to 0.01 s while segment ends keep full precision:
    # 215 instances end a few ms after the video and are clipped; 12 have start == end
    # (e.g. [0, 0]) and 50 repeat an earlier same-label instance -- both ActionFormer and
    # OpenTAD drop those too.
    report = ann.report
    assert report.clipped_past_duration == 215
    assert report.dropped_past_duration == 0
    assert report.dropped_zero_length == 12
    assert report.dropped_duplicates == 50
    assert ann.num_instances == 22152 - 12 - 50
    assert ann.split("validation").num_instances == 7293 - 3 - 19
    assert len(report.messages) == 215 + 12 + 50  # every csv row matches a json video


# --------------------------------------------------------------------------- synthetic files


def _write(path: Path, payload: Any) -> Path:
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def _af(tmp_path: Path, videos: dict[str, Any], name: str = "af.json") -> Path:
    return _write(tmp_path / name, {"version": "x", "database": videos})


def _af_video(subset: str, duration: float, *anns: tuple[str, int, list[float]]) -> dict[str, Any]:
    return {
        "subset": subset,
        "duration": duration,
        "fps": 30.0,
        "annotations": [{"label": n, "label_id": i, "segment": s} for n, i, s in anns],
    }


def _ot(tmp_path: Path, videos: dict[str, Any], classes: list[str] | None) -> Path:
    if classes is not None:
        (tmp_path / "category_idx.txt").write_text("\n".join(classes) + "\n")
    return _write(tmp_path / "ot.json", {"database": videos, "taxonomy": {}, "version": {}})


def _ot_video(subset: str, duration: float, *anns: tuple[str, list[Any]]) -> dict[str, Any]:
    return {
        "subset": subset,
        "duration": duration,
        "frame": int(duration * 25),
        "annotations": [{"label": n, "segment": s} for n, s in anns],
    }


def test_policies_clip_drop_zero_duplicates(tmp_path: Path) -> None:
    video = _ot_video(
        "training",
        10.0,
        ("a", [1.0, 2.0]),
        ("a", [1.0005, 2.0009]),  # duplicate within 1e-3 -> dropped
        ("b", [1.0, 2.0]),  # same segment, other label -> kept
        ("a", [1.0, 2.0015]),  # 1.5e-3 away -> kept
        ("a", [3.0, 3.0005]),  # shorter than 1e-3 -> dropped
        ("b", [9.0, 12.0]),  # ends late -> clipped to 10 (or dropped)
        ("b", [10.0, 11.0]),  # starts at the end -> always dropped
    )
    path = _ot(tmp_path, {"v1": video, "v2": _ot_video("validation", 5.0)}, ["a", "b"])
    ann = load_annotations(path)
    gt = ann.videos["v1"]
    assert gt.segments.tensor.tolist() == [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0015], [9.0, 10.0]]
    assert gt.labels.tolist() == [0, 1, 0, 1]
    assert gt.fps == pytest.approx(25.0)
    r = ann.report
    assert (r.clipped_past_duration, r.dropped_past_duration) == (1, 1)
    assert (r.dropped_zero_length, r.dropped_duplicates) == (1, 1)
    assert (r.num_videos, r.num_instances) == (2, 4)
    assert len(r.messages) == 4
    assert all(m.startswith("v1 annotation") for m in r.messages)
    assert len(ann.videos["v2"]) == 0

    dropped = load_annotations(path, past_duration="drop")
    assert dropped.videos["v1"].segments.tensor.tolist() == [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0015]]
    assert (dropped.report.clipped_past_duration, dropped.report.dropped_past_duration) == (0, 2)

    kept = load_annotations(path, past_duration="keep")  # what evaluation scores
    assert kept.videos["v1"].segments.tensor.tolist() == [
        [1.0, 2.0],
        [1.0, 2.0],
        [1.0, 2.0015],
        [9.0, 12.0],
        [10.0, 11.0],
    ]
    r = kept.report
    assert (r.kept_past_duration, r.clipped_past_duration, r.dropped_past_duration) == (2, 0, 0)
    assert (r.dropped_zero_length, r.dropped_duplicates) == (1, 1)


def test_clipping_to_zero_length_and_duplicate_after_clip(tmp_path: Path) -> None:
    video = _ot_video("training", 5.0, ("a", [4.9995, 6.0]), ("a", [3.0, 5.5]), ("a", [3.0, 7.0]))
    ann = load_annotations(_ot(tmp_path, {"v": video}, ["a"]))
    assert ann.videos["v"].segments.tensor.tolist() == [[3.0, 5.0]]
    r = ann.report
    assert (r.clipped_past_duration, r.dropped_zero_length, r.dropped_duplicates) == (3, 1, 1)


def test_summary_lists_first_messages(tmp_path: Path) -> None:
    anns = [("a", [float(i), float(i)]) for i in range(13)]
    ann = load_annotations(_ot(tmp_path, {"v": _ot_video("training", 100.0, *anns)}, ["a"]))
    summary = ann.report.summary()
    assert "dropped zero-length: 13" in summary
    assert "3 more" in summary
    assert summary.count("shorter than") == 10


def test_warning_logged_when_instances_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _ot(tmp_path, {"v": _ot_video("training", 1.0, ("a", [0.5, 2.0]))}, ["a"])
    with caplog.at_level(logging.WARNING, logger="tadapt.io.annotations"):
        load_annotations(path)
    assert "1 instances clipped" in caplog.text


def test_thumos_csv_gtad_and_ambiguous(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "gt.csv",
        "video,type,type_idx,start,end,startFrame,endFrame\n"
        "video_test_1,Diving,26,1.0,2.0,30,60\n"
        "video_test_1,CliffDiving,22,1.0,2.0,30,60\n"
        "video_validation_2,Ambiguous,0,3.0,4.0,90,120\n"
        "video_test_1,Ambiguous,0,5.0,6.5,150,195\n",
    )
    assert detect_format(path) == "thumos_csv"
    ann = load_annotations(path)
    assert ann.class_names == THUMOS14_CLASSES  # all 20, though the file uses two
    gt = ann.videos["video_test_1"]
    assert gt.labels.tolist() == [THUMOS14_CLASSES.index("Diving"), 4]
    assert gt.ambiguous.tensor.tolist() == [[5.0, 6.5]]
    assert ann.videos["video_validation_2"].subset == "validation"
    assert len(ann.videos["video_validation_2"]) == 0
    assert (ann.report.num_instances, ann.report.num_ambiguous) == (2, 2)
    assert ann.split_aliases == {"test": "test", "train": "validation"}


def test_thumos_csv_other_classes_and_unknown_subset(tmp_path: Path) -> None:
    path = _write(tmp_path / "gt.csv", "video,type,start,end\nclip9,Zebra,1,2\nclip9,Ant,3,4\n")
    ann = load_annotations(path)
    assert ann.class_names == ("Ant", "Zebra")
    assert ann.videos["clip9"].subset == ""
    assert ann.videos["clip9"].labels.tolist() == [1, 0]
    assert any("clip9" in m and "subset ''" in m for m in ann.report.messages)


def test_thumos_csv_variant_with_duration(tmp_path: Path) -> None:
    header = (
        "video-name,t-init,t-end,f-init,f-end,video-duration,frame-rate,video-frames,label-idx\n"
    )
    path = _write(
        tmp_path / "gt.csv",
        header + "video_test_1,1.0,2.0,0,0,10.0,25.0,250,7\n"
        "video_test_1,8.0,11.0,0,0,10.0,25.0,250,19\n"
        "video_test_1,0.0,1.0,0,0,10.0,25.0,250,-1\n",
    )
    ann = load_annotations(path)
    gt = ann.videos["video_test_1"]
    assert gt.labels.tolist() == [7, 19]
    assert gt.segments.tensor.tolist() == [[1, 2], [8, 10]]
    assert (gt.duration_sec, gt.fps, len(gt.ambiguous)) == (10.0, 25.0, 1)
    assert ann.report.clipped_past_duration == 1
    bad = _write(tmp_path / "bad.csv", header + "video_test_1,1.0,2.0,0,0,10.0,25.0,250,20\n")
    with pytest.raises(AnnotationError, match=r"bad\.csv.*video_test_1.*line 2.*'label-idx'"):
        load_annotations(bad)


_GTAD = "video,type,type_idx,start,end,startFrame,endFrame\n"
_VARIANT = "video-name,t-init,t-end,video-duration,frame-rate,label-idx\n"


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        (
            _GTAD + "v,Diving,26,1,2,0,0\nv,Diving,22,3,4,0,0\n",
            "'type_idx'.*'26' elsewhere but '22'",
        ),
        (_GTAD + "v,Diving,26,1,x,0,0\n", "video 'v', line 2, field 'end': expected a number"),
        (_GTAD + "v,Diving,26,1,inf,0,0\n", "'end': expected a finite number"),
        (_GTAD + "v,Diving,26,2,1,0,0\n", "line 2, field 'start/end': end 1.0 < start 2.0"),
        (_GTAD + "v,Diving,26,-1,1,0,0\n", "negative time"),
        (_GTAD + ",Diving,26,1,2,0,0\n", "line 2, field 'video': empty video id"),
        (_GTAD + "v,Diving,26\n", "field 'start': expected a number, got ''"),
        ("video,type,start\nv,Diving,1\n", r"missing column\(s\) \['end'\]"),
        (_VARIANT + "v,1,2,9,30,0\nv,3,4,8,30,0\n", "line 3, field 'video-duration': differs"),
        (_VARIANT + "v,1,2,9,30,1.5\n", "'label-idx': '1.5' is neither -1"),
    ],
)
def test_thumos_csv_errors(tmp_path: Path, body: str, pattern: str) -> None:
    path = _write(tmp_path / "gt.csv", body)
    with pytest.raises(AnnotationError, match=pattern) as info:
        load_annotations(path, format="thumos_csv")
    assert str(path) in str(info.value)


def test_actionformer_generic_subsets_and_label_order(tmp_path: Path) -> None:
    path = _af(
        tmp_path,
        {
            "a": _af_video("training", 9.0, ("run", 1, [0, 1]), ("jump", 0, [2, 3])),
            "b": _af_video("validation", 9.0, ("jump", 0, [1, 2])),
        },
    )
    ann = load_annotations(path)
    assert ann.class_names == ("jump", "run")  # by label_id, not alphabetically by accident
    assert ann.videos["a"].labels.tolist() == [1, 0]
    assert ann.split_aliases == {"train": "training", "val": "validation", "test": "validation"}
    assert ann.resolve_split("TEST") == "validation"
    # explicit class names win (labels by name) and the order difference is reported
    ann2 = load_annotations(path, class_names=["run", "jump"])
    assert ann2.videos["a"].labels.tolist() == [0, 1]
    assert any("label_id order differs" in m for m in ann2.report.messages)


@pytest.mark.parametrize(
    ("anns", "pattern"),
    [
        ((("a", 0, [0, 1]), ("b", 0, [1, 2])), "label_id 0 is 'a' elsewhere but 'b' here"),
        ((("a", 0, [0, 1]), ("a", 1, [1, 2])), "label 'a' has label_id 0 elsewhere but 1 here"),
        ((("a", 0, [0, 1]), ("b", 2, [1, 2])), r"not 0\.\.K-1 \(missing \[1\]\)"),
        ((("a", "x", [0, 1]),), "'label_id': expected an integer"),
    ],
)
def test_actionformer_label_id_errors(tmp_path: Path, anns: Any, pattern: str) -> None:
    path = _af(tmp_path, {"vid7": _af_video("Test", 9.0, *anns)})
    with pytest.raises(AnnotationError, match=pattern) as info:
        load_annotations(path)
    assert str(path) in str(info.value)


def test_actionformer_gap_ok_with_class_names(tmp_path: Path) -> None:
    path = _af(tmp_path, {"v": _af_video("Test", 9.0, ("a", 0, [0, 1]), ("c", 2, [1, 2]))})
    ann = load_annotations(path, class_names=["a", "b", "c"])
    assert ann.videos["v"].labels.tolist() == [0, 2]


@pytest.mark.parametrize(
    ("annotation", "pattern"),
    [
        ({"label": "a"}, "missing required key 'segment'"),
        ({"segment": [0, 1]}, "missing required key 'label'"),
        ({"label": "a", "segment": [1.0]}, r"expected \[start, end\]"),
        ({"label": "a", "segment": "1-2"}, r"expected \[start, end\]"),
        ({"label": "a", "segment": [1, "x"]}, "expected a number"),
        ({"label": "a", "segment": [True, 2]}, "expected a number"),
        ({"label": "a", "segment": ["1", 2]}, "expected a number, got '1'"),
        ({"label": "a", "segment": [3, 2]}, "end 2.0 < start 3.0"),
        ({"label": "a", "segment": [-1, 2]}, "negative time"),
        ({"label": "a", "segment": [1, float("nan")]}, "finite"),
        ({"label": "a", "segment": [1, float("inf")]}, "finite"),
        ({"label": 3, "segment": [1, 2]}, "'label': expected a string"),
        ({"label": "zebra", "segment": [1, 2]}, "unknown label 'zebra'.*category_file"),
    ],
)
def test_opentad_annotation_errors(tmp_path: Path, annotation: Any, pattern: str) -> None:
    videos = {
        "good": _ot_video("training", 9.0, ("a", [0, 1])),
        "vid_bad": _ot_video("training", 9.0),
    }
    videos["vid_bad"]["annotations"] = [{"label": "a", "segment": [0, 1]}, annotation]
    path = _ot(tmp_path, videos, ["a"])
    with pytest.raises(AnnotationError, match=pattern) as info:
        load_annotations(path)
    message = str(info.value)
    assert str(path) in message
    assert "video 'vid_bad'" in message
    assert "annotation 1" in message


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        ({"taxonomy": {}, "version": {}}, "missing required key 'database'"),
        (
            {"database": {"v": {"duration": 3.0, "annotations": []}}},
            "missing required key 'subset'",
        ),
        ({"database": {"v": {"subset": "x", "annotations": {}}}}, "'annotations': expected a list"),
        ({"database": {"v": {"subset": "x", "duration": -2}}}, "'duration': must not be negative"),
        ({"database": {"v": {"subset": "x", "duration": "long"}}}, "'duration': expected a number"),
        ({"database": []}, "'database': expected an object"),
    ],
)
def test_opentad_video_errors(tmp_path: Path, payload: Any, pattern: str) -> None:
    path = _write(tmp_path / "x.json", payload)
    with pytest.raises(AnnotationError, match=pattern) as info:
        load_annotations(path, format="opentad")
    assert str(path) in str(info.value)


def test_duplicate_video_id_in_json(tmp_path: Path) -> None:
    video = json.dumps(_ot_video("training", 3.0))
    path = _write(tmp_path / "dup.json", f'{{"database": {{"v1": {video}, "v1": {video}}}}}')
    with pytest.raises(AnnotationError, match=r"dup\.json: key 'v1' appears twice"):
        load_annotations(path)


def test_invalid_json_and_unknown_layouts(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="not valid JSON"):
        load_annotations(_write(tmp_path / "a.json", '{"database": '))
    with pytest.raises(AnnotationError, match="unrecognised JSON layout; supported formats: "):
        detect_format(_write(tmp_path / "b.json", {"videos": []}))
    with pytest.raises(AnnotationError, match=r"unrecognised CSV header.*thumos_csv"):
        detect_format(_write(tmp_path / "c.csv", "a,b\n1,2\n"))
    with pytest.raises(AnnotationError, match=r"predictions file.*load_predictions"):
        load_annotations(_write(tmp_path / "d.json", {"results": {}}))
    with pytest.raises(AnnotationError, match="predictions file"):
        load_annotations(_write(tmp_path / "e.json", {"database": {"v": []}}))
    with pytest.raises(AnnotationError, match="expects JSON"):
        load_annotations(_write(tmp_path / "f.csv", "video,type,start,end\n"), format="opentad")


def test_bad_arguments(tmp_path: Path) -> None:
    path = _ot(tmp_path, {"v": _ot_video("training", 3.0)}, ["a"])
    with pytest.raises(ValueError, match="past_duration"):
        load_annotations(path, past_duration="trim")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        load_annotations(path, class_names=["a"], category_file=tmp_path / "category_idx.txt")
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        load_annotations(path, format="xml")
    with pytest.raises(ValueError, match="repeated"):
        load_annotations(path, class_names=["a", "a"])


def test_opentad_class_names_sources(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    videos = {"v": _ot_video("training", 9.0, ("b", [0, 1]), ("a", [1, 2]))}
    path = _ot(tmp_path, videos, classes=None)
    with caplog.at_level(logging.WARNING):
        ann = load_annotations(path)
    assert ann.class_names == ("a", "b")
    assert "no class list found" in caplog.text
    assert any("sorted labels" in m for m in ann.report.messages)
    # category_idx.txt beside the json: the id is the line index
    (tmp_path / "category_idx.txt").write_text("c\nb\na\n\n")
    assert load_annotations(path).videos["v"].labels.tolist() == [1, 2]
    other = tmp_path / "classes.txt"
    other.write_text("b\na\n")
    ann = load_annotations(path, category_file=other)
    assert ann.class_names == ("b", "a")
    assert str(other) in ann.source
    other.write_text("b\n\na\n")
    with pytest.raises(AnnotationError, match=r"classes\.txt, line 2: empty class name"):
        load_annotations(path, category_file=other)
    other.write_text("b\na\nb\n")
    with pytest.raises(AnnotationError, match="'b' is listed twice"):
        load_annotations(path, category_file=other)


def _anet(tmp_path: Path, taxonomy: list[dict[str, Any]]) -> Path:
    def video(subset: str, *anns: tuple[str, list[float]]) -> dict[str, Any]:
        return {
            "subset": subset,
            "url": "https://www.youtube.com/watch?v=x",
            "duration": 20.0,
            "resolution": "640x360",
            "annotations": [{"label": n, "segment": s} for n, s in anns],
        }

    videos = {
        "abc": video("training", ("Zumba", [1, 2])),
        "def": video("validation", ("Archery", [3, 4]), ("Zumba", [0, 25])),
        "ghi": video("testing"),
    }
    return _write(
        tmp_path / "anet.json", {"version": "VERSION 1.3", "taxonomy": taxonomy, "database": videos}
    )


def test_official_activitynet(tmp_path: Path) -> None:
    taxonomy = [
        {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
        {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
        {"nodeId": 2, "nodeName": "Zumba", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 3, "nodeName": "Archery", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 4, "nodeName": "Curling", "parentId": 1, "parentName": "Sports"},
    ]
    path = _anet(tmp_path, taxonomy)
    assert detect_format(path) == "activitynet"
    ann = load_annotations(path)
    assert ann.class_names == ("Archery", "Curling", "Zumba")  # leaves, sorted
    assert ann.videos["def"].labels.tolist() == [0, 2]
    assert ann.videos["def"].fps is None
    assert ann.report.clipped_past_duration == 1
    assert ann.split_aliases == {"train": "training", "val": "validation", "test": "validation"}
    assert ann.resolve_split("test") == "validation"
    assert list(ann.split("test").videos) == ["def"]
    assert list(ann.split("testing").videos) == ["ghi"]
    assert load_annotations(_anet(tmp_path, [])).class_names == ("Archery", "Zumba")
    with pytest.raises(AnnotationError, match="taxonomy node 0, field 'nodeName'"):
        load_annotations(_anet(tmp_path, [{"nodeId": 0}]), format="activitynet")


def _bsn(tmp_path: Path, info_rows: list[str] | None, names: list[str] | None) -> Path:
    anno = {
        "v_abc": {"duration_second": 10.0, "duration_frame": 300, "feature_frame": 288,
                  "annotations": [{"segment": [1.0, 2.0], "label": "Zumba"}]},
        "v_xyz": {"duration_second": 5.0, "duration_frame": 150, "feature_frame": 144,
                  "annotations": [{"segment": [1.0, 5.01], "label": "Archery"}]},
        "noprefix": {"duration_second": 5.0, "annotations": []},
    }  # fmt: skip
    if info_rows is not None:
        header = "video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
        (tmp_path / "video_info_new.csv").write_text(header + "".join(info_rows))
    if names is not None:
        (tmp_path / "action_name.csv").write_text("action\n" + "\n".join(names) + "\n")
    return _write(tmp_path / "anet_anno_action.json", anno)


def test_bsn_synthetic(tmp_path: Path) -> None:
    rows = ["v_abc,300,10.0,30.0,30.0,training,288\n", "v_zzz,3,0.1,30.0,30.0,testing,0\n"]
    path = _bsn(tmp_path, rows, ["Zumba", "Archery"])
    assert detect_format(path) == "bsn_activitynet"
    ann = load_annotations(path)
    assert list(ann.videos) == ["abc", "xyz", "noprefix"]
    assert ann.class_names == ("Zumba", "Archery")
    assert ann.videos["abc"].subset == "training"
    assert ann.videos["abc"].fps == 30.0
    assert ann.videos["xyz"].subset == ""
    assert ann.videos["xyz"].fps is None
    messages = ann.report.messages
    assert any(m.startswith("v_xyz: not in video_info_new.csv") for m in messages)
    assert any("1 videos of video_info_new.csv are not in the json" in m for m in messages)
    assert any(m.startswith("noprefix: no 'v_' prefix") for m in messages)
    assert ann.report.clipped_past_duration == 1
    assert "video_info_new.csv" in ann.source
    assert "action_name.csv" in ann.source


def test_bsn_missing_sidecars_and_duplicate_rows(tmp_path: Path) -> None:
    ann = load_annotations(_bsn(tmp_path, None, None))
    assert ann.subsets() == [""]
    assert ann.class_names == ("Archery", "Zumba")
    assert any("video_info_new.csv not found" in m for m in ann.report.messages)
    (tmp_path / "c").mkdir()
    both = {"v_k": {"duration_second": 1.0}, "k": {"duration_second": 1.0}}
    collide = _write(tmp_path / "c" / "anet_anno_action.json", both)
    with pytest.raises(AnnotationError, match="'k' appears both with and without the 'v_' prefix"):
        load_annotations(collide)
    rows = ["v_abc,300,10.0,30.0,30.0,training,288\n"] * 2
    with pytest.raises(AnnotationError, match=r"video_info_new.csv, video 'v_abc', line 3.*twice"):
        load_annotations(_bsn(tmp_path, rows, None))


def test_split_resolution_rules(tmp_path: Path) -> None:
    videos = {
        "a": _af_video("Validation", 9.0, ("x", 0, [0, 1])),
        "b": _af_video("Test", 9.0, ("x", 0, [0, 1])),
        "c": _af_video("Extra", 9.0),
    }
    ann = load_annotations(_af(tmp_path, videos))
    assert ann.subsets() == ["Validation", "Test", "Extra"]
    assert ann.resolve_split("extra") == "Extra"
    assert ann.resolve_split("training") == "Validation"
    assert ann.resolve_split("testing") == "Test"
    with pytest.raises(AnnotationError, match=r"no subset matches split 'dev'.*'Validation'"):
        ann.resolve_split("dev")
    test = ann.split("test")
    assert list(test.videos) == ["b"]
    assert test.split_aliases == {"test": "Test"}
    assert test.report is ann.report
    assert test.class_names == ann.class_names
    assert test.num_instances == 1
