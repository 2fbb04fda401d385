from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from frames import (
    detections_from_frame,
    ground_truth_from_frame,
    random_predictions,
    thumos_csv_frame,
)
from reference_map import reference_map
from tadapt.evaluation import evaluate_detections, interpolated_average_precision
from tadapt.structures import Detections, GroundTruth, Segments


@pytest.fixture(scope="module")
def thumos_test_gt(real_data) -> pd.DataFrame:
    return thumos_csv_frame(real_data / "thumos14" / "test_Annotation.csv")


@pytest.mark.data
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_loop_reference_on_real_thumos(thumos_test_gt, seed):
    thresholds = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    classes = sorted(thumos_test_gt["label"].unique())
    pred = random_predictions(thumos_test_gt, 6000, seed)
    expected = reference_map(thumos_test_gt, pred, thresholds)
    result = evaluate_detections(
        ground_truth_from_frame(thumos_test_gt, classes),
        detections_from_frame(pred, classes),
        classes,
        thresholds,
    )
    assert result.class_names == tuple(classes)
    np.testing.assert_allclose(result.ap, expected, rtol=0, atol=1e-9)
    assert result.ap.mean() > 0.05  # the jittered copies do produce true positives


def test_perfect_predictions_score_one():
    gt = [
        GroundTruth("a", Segments([[0.0, 2.0], [5.0, 9.0]]), torch.tensor([0, 1])),
        GroundTruth("b", Segments([[1.0, 3.0]]), torch.tensor([1])),
    ]
    dets = [
        Detections(
            "a", Segments([[0.0, 2.0], [5.0, 9.0]]), torch.tensor([0.9, 0.8]), torch.tensor([0, 1])
        ),
        Detections("b", Segments([[1.0, 3.0]]), torch.tensor([0.7]), torch.tensor([1])),
    ]
    result = evaluate_detections(gt, dets, ["x", "y"], [0.5, 0.9])
    np.testing.assert_allclose(result.ap, 1.0)
    assert result.average_map == pytest.approx(1.0)
    np.testing.assert_allclose(result.mean_recall_at_k, 1.0)


def test_hand_computed_average_precision():
    # one class, 2 GT; ranked predictions: TP, FP (duplicate of the same GT), TP
    gt = [GroundTruth("v", Segments([[0.0, 10.0], [20.0, 30.0]]), torch.tensor([0, 0]))]
    dets = [
        Detections(
            "v",
            Segments([[0.0, 10.0], [0.5, 10.0], [20.0, 30.0]]),
            torch.tensor([0.9, 0.8, 0.7]),
            torch.tensor([0, 0, 0]),
        )
    ]
    result = evaluate_detections(gt, dets, ["a"], [0.5])
    # precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> envelope 1, 2/3 -> AP = 0.5*1 + 0.5*2/3
    assert result.ap[0, 0] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-12)


def test_fallback_to_next_unmatched_ground_truth():
    # both predictions overlap GT0 best; the second must fall back to GT1 (tIoU 0.6 >= 0.5)
    gt = [GroundTruth("v", Segments([[0.0, 10.0], [2.0, 12.0]]), torch.tensor([0, 0]))]
    dets = [
        Detections(
            "v",
            Segments([[0.0, 10.0], [0.0, 10.0]]),
            torch.tensor([0.9, 0.8]),
            torch.tensor([0, 0]),
        )
    ]
    result = evaluate_detections(gt, dets, ["a"], [0.5, 0.7])
    assert result.ap[0, 0] == pytest.approx(1.0)  # tIoU(pred, GT1) = 8/12 >= 0.5
    assert result.ap[1, 0] == pytest.approx(0.5)  # 8/12 < 0.7: second prediction is a FP


def test_threshold_is_inclusive():
    gt = [GroundTruth("v", Segments([[0.0, 10.0]]), torch.tensor([0]))]
    dets = [Detections("v", Segments([[0.0, 5.0]]), torch.tensor([0.9]), torch.tensor([0]))]
    assert evaluate_detections(gt, dets, ["a"], [0.5]).ap[0, 0] == pytest.approx(1.0)


def test_class_without_predictions_scores_zero_and_counts_in_mean():
    gt = [GroundTruth("v", Segments([[0.0, 10.0], [20.0, 25.0]]), torch.tensor([0, 1]))]
    dets = [Detections("v", Segments([[0.0, 10.0]]), torch.tensor([0.9]), torch.tensor([0]))]
    result = evaluate_detections(gt, dets, ["a", "b", "c"], [0.5])
    assert result.class_names == ("a", "b")  # "c" has no ground truth: not evaluated
    np.testing.assert_allclose(result.ap[0], [1.0, 0.0])
    assert result.average_map == pytest.approx(0.5)


def test_ground_truth_in_videos_without_predictions_lowers_recall():
    gt = [
        GroundTruth("v1", Segments([[0.0, 10.0]]), torch.tensor([0])),
        GroundTruth("v2", Segments([[0.0, 10.0]]), torch.tensor([0])),
    ]
    dets = [Detections("v1", Segments([[0.0, 10.0]]), torch.tensor([0.9]), torch.tensor([0]))]
    assert evaluate_detections(gt, dets, ["a"], [0.5]).ap[0, 0] == pytest.approx(0.5)


def test_predictions_in_unknown_videos_are_false_positives():
    gt = [GroundTruth("v", Segments([[0.0, 10.0]]), torch.tensor([0]))]
    dets = [
        Detections("elsewhere", Segments([[0.0, 10.0]]), torch.tensor([0.95]), torch.tensor([0])),
        Detections("v", Segments([[0.0, 10.0]]), torch.tensor([0.9]), torch.tensor([0])),
    ]
    result = evaluate_detections(gt, dets, ["a"], [0.5])
    assert result.num_unknown_video_predictions == 1
    assert result.ap[0, 0] == pytest.approx(0.5)  # precision 1/2 at recall 1


def test_ties_are_broken_by_input_order():
    gt = [GroundTruth("v", Segments([[0.0, 10.0]]), torch.tensor([0]))]
    tp_first = Detections(
        "v", Segments([[0.0, 10.0], [50.0, 60.0]]), torch.tensor([0.5, 0.5]), torch.tensor([0, 0])
    )
    fp_first = tp_first[torch.tensor([1, 0])]
    assert evaluate_detections(gt, [tp_first], ["a"], [0.5]).ap[0, 0] == pytest.approx(1.0)
    assert evaluate_detections(gt, [fp_first], ["a"], [0.5]).ap[0, 0] == pytest.approx(0.5)


def test_ambiguous_false_positives_can_be_ignored():
    gt = [
        GroundTruth(
            "v",
            Segments([[0.0, 10.0]]),
            torch.tensor([0]),
            ambiguous=Segments([[30.0, 40.0]]),
        )
    ]
    dets = [
        Detections(
            "v",
            Segments([[32.0, 38.0], [0.0, 10.0]]),
            torch.tensor([0.9, 0.8]),
            torch.tensor([0, 0]),
        )
    ]
    default = evaluate_detections(gt, dets, ["a"], [0.5])
    assert default.ap[0, 0] == pytest.approx(0.5)
    ignored = evaluate_detections(gt, dets, ["a"], [0.5], ambiguous="ignore_fp")
    assert ignored.ap[0, 0] == pytest.approx(1.0)
    assert ignored.num_ambiguous_ignored == 1


def test_top_k_recall_counts_only_best_k_times_gt_predictions():
    gt = [GroundTruth("v", Segments([[0.0, 10.0], [20.0, 30.0]]), torch.tensor([0, 0]))]
    # 2 GT -> top-1x keeps the 2 best predictions: only the first GT is found by them
    dets = [
        Detections(
            "v",
            Segments([[0.0, 10.0], [50.0, 60.0], [20.0, 30.0]]),
            torch.tensor([0.9, 0.8, 0.1]),
            torch.tensor([0, 0, 0]),
        )
    ]
    result = evaluate_detections(gt, dets, ["a"], [0.5], top_k=(1, 2))
    np.testing.assert_allclose(result.recall_at_k[0, :, 0], [0.5, 1.0])


def test_interpolated_ap_matches_reference_loop():
    rng = np.random.default_rng(3)
    precision = rng.random((4, 50))
    recall = np.sort(rng.random((4, 50)), axis=1)
    from reference_map import interpolated_ap

    expected = [interpolated_ap(precision[k], recall[k]) for k in range(4)]
    np.testing.assert_allclose(
        interpolated_average_precision(precision, recall), expected, atol=1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tiou_thresholds": []}, "thresholds"),
        ({"tiou_thresholds": [0.0]}, "thresholds"),
        ({"tiou_thresholds": [1.5]}, "thresholds"),
        ({"top_k": (0,)}, "top_k"),
        ({"ambiguous": "drop"}, "ambiguous"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    gt = [GroundTruth("v", Segments([[0.0, 10.0]]), torch.tensor([0]))]
    dets = [Detections("v", Segments([[0.0, 10.0]]), torch.tensor([0.9]), torch.tensor([0]))]
    args = {"tiou_thresholds": [0.5], **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate_detections(gt, dets, ["a"], **args)


def test_bad_labels_and_nan_are_rejected():
    gt = [GroundTruth("v", Segments([[0.0, 10.0]]), torch.tensor([0]))]
    bad_label = Detections("v", Segments([[0.0, 10.0]]), torch.tensor([0.9]), torch.tensor([3]))
    with pytest.raises(ValueError, match="outside"):
        evaluate_detections(gt, [bad_label], ["a"], [0.5])
    nan = Detections("v", Segments([[0.0, 10.0]]), torch.tensor([float("nan")]), torch.tensor([0]))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_detections(gt, [nan], ["a"], [0.5])
    with pytest.raises(ValueError, match="twice"):
        evaluate_detections(gt + gt, [], ["a"], [0.5])


@pytest.fixture(scope="module")
def anet_val_gt(real_data) -> pd.DataFrame:
    root = real_data / "activitynet"
    info = pd.read_csv(root / "video_info_new.csv")
    val = set(info.loc[info["subset"] == "validation", "video"])
    import json

    anno = json.loads((root / "anet_anno_action.json").read_text())
    rows = [
        (vid, a["segment"][0], a["segment"][1], a["label"])
        for vid, v in anno.items()
        if vid in val
        for a in v["annotations"]
    ]
    return pd.DataFrame(rows, columns=["video-id", "t-start", "t-end", "label"])


@pytest.mark.data
def test_matches_loop_reference_on_real_activitynet(anet_val_gt):
    assert anet_val_gt["video-id"].nunique() == 4728
    thresholds = np.linspace(0.5, 0.95, 10)
    classes = sorted(anet_val_gt["label"].unique())
    assert len(classes) == 200
    pred = random_predictions(anet_val_gt, 8000, seed=7)
    expected = reference_map(anet_val_gt, pred, thresholds)
    result = evaluate_detections(
        ground_truth_from_frame(anet_val_gt, classes),
        detections_from_frame(pred, classes),
        classes,
        thresholds,
    )
    np.testing.assert_allclose(result.ap, expected, rtol=0, atol=1e-9)
    assert result.ap.mean() > 0.01
