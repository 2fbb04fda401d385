"""Fuzzing evaluation end to end: files written, read back, scored; the mAP must be the reference's.

Ground truth in any annotation format, predictions in any layout, with near misses, ties,
zero-length and negative segments, huge coordinates and scores, unknown videos and classes
without ground truth. tadapt's mAP of what it read is compared with the loop-based reference
evaluator (``tests/reference_map.py``), through the Python API and through ``tadapt evaluate``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_map import reference_map
from tadapt.cli.main import main
from tadapt.evaluation import evaluate_detections
from tadapt.io import load_annotations, read_predictions
from tadapt.structures import DetectionTable, GroundTruthTable

from .files import (
    CLASS_POOL,
    Detection,
    Video,
    actionformer_file,
    activitynet_file,
    detections,
    opentad_file,
    prediction_file,
    used_classes,
    videos,
)

# ids without "_": no id is another's ActivityNet "v_" variant, which tadapt evaluate aligns
_IDS = st.text("abcxyz019", min_size=1, max_size=5)
thresholds = st.lists(st.floats(0.05, 1.0) | st.just(1.0), min_size=1, max_size=4)


def _frames(gt: GroundTruthTable, pred: DetectionTable) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference evaluator's inputs: one row per instance / detection, in table order."""
    gt_frame = pd.DataFrame(
        {
            "video-id": [gt.video_ids[v] for v in gt.video],
            "t-start": gt.segments[:, 0],
            "t-end": gt.segments[:, 1],
            "label": gt.labels,
        }
    )
    pred_frame = pd.DataFrame(
        {
            "video-id": [pred.video_ids[v] for v in pred.video],
            "t-start": pred.segments[:, 0],
            "t-end": pred.segments[:, 1],
            "label": pred.labels,
            "score": pred.scores,
        }
    )
    return gt_frame, pred_frame


@st.composite
def evaluation_case(draw: st.DrawFn, *, one_subset: bool = False):
    """Ground-truth files, prediction files and thresholds of one evaluation."""
    model: list[Video] = draw(videos(ids=_IDS))
    if one_subset:
        for video in model:
            video.subset = "validation"
    fmt = draw(st.sampled_from(["actionformer", "opentad", "activitynet"]))
    if fmt == "actionformer":
        gt_files = actionformer_file(model, tuple(used_classes(model)))
    elif fmt == "opentad":
        gt_files = opentad_file(model, CLASS_POOL)
    else:
        gt_files = activitynet_file(model, CLASS_POOL)
    classes = CLASS_POOL
    dets: list[Detection] = draw(
        detections([v.video_id for v in model], classes, extreme=draw(st.booleans()))
    )
    # true positives and near misses: copies of ground truth, jittered, some with equal scores
    for video in model:
        for inst in video.instances:
            if draw(st.booleans()):
                shift = draw(st.floats(-3.0, 3.0) | st.just(0.0))
                score = draw(st.sampled_from([0.5, 0.9]) | st.floats(0.0, 1.0))
                label = inst.label
                start = min(inst.start + shift, inst.end)
                dets.append(Detection(video.video_id, start, inst.end, label, score))
    layout = draw(st.sampled_from(["results", "actionformer", "csv"]))
    return gt_files, prediction_file(dets, classes, layout), draw(thresholds)


@given(case=evaluation_case())
def test_the_map_of_read_files_is_the_reference_map(case):
    gt_files, pred_files, tious = case
    with tempfile.TemporaryDirectory() as folder:
        gt_dir, pred_dir = Path(folder, "gt"), Path(folder, "pred")
        gt_dir.mkdir(), pred_dir.mkdir()
        annotations = load_annotations(gt_files.write(gt_dir), past_duration="keep")
        pred_path = pred_files.write(pred_dir)
        table, _ = read_predictions(pred_path, annotations.class_names, unknown_labels="ignore")
    result = evaluate_detections(annotations.table, table, annotations.class_names, tious)
    gt_frame, pred_frame = _frames(annotations.table, table)
    expected = reference_map(gt_frame, pred_frame, np.asarray(tious))
    assert result.ap.shape == expected.shape
    np.testing.assert_allclose(result.ap, expected, rtol=0, atol=1e-12)


@pytest.mark.slow
@settings(max_examples=15)
@given(case=evaluation_case(one_subset=True))
def test_tadapt_evaluate_reports_the_reference_map(case):
    gt_files, pred_files, tious = case
    with tempfile.TemporaryDirectory() as folder:
        gt_dir, pred_dir = Path(folder, "gt"), Path(folder, "pred")
        gt_dir.mkdir(), pred_dir.mkdir()
        gt_path, pred_path = gt_files.write(gt_dir), pred_files.write(pred_dir)
        report = Path(folder, "report.json")
        argv = ["evaluate", "--gt", str(gt_path), "--pred", str(pred_path), "--split", "val"]
        argv += ["--tiou", ",".join(map(repr, tious)), "--out", str(report)]
        assert main([*argv, "--unknown-labels", "ignore"]) == 0
        payload = json.loads(report.read_text())
        annotations = load_annotations(gt_path, past_duration="keep")
        table, _ = read_predictions(pred_path, annotations.class_names, unknown_labels="ignore")
    expected = reference_map(*_frames(annotations.table, table), np.asarray(tious))
    average = expected.mean(axis=0) if expected.size else np.zeros(0)
    assert payload["average_mAP"] == pytest.approx(float(expected.mean()) if expected.size else 0.0)
    for c, label in enumerate(sorted(set(annotations.table.labels.tolist()))):
        name = annotations.class_names[label]
        assert payload["per_class"][name]["average_ap"] == pytest.approx(average[c], abs=1e-12)
