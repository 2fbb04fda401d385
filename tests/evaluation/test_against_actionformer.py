"""Cross-check against a public peer: ActionFormer's ``libs/utils/metrics.py`` (MIT licence).

``make test`` downloads the ``actionformer==1.5.0`` source distribution from PyPI into
``.venv/reference/`` (it is never committed) and this test loads only its ``metrics.py``,
a pandas/loop port of the official ActivityNet evaluation. Scores are continuous, so the
peer's unstable sort cannot reorder ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from frames import (
    detections_from_frame,
    ground_truth_from_frame,
    random_predictions,
    thumos_csv_frame,
)
from tadapt.evaluation import evaluate_detections


@pytest.mark.data
def test_ap_and_recall_agree_with_actionformer_on_real_thumos(peer_metrics, real_data):
    gt = thumos_csv_frame(real_data / "thumos14" / "test_Annotation.csv")
    classes = sorted(gt["label"].unique())
    thresholds = np.array([0.3, 0.4, 0.5, 0.6, 0.7])
    pred = random_predictions(gt, 4000, seed=11)

    expected_ap = np.zeros((len(thresholds), len(classes)))
    expected_recall = np.zeros((len(thresholds), 2, len(classes)))
    for c, name in enumerate(classes):
        class_gt = gt[gt["label"] == name].reset_index(drop=True)
        class_pred = pred[pred["label"] == name].reset_index(drop=True)
        expected_ap[:, c] = peer_metrics.compute_average_precision_detection(
            class_gt, class_pred, tiou_thresholds=thresholds
        )
        expected_recall[..., c] = peer_metrics.compute_topkx_recall_detection(
            class_gt, class_pred, tiou_thresholds=thresholds, top_k=(1, 5)
        )

    result = evaluate_detections(
        ground_truth_from_frame(gt, classes),
        detections_from_frame(pred, classes),
        classes,
        thresholds,
    )
    np.testing.assert_allclose(result.ap, expected_ap, rtol=0, atol=1e-9)
    np.testing.assert_allclose(result.recall_at_k, expected_recall, rtol=0, atol=1e-9)
