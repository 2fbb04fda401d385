"""Evaluation scores the ground truth as the public evaluators do (as given, blocked videos out).

The end-to-end peer is ActionFormer's ``ANETdetection`` (``libs/utils/metrics.py``, MIT,
downloaded by ``make test`` into ``.venv/reference/``): it reads the same ActionFormer JSON
ground truth and a prediction file and computes mAP, with no clipping at the video's duration.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from tadapt.cli.evaluate import evaluate_files
from tadapt.cli.main import main
from tadapt.evaluation import evaluate_detections, tiou_thresholds_for
from tadapt.io import load_annotations, load_blocked_videos, write_predictions_json
from tadapt.structures import Detections, GroundTruth, Segments

# the THUMOS-14 test videos with instances past their duration (26 in all)
PAST_END = ("video_test_0000270", "video_test_0000814", "video_test_0001081")


def _random_predictions(database: dict, subset: str, num: int, seed: int) -> dict:
    """ActionFormer-format predictions: jittered ground truth and random segments."""
    rng = np.random.default_rng(seed)
    videos = {k: v for k, v in database.items() if v["subset"] == subset}
    out: dict[str, list[dict]] = {vid: [] for vid in videos}
    label_ids = sorted({a["label_id"] for v in videos.values() for a in v["annotations"]})
    vids = list(videos)
    for _ in range(num):
        vid = vids[rng.integers(len(vids))]
        anns = videos[vid]["annotations"]
        if anns and rng.random() < 0.6:
            ann = anns[rng.integers(len(anns))]
            s, e = ann["segment"]
            jitter = rng.normal(0, 0.3, 2) * (e - s)
            s, e = sorted((s + jitter[0], e + jitter[1]))
            label = ann["label_id"] if rng.random() < 0.8 else int(rng.choice(label_ids))
        else:
            s = rng.uniform(0, videos[vid]["duration"])
            e = s + rng.uniform(0.5, 20)
            label = int(rng.choice(label_ids))
        # continuous scores: the peer's unstable sort cannot reorder ties
        out[vid].append({"segment": [s, e], "label_id": int(label), "scores": rng.random()})
    return {"database": out}


@pytest.mark.data
def test_thumos_actionformer_file_scores_like_actionformer_end_to_end(
    peer_metrics, real_data, tmp_path
):
    gt_path = real_data / "thumos14" / "thumos14_actionformer.json"
    database = json.loads(gt_path.read_text())["database"]
    in_file = sum(len(v["annotations"]) for v in database.values() if v["subset"] == "Test")
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(_random_predictions(database, "Test", 6000, seed=3)))
    thresholds = np.array(tiou_thresholds_for("thumos14"))

    result, meta = evaluate_files(gt_path, pred_path, split="test", dataset="thumos14")
    peer = peer_metrics.ANETdetection(
        str(gt_path), split="test", tiou_thresholds=thresholds, num_workers=1
    )
    peer_map, peer_average, peer_recall = peer.evaluate(str(pred_path), verbose=False)

    # every instance of the file is scored: none of the 26 past the duration is lost
    assert meta["num_instances"] == in_file == int(result.num_gt.sum()) == 3358
    assert result.num_past_duration == 26
    np.testing.assert_allclose(result.mean_ap, peer_map, rtol=0, atol=1e-12)
    assert result.average_map == pytest.approx(peer_average, abs=1e-12)
    np.testing.assert_allclose(result.mean_recall_at_k, peer_recall, rtol=0, atol=1e-12)


@pytest.mark.data
def test_thumos_csv_with_durations_keeps_its_26_late_instances(real_data, tmp_path):
    gt_path = real_data / "thumos14" / "thumos14_test_groundtruth.csv"
    given = load_annotations(gt_path, past_duration="keep")
    assert given.num_instances == 3358  # the 3,358 rows that are not Ambiguous
    assert given.report.kept_past_duration == 26
    assert given.report.dropped_past_duration == given.report.clipped_past_duration == 0
    late = [m.split()[0] for m in given.report.messages if m.endswith("kept")]
    assert sorted(set(late)) == list(PAST_END)
    # perfect predictions of every instance, late ones included, score 100 %
    pred_path = tmp_path / "pred.json"
    dets = [
        Detections(
            gt.video_id,
            gt.segments,
            torch.linspace(1.0, 0.5, len(gt), dtype=torch.float64),
            gt.labels,
        )
        for gt in given.videos.values()
    ]
    write_predictions_json(pred_path, dets, given.class_names)
    result, meta = evaluate_files(gt_path, pred_path)
    assert meta["num_instances"] == 3358
    assert result.num_past_duration == 26
    assert result.average_map == pytest.approx(1.0)


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "dropped"),
    [
        ("thumos14/thumos14_actionformer.json", 0),
        ("thumos14/thumos_14_anno_opentad.json", 0),
        ("multithumos/multithumos_anno.json", 0),
        ("activitynet/anet_anno_action.json", 62),
    ],
)
def test_duplicate_and_zero_length_rule_drops_what_actionformer_drops(
    peer_metrics, real_data, name, dropped
):
    """The one clean-up kept at evaluation removes exactly what the peer's rule removes."""
    path = real_data / name
    report = load_annotations(path, past_duration="keep").report
    assert report.dropped_zero_length + report.dropped_duplicates == dropped
    data = json.loads(path.read_text())
    videos = data.get("database", data)
    peer_dropped = 0
    for video in videos.values():
        # the peer compares labels for equality only: the class name serves as label_id
        events = [{"segment": a["segment"], "label_id": a["label"]} for a in video["annotations"]]
        peer_dropped += len(events) - len(peer_metrics.remove_duplicate_annotations(events))
    assert peer_dropped == dropped


@pytest.mark.data
def test_thumos_csv_files_lose_nothing_to_the_rule(real_data):
    for name in ("test_Annotation.csv", "thumos14_test_groundtruth.csv", "val_Annotation.csv"):
        report = load_annotations(real_data / "thumos14" / name, past_duration="keep").report
        assert report.dropped_zero_length == report.dropped_duplicates == 0


def _video(video_id: str, segments: list[list[float]], labels: list[int], **kw) -> GroundTruth:
    return GroundTruth(
        video_id,
        Segments(torch.tensor(segments, dtype=torch.float64).view(-1, 2)),
        torch.tensor(labels, dtype=torch.int64),
        **kw,
    )


def _dets(video_id: str, segments: list[list[float]], labels: list[int]) -> Detections:
    n = len(labels)
    return Detections(
        video_id,
        Segments(torch.tensor(segments, dtype=torch.float64).view(-1, 2)),
        torch.linspace(0.9, 0.5, n, dtype=torch.float64),
        torch.tensor(labels, dtype=torch.int64),
    )


def test_late_ground_truth_is_scored_as_given_and_counted(caplog):
    gt = [_video("a", [[1.0, 4.0], [8.0, 12.0]], [0, 0], duration_sec=10.0)]
    # a detection clipped at the video's end overlaps the late instance only 2/4
    clipped = evaluate_detections(gt, [_dets("a", [[1, 4], [8, 10]], [0, 0])], ["x"], [0.7])
    as_given = evaluate_detections(gt, [_dets("a", [[1, 4], [8, 12]], [0, 0])], ["x"], [0.7])
    assert clipped.average_map == pytest.approx(0.5)
    assert as_given.average_map == pytest.approx(1.0)
    assert as_given.num_past_duration == 1
    assert as_given.to_dict()["num_past_duration"] == 1
    with caplog.at_level(logging.WARNING):
        evaluate_detections(gt, [], ["x"], [0.5])
    assert "1 ground-truth instances end after their video's duration" in caplog.text


def test_blocked_videos_leave_ground_truth_and_predictions():
    gt = [
        _video("v_keep", [[1.0, 2.0]], [0]),
        _video("v_blocked", [[1.0, 2.0], [3.0, 4.0]], [0, 0]),
    ]
    dets = [_dets("v_keep", [[1.0, 2.0]], [0]), _dets("v_blocked", [[5.0, 6.0]], [0])]
    plain = evaluate_detections(gt, dets, ["x"], [0.5])
    assert plain.num_gt.tolist() == [3]
    assert plain.average_map == pytest.approx(1 / 3)
    for blocked in (["v_blocked"], ["blocked"]):  # official ids lack the v_ prefix
        result = evaluate_detections(gt, dets, ["x"], [0.5], blocked_videos=blocked)
        assert result.num_gt.tolist() == [1]
        assert result.average_map == pytest.approx(1.0)  # the false positive left too
        assert (result.num_blocked_videos, result.num_blocked_predictions) == (1, 1)
        assert result.num_unknown_video_predictions == 0


def test_load_blocked_videos_reads_json_lists_and_lines(tmp_path):
    json_file = tmp_path / "blocked.json"
    json_file.write_text(json.dumps(["v_a", "b"]))
    assert load_blocked_videos(json_file) == {"v_a", "b"}
    lines = tmp_path / "blocked.txt"
    lines.write_text("v_a\n\n b \n")
    assert load_blocked_videos(lines) == {"v_a", "b"}
    for bad in ({"v_a": 1}, [1, 2]):
        json_file.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=r"blocked\.json: a blocked-video file must be"):
            load_blocked_videos(json_file)


def test_evaluate_command_blocked_option(tmp_path, capsys):
    gt_path = tmp_path / "gt.json"
    database = {
        vid: {
            "subset": "validation",
            "duration": 20.0,
            "annotations": [{"segment": [1.0, 2.0], "label": "x"}],
        }
        for vid in ("v_keep", "v_blocked")
    }
    gt_path.write_text(json.dumps({"database": database}))
    pred_path = tmp_path / "pred.json"
    results = {
        "v_keep": [{"segment": [1.0, 2.0], "label": "x", "score": 0.9}],
        "v_blocked": [{"segment": [5.0, 6.0], "label": "x", "score": 0.8}],
    }
    pred_path.write_text(json.dumps({"results": results}))
    blocked = tmp_path / "blocked.json"
    blocked.write_text(json.dumps(["blocked"]))
    out = tmp_path / "report.json"
    argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred_path), "--tiou", "0.5"]
    assert main([*argv, "--blocked", str(blocked), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 videos and 1 predictions left out" in printed
    report = json.loads(out.read_text())
    assert report["average_mAP"] == pytest.approx(1.0)
    assert report["num_blocked_videos"] == report["num_blocked_predictions"] == 1
    assert report["meta"]["blocked"] == str(blocked)
    assert main([*argv]) == 0
    assert "Average mAP: 50.00 %" in capsys.readouterr().out
    blocked.write_text("{}")
    assert main([*argv, "--blocked", str(blocked)]) == 2
    assert "a blocked-video file must be a JSON list" in capsys.readouterr().err
