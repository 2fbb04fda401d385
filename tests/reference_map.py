"""A straightforward, loop-based ActivityNet detection mAP: the test oracle and benchmark baseline.

Written directly from the protocol of the official ActivityNet kit (activitynet/ActivityNet,
``Evaluation/eval_detection.py``): pandas frames, one Python iteration per prediction, ground
truth walked in descending tIoU. Deliberately naive, so that the vectorised
``tadapt.evaluation`` can be checked against it. Ties are broken as tadapt documents them
(stable score order, first-listed ground truth), so that results are comparable exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def segment_tiou(seg: np.ndarray, others: np.ndarray) -> np.ndarray:
    """TIoU of one ``[s, e]`` segment against ``(M, 2)`` segments (ActivityNet formula)."""
    inter = np.clip(np.minimum(seg[1], others[:, 1]) - np.maximum(seg[0], others[:, 0]), 0, None)
    union = (seg[1] - seg[0]) + (others[:, 1] - others[:, 0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC all-points AP, written as the official loop."""
    mprec = np.hstack([[0.0], precision, [0.0]])
    mrec = np.hstack([[0.0], recall, [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def class_ap(gt: pd.DataFrame, pred: pd.DataFrame, thresholds: np.ndarray) -> np.ndarray:
    """AP of one class at each threshold; ``gt``/``pred`` hold only that class."""
    ap = np.zeros(len(thresholds))
    if pred.empty:
        return ap
    pred = pred.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    gt = gt.reset_index(drop=True)
    locked = np.full((len(thresholds), len(gt)), -1)
    tp = np.zeros((len(thresholds), len(pred)))
    fp = np.zeros((len(thresholds), len(pred)))
    gt_by_video = dict(list(gt.groupby("video-id")))
    for i, row in pred.iterrows():
        this_gt = gt_by_video.get(row["video-id"])
        if this_gt is None:
            fp[:, i] = 1
            continue
        tiou = segment_tiou(
            np.array([row["t-start"], row["t-end"]]), this_gt[["t-start", "t-end"]].to_numpy()
        )
        # descending tIoU, first-listed ground truth first on ties
        walk = np.argsort(-tiou, kind="stable")
        for k, thr in enumerate(thresholds):
            for j in walk:
                if tiou[j] < thr:
                    break
                gt_row = this_gt.index[j]
                if locked[k, gt_row] >= 0:
                    continue
                tp[k, i] = 1
                locked[k, gt_row] = i
                break
            if tp[k, i] == 0:
                fp[k, i] = 1
    tp_cum = np.cumsum(tp, axis=1)
    fp_cum = np.cumsum(fp, axis=1)
    recall = tp_cum / len(gt)
    precision = tp_cum / (tp_cum + fp_cum)
    for k in range(len(thresholds)):
        ap[k] = interpolated_ap(precision[k], recall[k])
    return ap


def reference_map(gt: pd.DataFrame, pred: pd.DataFrame, thresholds: np.ndarray) -> np.ndarray:
    """``(K, C)`` AP for every class present in ``gt`` (sorted label order).

    Frames have columns ``video-id, t-start, t-end, label`` (+ ``score`` for predictions).
    """
    labels = sorted(gt["label"].unique())
    pred_by_label = dict(list(pred.groupby("label")))
    ap = np.zeros((len(thresholds), len(labels)))
    for c, lab in enumerate(labels):
        empty = pred.iloc[0:0]
        ap[:, c] = class_ap(gt[gt["label"] == lab], pred_by_label.get(lab, empty), thresholds)
    return ap
