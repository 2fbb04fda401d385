"""Vectorised greedy matching of predictions to ground truth (ActivityNet protocol).

The official ActivityNet ``compute_average_precision_detection`` walks every prediction in a
Python loop. The matching is only sequential *within* one (class, video) group: a prediction
can take a ground-truth instance only from its own group, and only instances already taken
by higher-scored predictions of that group are unavailable. So this module

1. enumerates, for every prediction, the ground-truth instances of its group whose tIoU
   reaches the lowest threshold (all other pairs can never match at any threshold),
2. walks the groups *in parallel*: step ``r`` handles the ``r``-th best-scored candidate of
   every group at once, for every threshold at once.

The number of Python steps is the largest number of candidates in one group (typically tens
to a few hundred), independent of the total number of predictions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["FlatInstances", "MatchPairs", "candidate_pairs", "greedy_match"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# Bounds the (predictions x ground truth) block enumerated at once in candidate_pairs.
_PAIR_CHUNK = 4_000_000


@dataclass(frozen=True)
class FlatInstances:
    """Segments of many videos flattened into parallel arrays.

    Attributes:
        group: ``(N,)`` id of the (class, video) group, ``-1`` when the group has no ground
            truth (then a prediction can never match).
        starts: ``(N,)`` segment starts in seconds.
        ends: ``(N,)`` segment ends in seconds.
    """

    group: IntArray
    starts: FloatArray
    ends: FloatArray

    def __len__(self) -> int:
        return int(self.group.shape[0])


@dataclass(frozen=True)
class MatchPairs:
    """Sparse (prediction, ground truth) pairs with tIoU at or above the lowest threshold.

    Attributes:
        pred: ``(P,)`` prediction indices.
        gt: ``(P,)`` ground-truth indices (same group as the prediction).
        tiou: ``(P,)`` temporal IoU of the pair.
    """

    pred: IntArray
    gt: IntArray
    tiou: FloatArray


def candidate_pairs(preds: FlatInstances, gts: FlatInstances, min_tiou: float) -> MatchPairs:
    """All same-group pairs whose tIoU is ``>= min_tiou``.

    Ground truth must be sorted by group (``gts.group`` non-decreasing, no ``-1``).
    tIoU is computed exactly as the ActivityNet code does, in float64 with no epsilon.
    """
    num_groups = int(gts.group.max()) + 1 if len(gts) else 0
    gt_count = np.bincount(gts.group, minlength=num_groups).astype(np.int64)
    gt_first = np.concatenate([[0], np.cumsum(gt_count)[:-1]]).astype(np.int64)

    pred_idx = np.flatnonzero(preds.group >= 0)
    per_pred = gt_count[preds.group[pred_idx]]
    out_pred: list[IntArray] = []
    out_gt: list[IntArray] = []
    out_tiou: list[FloatArray] = []
    # chunk the predictions so that the expanded pair block stays bounded in memory
    cum = np.cumsum(per_pred)
    total = int(cum[-1]) if cum.size else 0
    edges = np.unique(
        np.searchsorted(cum, np.arange(_PAIR_CHUNK, total, _PAIR_CHUNK), side="right")
    )
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, len(pred_idx)], strict=True):
        if hi <= lo:
            continue
        chunk = pred_idx[lo:hi]
        counts = per_pred[lo:hi]
        pair_pred = np.repeat(chunk, counts)
        # position of each pair inside its group: 0..count-1
        offsets = np.arange(pair_pred.shape[0]) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_gt = np.repeat(gt_first[preds.group[chunk]], counts) + offsets
        tiou = _tiou(
            preds.starts[pair_pred], preds.ends[pair_pred], gts.starts[pair_gt], gts.ends[pair_gt]
        )
        keep = tiou >= min_tiou
        out_pred.append(pair_pred[keep])
        out_gt.append(pair_gt[keep])
        out_tiou.append(tiou[keep])
    if not out_pred:
        empty_i = np.zeros(0, dtype=np.int64)
        return MatchPairs(empty_i, empty_i.copy(), np.zeros(0, dtype=np.float64))
    return MatchPairs(np.concatenate(out_pred), np.concatenate(out_gt), np.concatenate(out_tiou))


def _tiou(ps: FloatArray, pe: FloatArray, gs: FloatArray, ge: FloatArray) -> FloatArray:
    """Element-wise tIoU, the ActivityNet formula (``union = len_p + len_g - inter``)."""
    inter = np.clip(np.minimum(pe, ge) - np.maximum(ps, gs), 0.0, None)
    union = (pe - ps) + (ge - gs) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        tiou = inter / union
    return np.where(union > 0, tiou, 0.0)


def greedy_match(
    pairs: MatchPairs,
    gt_group: IntArray,
    pred_rank: IntArray,
    num_preds: int,
    num_gts: int,
    thresholds: FloatArray,
) -> BoolArray:
    """Greedy score-ordered matching at every threshold.

    Each prediction, in its group's score order, takes the unmatched ground truth with the
    highest tIoU among those with ``tIoU >= threshold``; that is what walking the ground
    truth in descending tIoU, skipping matched ones, does in the official code. Equal tIoU:
    the lower ground-truth index wins.

    Args:
        pairs: candidate pairs from :func:`candidate_pairs`.
        gt_group: ``(num_gts,)`` group id of each ground-truth instance.
        pred_rank: ``(num_preds,)`` rank of each prediction in the global score order
            (0 = highest); only the order within a group matters.
        num_preds: number of predictions.
        num_gts: number of ground-truth instances.
        thresholds: ``(K,)`` tIoU thresholds.

    Returns:
        ``(K, num_preds)`` true-positive flags.
    """
    num_thr = thresholds.shape[0]
    is_tp = np.zeros((num_thr, num_preds), dtype=bool)
    if pairs.pred.size == 0:
        return is_tp

    # Per candidate prediction, its pairs as a padded (P, Q) block, best tIoU first.
    order = np.lexsort((pairs.gt, -pairs.tiou, pred_rank[pairs.pred]))
    pair_pred, pair_gt, pair_tiou = pairs.pred[order], pairs.gt[order], pairs.tiou[order]
    starts = np.flatnonzero(np.r_[True, pair_pred[1:] != pair_pred[:-1]])
    cand_pred = pair_pred[starts]
    num_pairs = np.diff(np.r_[starts, pair_pred.shape[0]])
    width = int(num_pairs.max())
    slot = np.arange(pair_pred.shape[0]) - np.repeat(starts, num_pairs)
    row = np.repeat(np.arange(cand_pred.shape[0]), num_pairs)
    # padding points at an extra ground-truth slot that is always taken, with tIoU -1
    block_gt = np.full((cand_pred.shape[0], width), num_gts, dtype=np.int64)
    block_tiou = np.full((cand_pred.shape[0], width), -1.0)
    block_gt[row, slot] = pair_gt
    block_tiou[row, slot] = pair_tiou

    # Step index of each candidate: its position among the candidates of its group.
    # Candidates are sorted by global rank; a stable sort by group keeps that order inside.
    cand_group = gt_group[pair_gt[starts]]
    by_group = np.argsort(cand_group, kind="stable")
    group_sorted = cand_group[by_group]
    group_start = np.flatnonzero(np.r_[True, group_sorted[1:] != group_sorted[:-1]])
    group_len = np.diff(np.r_[group_start, group_sorted.shape[0]])
    step_of = np.empty_like(by_group)
    step_of[by_group] = np.arange(by_group.shape[0]) - np.repeat(group_start, group_len)
    step_order = np.argsort(step_of, kind="stable")
    step_bounds = np.searchsorted(step_of[step_order], np.arange(int(step_of.max()) + 2))

    taken = np.zeros((num_thr, num_gts + 1), dtype=bool)
    taken[:, num_gts] = True
    thr = thresholds[:, None, None]
    for step in range(step_bounds.shape[0] - 1):
        rows = step_order[step_bounds[step] : step_bounds[step + 1]]
        gt_idx = block_gt[rows]  # (R, Q)
        ok = (block_tiou[rows][None] >= thr) & ~taken[:, gt_idx]  # (K, R, Q)
        # slots are sorted by tIoU, so the first available slot is the best one
        has = ok.any(axis=2)
        first = ok.argmax(axis=2)  # (K, R)
        k_idx, r_idx = np.nonzero(has)
        taken[k_idx, gt_idx[r_idx, first[k_idx, r_idx]]] = True
        is_tp[k_idx, cand_pred[rows[r_idx]]] = True
    return is_tp
