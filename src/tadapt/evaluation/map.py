"""Detection mAP with the ActivityNet protocol, vectorised.

Follows the official ActivityNet ``Evaluation/eval_detection.py`` (adapted, with the same
AP core, by ActionFormer ``libs/utils/metrics.py`` and OpenTAD
``opentad/evaluations/mAP.py``):

* per class and threshold, predictions are ranked by score and matched greedily: a
  prediction takes the unmatched ground truth of its video and class with the highest tIoU,
  provided ``tIoU >= threshold``; otherwise (or for a second detection of an already matched
  instance) it is a false positive;
* AP is the VOC all-points interpolated area under the precision/recall curve;
* mAP is the mean over the classes that have ground truth in the evaluated set (a class
  without predictions scores 0); average mAP is the mean over thresholds.

Deterministic ties (the official code's quicksort leaves them to chance): equal scores are
ranked in input order (videos in the order given, then detections within a video); equal
tIoU to two ground-truth instances goes to the one listed first.

Ground-truth clean-up (zero-length instances, same-label duplicates within 1e-3 s, the rule
ActionFormer and OpenTAD apply) is done once, on loading, by :func:`tadapt.io.load_annotations`,
which reports what it changed; this module evaluates the ground truth it is given as it is,
including instances that end after their video's duration (counted and logged, never clipped:
the public evaluators do not clip either). Blocked videos (ActivityNet's list, as OpenTAD
applies it) leave both the ground truth and the predictions.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from tadapt.evaluation.matching import FlatInstances, MatchPairs, candidate_pairs, greedy_match
from tadapt.evaluation.result import EvaluationResult
from tadapt.structures.tables import DetectionTable, GroundTruthTable

if TYPE_CHECKING:
    from tadapt.structures import Detections, GroundTruth

__all__ = ["AmbiguousPolicy", "evaluate_detections", "interpolated_average_precision"]

_logger = logging.getLogger(__name__)

AmbiguousPolicy = Literal["remove", "ignore_fp"]
"""``"remove"``: Ambiguous regions are simply not ground truth (ActionFormer, OpenTAD,
AdaTAD). ``"ignore_fp"``: also drop false positives that overlap an Ambiguous region, as
the THUMOS-14 MATLAB kit does."""


def interpolated_average_precision(
    precision: NDArray[np.float64], recall: NDArray[np.float64]
) -> NDArray[np.float64]:
    """VOC all-points interpolated AP of each row.

    Args:
        precision: ``(K, N)`` precision after each of ``N`` ranked predictions.
        recall: ``(K, N)`` recall after each prediction.

    Returns:
        ``(K,)`` AP, the area under the precision envelope at the points where recall rises.
    """
    num_rows = precision.shape[0]
    zeros = np.zeros((num_rows, 1))
    m_prec = np.hstack([zeros, precision, zeros])
    m_rec = np.hstack([zeros, recall, np.ones((num_rows, 1))])
    # make precision non-increasing from the right (the interpolation envelope)
    m_prec = np.flip(np.maximum.accumulate(np.flip(m_prec, axis=1), axis=1), axis=1)
    ap = np.zeros(num_rows)
    for k in range(num_rows):
        idx = np.flatnonzero(m_rec[k, 1:] != m_rec[k, :-1]) + 1
        ap[k] = np.sum((m_rec[k, idx] - m_rec[k, idx - 1]) * m_prec[k, idx])
    return ap


def evaluate_detections(
    ground_truth: GroundTruthTable | Mapping[str, GroundTruth] | Iterable[GroundTruth],
    detections: DetectionTable | Iterable[Detections],
    class_names: Sequence[str],
    tiou_thresholds: Sequence[float],
    *,
    top_k: Sequence[int] = (1, 5),
    ambiguous: AmbiguousPolicy = "remove",
    blocked_videos: Collection[str] = (),
) -> EvaluationResult:
    """Evaluate detections against ground truth with the ActivityNet protocol.

    Args:
        ground_truth: the evaluated split: a :class:`~tadapt.structures.GroundTruthTable`
            or one :class:`GroundTruth` per video (a video without instances still counts:
            predictions there are false positives).
        detections: predictions, a :class:`~tadapt.structures.DetectionTable` or any number
            of :class:`Detections` per video; segments in seconds; labels index
            ``class_names``.
        class_names: label index -> class name.
        tiou_thresholds: ``(K,)`` thresholds in ``(0, 1]``.
        top_k: the ``k`` of the top-``k``x recall.
        ambiguous: what to do with ``GroundTruth.ambiguous`` regions, see
            :data:`AmbiguousPolicy`.
        blocked_videos: video ids left out of the ground truth and the predictions (OpenTAD's
            ``blocked_videos``); an id also matches across the ``v_`` prefix.

    Returns:
        AP per class and threshold with the summaries.

    Raises:
        ValueError: bad thresholds, a label outside ``class_names``, a non-finite score or
            time, or a duplicate ground-truth video.
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64)
    if (
        thresholds.ndim != 1
        or thresholds.size == 0
        or not np.all((thresholds > 0) & (thresholds <= 1))
    ):
        raise ValueError(
            f"tIoU thresholds must be a non-empty list in (0, 1], got {list(tiou_thresholds)}"
        )
    if any(k < 1 for k in top_k):
        raise ValueError(f"top_k values must be >= 1, got {list(top_k)}")
    if ambiguous not in ("remove", "ignore_fp"):
        raise ValueError(f"ambiguous must be 'remove' or 'ignore_fp', got {ambiguous!r}")
    table = _as_ground_truth_table(ground_truth)
    dets = (
        detections
        if isinstance(detections, DetectionTable)
        else DetectionTable.from_detections(detections)
    )
    blocked = _with_prefix_variants(blocked_videos)
    num_blocked_videos = sum(v in blocked for v in table.video_ids)
    if num_blocked_videos:
        table = table.select(v for v in table.video_ids if v not in blocked)
    video_index: dict[str, int] = {}
    for vid in table.video_ids:
        if vid in video_index:
            raise ValueError(f"ground truth lists video {vid!r} twice")
        video_index[vid] = len(video_index)
    num_classes = len(class_names)

    _check_ground_truth(table, num_classes)
    gt_video, gt_label, gt_seg = table.video, table.labels, table.segments
    num_past_duration = _count_past_duration(table)
    if num_past_duration:
        _logger.warning(
            "%d ground-truth instances end after their video's duration; evaluated as given "
            "(as the ActivityNet, ActionFormer and OpenTAD evaluators do)",
            num_past_duration,
        )
    classes = np.unique(gt_label)  # evaluated classes: those with ground truth
    class_slot = np.full(num_classes, -1, dtype=np.int64)
    class_slot[classes] = np.arange(classes.size)
    num_videos = len(table.video_ids)
    # (class, video) groups, numbered densely; ground truth sorted by group
    gt_key = class_slot[gt_label] * num_videos + gt_video
    group_keys, gt_group = np.unique(gt_key, return_inverse=True)
    gt_order = np.argsort(gt_group, kind="stable")
    gts = FlatInstances(gt_group[gt_order], gt_seg[gt_order, 0], gt_seg[gt_order, 1])

    _check_detections(dets, num_classes)
    # each detection's ground-truth video (-1: not in the ground truth)
    det_video_map = np.array([video_index.get(v, -1) for v in dets.video_ids], dtype=np.int64)
    det_blocked = np.array([v in blocked for v in dets.video_ids], dtype=bool)
    keep_det = ~det_blocked[dets.video] if len(dets) else np.zeros(0, dtype=bool)
    num_blocked_predictions = int((~keep_det).sum())
    pred = _FlatPredictions(
        det_video_map[dets.video[keep_det]],
        dets.labels[keep_det],
        dets.segments[keep_det],
        dets.scores[keep_det],
    )
    pred_slot = class_slot[pred.label]
    known_class = pred_slot >= 0
    num_ignored = int((~known_class).sum())
    if num_ignored:
        _logger.warning("%d predictions of classes without ground truth were ignored", num_ignored)
    pred_slot, pred_video = pred_slot[known_class], pred.video[known_class]
    pred_seg, pred_score = pred.segments[known_class], pred.scores[known_class]
    num_unknown_video = int((pred_video < 0).sum())
    if num_unknown_video:
        _logger.warning(
            "%d predictions are in videos absent from the ground truth (false positives)",
            num_unknown_video,
        )

    # global rank: class, then score descending, then input order
    num_preds = pred_slot.shape[0]
    order = np.lexsort((np.arange(num_preds), -pred_score, pred_slot))
    pred_slot, pred_video, pred_seg, pred_score = (
        pred_slot[order],
        pred_video[order],
        pred_seg[order],
        pred_score[order],
    )
    pred_key = pred_slot * num_videos + pred_video
    if group_keys.size:
        pos = np.minimum(np.searchsorted(group_keys, pred_key), group_keys.size - 1)
        # video -1 must be tested: its key can collide with another class's last video
        pred_group = np.where((pred_video >= 0) & (group_keys[pos] == pred_key), pos, -1)
    else:
        pred_group = np.full(num_preds, -1, dtype=np.int64)
    preds = FlatInstances(pred_group, pred_seg[:, 0], pred_seg[:, 1])

    pairs = candidate_pairs(preds, gts, float(thresholds.min()))
    is_tp = greedy_match(pairs, gts.group, np.arange(num_preds), num_preds, len(gts), thresholds)
    is_fp = ~is_tp
    num_ambiguous_ignored = 0
    if ambiguous == "ignore_fp":
        on_ambiguous = _overlaps_ambiguous(table, pred_video, pred_seg)
        dropped = is_fp & on_ambiguous[None, :]
        num_ambiguous_ignored = int(dropped.sum())
        is_fp &= ~dropped

    num_gt = np.bincount(class_slot[gt_label], minlength=classes.size).astype(np.int64)
    num_pred = np.bincount(pred_slot, minlength=classes.size).astype(np.int64)
    ap = np.zeros((thresholds.size, classes.size))
    class_bounds = np.searchsorted(pred_slot, np.arange(classes.size + 1))
    for c in range(classes.size):
        lo, hi = class_bounds[c], class_bounds[c + 1]
        if hi == lo:
            _logger.warning("no predictions for class %r: AP = 0", class_names[classes[c]])
            continue
        tp_cum = np.cumsum(is_tp[:, lo:hi], axis=1, dtype=np.float64)
        fp_cum = np.cumsum(is_fp[:, lo:hi], axis=1, dtype=np.float64)
        denom = tp_cum + fp_cum
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(denom > 0, tp_cum / denom, 0.0)
        ap[:, c] = interpolated_average_precision(precision, tp_cum / num_gt[c])

    recall = _top_k_recall(pairs, preds, gts, pred_slot, thresholds, top_k, num_gt)
    return EvaluationResult(
        tiou_thresholds=tuple(float(t) for t in thresholds),
        class_names=tuple(class_names[c] for c in classes),
        ap=ap,
        recall_at_k=recall,
        top_k=tuple(top_k),
        num_gt=num_gt,
        num_pred=num_pred,
        num_ignored_predictions=num_ignored,
        num_unknown_video_predictions=num_unknown_video,
        num_ambiguous_ignored=num_ambiguous_ignored,
        num_past_duration=num_past_duration,
        num_blocked_videos=num_blocked_videos,
        num_blocked_predictions=num_blocked_predictions,
    )


@dataclass(frozen=True)
class _FlatPredictions:
    """Predictions of many videos as parallel arrays (video ``-1``: not in the ground truth)."""

    video: NDArray[np.int64]
    label: NDArray[np.int64]
    segments: NDArray[np.float64]
    scores: NDArray[np.float64]


def _as_ground_truth_table(
    ground_truth: GroundTruthTable | Mapping[str, GroundTruth] | Iterable[GroundTruth],
) -> GroundTruthTable:
    if isinstance(ground_truth, GroundTruthTable):
        return ground_truth
    videos = ground_truth.values() if isinstance(ground_truth, Mapping) else ground_truth
    return GroundTruthTable.from_ground_truth(videos)


def _check_ground_truth(table: GroundTruthTable, num_classes: int) -> None:
    label = table.labels
    if label.size and (label.min() < 0 or label.max() >= num_classes):
        bad = table.video_ids[int(table.video[(label < 0) | (label >= num_classes)][0])]
        raise ValueError(
            f"ground truth of video {bad!r} has a label outside the {num_classes} class names"
        )
    if not np.isfinite(table.segments).all():
        raise ValueError("ground truth contains non-finite segment times")


def _check_detections(table: DetectionTable, num_classes: int) -> None:
    label = table.labels
    if label.size and (label.min() < 0 or label.max() >= num_classes):
        bad_rows = (label < 0) | (label >= num_classes)
        bad = table.video_ids[int(table.video[bad_rows][0])]
        raise ValueError(
            f"detections of video {bad!r} have a label outside the {num_classes} class names "
            f"(got {int(label.min())}..{int(label.max())})"
        )
    finite = np.isfinite(table.segments).all(axis=1) & np.isfinite(table.scores)
    if not finite.all():
        bad = table.video_ids[int(table.video[~finite][0])]
        raise ValueError(f"detections of video {bad!r} contain NaN or inf")


def _with_prefix_variants(video_ids: Collection[str]) -> frozenset[str]:
    """``video_ids`` plus each id with the ``v_`` prefix added or removed.

    Official ActivityNet ids have no ``v_``; the BSN and OpenTAD files' ids have it.
    """
    ids = set(video_ids)
    return frozenset(ids | {v[2:] if v.startswith("v_") else f"v_{v}" for v in ids})


def _count_past_duration(table: GroundTruthTable) -> int:
    """Instances ending after their video's duration (videos without a duration: none)."""
    duration = np.array(
        [np.inf if d is None else d for d in table.durations], dtype=np.float64
    ).reshape(-1)
    return int((table.segments[:, 1] > duration[table.video]).sum()) if len(table) else 0


def _overlaps_ambiguous(
    table: GroundTruthTable, pred_video: NDArray[np.int64], pred_seg: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """``(N,)`` whether each prediction overlaps (positive intersection) an Ambiguous region."""
    hit = np.zeros(pred_video.shape[0], dtype=bool)
    for v in np.unique(table.ambiguous_video):
        rows = np.flatnonzero(pred_video == v)
        amb = table.ambiguous[table.ambiguous_video == v]
        inter = np.minimum(pred_seg[rows, 1:2], amb[None, :, 1]) - np.maximum(
            pred_seg[rows, 0:1], amb[None, :, 0]
        )
        hit[rows] = (inter > 0).any(axis=1)
    return hit


def _top_k_recall(
    pairs: MatchPairs,
    preds: FlatInstances,
    gts: FlatInstances,
    pred_slot: NDArray[np.int64],
    thresholds: NDArray[np.float64],
    top_k: Sequence[int],
    num_gt: NDArray[np.int64],
) -> NDArray[np.float64]:
    """``(K, len(top_k), C)`` recall of the ``k * #gt`` best predictions per (class, video)."""
    num_classes = num_gt.shape[0]
    recall = np.zeros((thresholds.size, len(top_k), num_classes))
    if pairs.pred.size == 0:
        return recall
    # rank of each prediction inside its group; predictions are already in score order
    by_group = np.argsort(preds.group, kind="stable")
    sorted_group = preds.group[by_group]
    first = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    run = np.diff(np.r_[first, sorted_group.shape[0]])
    rank = np.empty_like(by_group)
    rank[by_group] = np.arange(by_group.shape[0]) - np.repeat(first, run)
    gt_count = np.bincount(gts.group)
    pair_rank = rank[pairs.pred]
    pair_limit = gt_count[gts.group[pairs.gt]]
    gt_class = np.zeros(len(gts), dtype=np.int64)
    gt_class[pairs.gt] = pred_slot[pairs.pred]
    for j, k in enumerate(top_k):
        in_top = pair_rank < k * pair_limit
        for i, thr in enumerate(thresholds):
            covered = np.unique(pairs.gt[in_top & (pairs.tiou >= thr)])
            recall[i, j] = np.bincount(gt_class[covered], minlength=num_classes) / np.maximum(
                num_gt, 1
            )
    return recall
