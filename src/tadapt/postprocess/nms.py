"""Hard NMS, Soft-NMS and score voting for temporal segments, in plain torch.

Follows the semantics of the C++ ``nms_1d_cpu`` extension of ActionFormer
(Zhang et al., "ActionFormer: Localizing Moments of Actions with Transformers", ECCV 2022;
``libs/utils/nms.py`` and ``libs/utils/csrc/nms_cpu.cpp`` of happyharrycn/actionformer_release)
and OpenTAD (``opentad/models/utils/post_processing/nms/``), which AdaTAD (Liu et al., "End-to-End
Temporal Action Detection with 1B Parameters Across 1000 Frames", CVPR 2024) uses. Soft-NMS is
Bodla et al., "Soft-NMS -- Improving Object Detection With One Line of Code", ICCV 2017; score
voting is the box voting of Gidaris & Komodakis, "Object detection via a multi-region & semantic
segmentation-aware CNN model", ICCV 2015. No code is copied; no compiled extension is needed.

Deliberate differences from the C++ code (all documented where they apply):

* tIoU is exact (:func:`~tadapt.structures.pairwise_tiou`; a zero union gives 0) instead of
  adding ``1e-6`` to every length.
* Ties in score are broken by input order (the lower index wins), so results are deterministic;
  the C++ Soft-NMS breaks them by its internal swap order.
* A segment survives ``min_score`` when its score is ``>= min_score``, before NMS and after every
  Soft-NMS decay (ActionFormer's hard-NMS pre-filter keeps ``> min_score``); Soft-NMS applies it
  before the first pick too, so every output scores at least ``min_score``.
* Score voting also works with ``multiclass`` (voters of the same label); ActionFormer and
  OpenTAD silently skip voting in multi-class mode.

Score voting weights each voter by ``score x tIoU`` as ActionFormer's ``seg_voting`` does
(``voting_weights="score_tiou"``) or by its score alone as OpenTAD's does (``"score"``).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import Tensor

from tadapt.structures import Detections, Segments, pairwise_tiou

__all__ = ["NMSMethod", "VotingWeights", "batched_nms", "nms", "soft_nms"]

NMSMethod = Literal["hard", "linear", "gaussian"]
"""Overlap handling: ``"hard"`` suppresses, ``"linear"`` and ``"gaussian"`` decay scores."""

VotingWeights = Literal["score_tiou", "score"]
"""How score voting weights a voter: ``"score_tiou"``: its score times its tIoU with the kept
segment (ActionFormer ``libs/utils/nms.py``); ``"score"``: its score alone (OpenTAD
``opentad/models/utils/post_processing/nms/nms.py``)."""

_METHODS: tuple[str, ...] = get_args(NMSMethod)
_VOTING_WEIGHTS: tuple[str, ...] = get_args(VotingWeights)
# Rows of the voting tIoU matrix computed at once: bounds memory at _VOTING_CHUNK x N floats.
_VOTING_CHUNK = 512


def nms(
    segments: Segments,
    scores: Tensor,
    *,
    iou_threshold: float,
    labels: Tensor | None = None,
    max_picks: int | None = None,
) -> Tensor:
    """Greedy hard NMS: keep the best segment, drop those overlapping it, repeat.

    A remaining segment is dropped when its tIoU with a kept one is ``>= iou_threshold``. Scores
    may be any real numbers (e.g. logits); they are not changed.

    Args:
        segments: ``N`` candidate segments.
        scores: ``(N,)`` float scores, no NaN.
        iou_threshold: tIoU in ``(0, 1]`` from which on (inclusive) a segment is suppressed.
        labels: optional ``(N,)`` class indices; a segment then suppresses only segments of its
            own label (multi-class NMS in one pass).
        max_picks: stop after this many kept segments (the result is then the top
            ``max_picks`` of the full NMS output).

    Returns:
        ``(K,)`` int64 indices of the kept segments, by score descending; equal scores are
        ordered by index.
    """
    _check_inputs(segments, scores, labels)
    _check_iou_threshold(iou_threshold)
    _check_max("max_picks", max_picks)
    picked, _ = _greedy(
        segments,
        scores,
        labels,
        method=None,
        iou_threshold=iou_threshold,
        sigma=1.0,
        min_score=0.0,
        max_picks=max_picks,
    )
    return picked


def soft_nms(
    segments: Segments,
    scores: Tensor,
    *,
    method: NMSMethod = "gaussian",  # ActionFormer nms_method "soft" = C++ method 2 (gaussian)
    iou_threshold: float = 0.1,  # ActionFormer libs/core/config.py test_cfg default
    sigma: float = 0.5,  # ActionFormer nms_sigma default, kept by configs/thumos_i3d.yaml
    min_score: float = 1e-3,  # ActionFormer configs/thumos_i3d.yaml min_score
    labels: Tensor | None = None,
    max_picks: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Soft-NMS: pick the best segment, decay the scores of the rest by their overlap, repeat.

    Each remaining segment's score is multiplied by ``w(tIoU)`` with the segment just picked:

    * ``"linear"``: ``1 - tIoU`` if ``tIoU >= iou_threshold`` else ``1``;
    * ``"gaussian"``: ``exp(-tIoU^2 / sigma)`` (``iou_threshold`` unused);
    * ``"hard"``: ``0`` if ``tIoU >= iou_threshold`` else ``1`` (C++ method 0).

    Segments scoring below ``min_score`` (initially or after a decay) are discarded. Picks come
    out with non-increasing scores; at equal scores the lower input index is picked first.

    Args:
        segments: ``N`` candidate segments.
        scores: ``(N,)`` float scores, no NaN.
        method: the decay function.
        iou_threshold: tIoU in ``(0, 1]`` for the ``"linear"`` and ``"hard"`` decays.
        sigma: width of the gaussian decay, ``> 0``.
        min_score: discard threshold, ``>= 0``.
        labels: optional ``(N,)`` class indices; a pick then decays only segments of its own
            label (multi-class Soft-NMS in one pass).
        max_picks: stop after this many picks.

    Returns:
        ``(K,)`` int64 indices of the picked segments in picking order, and ``(K,)`` their
        decayed scores (dtype of ``scores``).
    """
    _check_inputs(segments, scores, labels)
    _check_method(method)
    _check_iou_threshold(iou_threshold)
    _check_soft_args(sigma, min_score)
    _check_max("max_picks", max_picks)
    return _greedy(
        segments,
        scores,
        labels,
        method=method,
        iou_threshold=iou_threshold,
        sigma=sigma,
        min_score=min_score,
        max_picks=max_picks,
    )


def batched_nms(
    detections: Detections,
    *,
    method: NMSMethod = "gaussian",  # ActionFormer nms_method "soft" = C++ method 2 (gaussian)
    iou_threshold: float = 0.1,  # ActionFormer libs/core/config.py test_cfg default
    sigma: float = 0.5,  # ActionFormer nms_sigma default, kept by configs/thumos_i3d.yaml
    min_score: float = 1e-3,  # ActionFormer configs/thumos_i3d.yaml min_score
    max_segments: int | None = 200,  # ActionFormer configs/thumos_i3d.yaml max_seg_num
    multiclass: bool = True,  # ActionFormer multiclass_nms default (THUMOS without ext. scores)
    voting_threshold: float | None = None,  # ActionFormer votes only class-agnostically
    voting_weights: VotingWeights = "score_tiou",  # ActionFormer seg_voting: score x tIoU
    pre_nms_topk: int | None = None,  # ActionFormer's 2000 is per pyramid level, in the decoder
) -> Detections:
    """Post-process one video's detections: filter, (Soft-)NMS, cap, and optional score voting.

    Steps, as ActionFormer's and OpenTAD's ``batched_nms``:

    1. keep the ``pre_nms_topk`` best candidates (all with ``None``): the voters; of them, those
       with ``score >= min_score`` enter NMS;
    2. run :func:`nms` (``method="hard"``, original scores kept) or :func:`soft_nms` (decayed
       scores), per label when ``multiclass`` else over all segments;
    3. merge, sort by score (ties: input order) and keep ``max_segments``;
    4. with ``voting_threshold``, replace each kept segment's boundaries by the weighted mean of
       the voters of step 1 (same label when ``multiclass``) whose tIoU with it is
       ``>= voting_threshold``, weighted as ``voting_weights`` says (see :func:`_vote`); scores
       are unchanged.

    Multi-class NMS runs in one greedy pass with label-masked tIoU, i.e. each segment is lifted
    to the 2-D box ``(start, label, end, label + 1)``: boxes of different labels never overlap
    and same-label box IoU is the tIoU. Unlike shifting segments by per-label time offsets this
    is exact in floating point, and unlike a loop over labels the global pick order already is
    the merged score order, so the pass can stop after ``max_segments`` picks.

    Args:
        detections: candidate detections of one video.
        method: ``"hard"`` NMS or a Soft-NMS decay (see :func:`soft_nms`).
        iou_threshold: tIoU in ``(0, 1]`` for ``"hard"`` and ``"linear"``.
        sigma: gaussian width, ``> 0``.
        min_score: score filter before NMS and Soft-NMS discard threshold, ``>= 0``.
        max_segments: keep at most this many detections; ``None`` keeps all.
        multiclass: suppress only within a label (``False``: across all labels).
        voting_threshold: tIoU in ``(0, 1]`` for score voting; ``None`` disables it (ActionFormer
            disables it with ``0`` and ignores it when ``multiclass``; here it applies per label).
        voting_weights: ``"score_tiou"`` (ActionFormer) or ``"score"`` (OpenTAD).
        pre_nms_topk: keep at most this many candidates (best scores) before NMS.

    Returns:
        The kept detections, by score descending (same video id, unit and dtypes).
    """
    _check_method(method)
    _check_iou_threshold(iou_threshold)
    _check_soft_args(sigma, min_score)
    _check_max("max_segments", max_segments)
    _check_max("pre_nms_topk", pre_nms_topk)
    if voting_threshold is not None and not 0.0 < voting_threshold <= 1.0:
        raise ValueError(
            f"voting_threshold must be in (0, 1] or None to disable voting, got {voting_threshold}"
        )
    if voting_weights not in _VOTING_WEIGHTS:
        raise ValueError(f"voting_weights must be one of {_VOTING_WEIGHTS}, got {voting_weights!r}")
    _check_inputs(detections.segments, detections.scores, detections.labels)

    # 1. top-k, then score filter; indices stay in input order so ties keep breaking by it
    voters = detections
    if pre_nms_topk is not None and len(detections) > pre_nms_topk:
        order = torch.sort(detections.scores, descending=True, stable=True).indices
        voters = detections[order[:pre_nms_topk].sort().values]
    cands = voters[torch.nonzero(voters.scores >= min_score).squeeze(1)]
    labels = cands.labels if multiclass else None

    # 2-3. the greedy pass emits picks in merged score order, so capping = stopping early
    if method == "hard":
        kept = nms(
            cands.segments,
            cands.scores,
            iou_threshold=iou_threshold,
            labels=labels,
            max_picks=max_segments,
        )
        kept_scores = cands.scores[kept]
    else:
        kept, kept_scores = soft_nms(
            cands.segments,
            cands.scores,
            method=method,
            iou_threshold=iou_threshold,
            sigma=sigma,
            min_score=min_score,
            labels=labels,
            max_picks=max_segments,
        )
    out = cands[kept]

    # 4. score voting by every candidate that entered step 1's score filter
    segments = out.segments
    if voting_threshold is not None and len(out) > 0:
        segments = _vote(
            out.segments,
            out.labels,
            voters,
            voting_threshold,
            weighting=voting_weights,
            multiclass=multiclass,
        )
    return Detections(out.video_id, segments, kept_scores, out.labels)


def _greedy(
    segments: Segments,
    scores: Tensor,
    labels: Tensor | None,
    *,
    method: NMSMethod | None,
    iou_threshold: float,
    sigma: float,
    min_score: float,
    max_picks: int | None,
) -> tuple[Tensor, Tensor]:
    """The shared greedy loop: ``method=None`` removes overlaps (hard NMS), else decays.

    ``priority`` holds, in input order, what ``argmax`` picks by: the current score for
    Soft-NMS, minus the rank of a stable score sort for hard NMS (so that ``-inf`` scores stay
    pickable); ``-inf`` marks picked and discarded segments. ``argmax`` returns the first
    maximum, so ties go to the lower input index.

    A pick changes only segments it intersects (tIoU 0 gives weight 1 for every method, and
    never exceeds a threshold >= 0), so each pick computes one vectorised tIoU row over the
    window of segments that may intersect it: those starting before its end, after the first
    start-sorted position whose running maximum end passes its start. This is exact, and costs
    O(window) instead of O(N) per pick.

    Returns:
        The picked input indices in picking order, and each one's priority when picked (the
        decayed score for Soft-NMS; meaningless for hard NMS, whose scores do not change).
    """
    device, n = scores.device, scores.shape[0]
    seg = segments.tensor
    if method is None:
        order = torch.sort(scores, descending=True, stable=True).indices
        priority = torch.empty(n, dtype=torch.float64, device=device)
        priority[order] = -torch.arange(n, dtype=torch.float64, device=device)
    else:
        # Soft-NMS discards low scores up front, so every output passes min_score
        priority = torch.where(scores >= min_score, scores, -math.inf)
    by_start = torch.sort(seg[:, 0], stable=True).indices  # (N,) input indices by start
    sorted_starts = seg[by_start, 0]
    reach = torch.cummax(seg[by_start, 1], dim=0).values  # (N,) running maximum end

    limit = n if max_picks is None else min(n, max_picks)
    picked = torch.empty(limit, dtype=torch.int64, device=device)
    picked_scores = torch.empty(limit, dtype=scores.dtype, device=device)
    count = 0
    while count < limit:
        j = int(torch.argmax(priority))
        if priority[j].item() == -math.inf:  # everything picked or discarded
            break
        picked[count], picked_scores[count] = j, priority[j]
        count += 1
        priority[j] = -math.inf
        lo = int(torch.searchsorted(reach, seg[j, :1], right=True))  # first reach > start_j
        hi = int(torch.searchsorted(sorted_starts, seg[j, 1:]))  # past the last start < end_j
        window = by_start[lo:hi]  # (W,) input indices
        if window.numel() == 0:
            continue
        # tIoU and thresholds in the segments' dtype, decayed scores in the scores' dtype
        iou = pairwise_tiou(Segments(seg[j : j + 1], segments.unit), segments[window])[0]
        if labels is not None:  # the 2-D box lift: other labels never overlap
            iou = torch.where(labels[window] == labels[j], iou, torch.zeros_like(iou))
        if method is None:
            priority[window] = torch.where(iou >= iou_threshold, -math.inf, priority[window])
        else:
            # -inf * 0 (a hard decay of a dead entry) is NaN, which fails >= and stays dead
            weights = _decay(iou, method, iou_threshold, sigma).to(priority.dtype)
            decayed = priority[window] * weights
            priority[window] = torch.where(decayed >= min_score, decayed, -math.inf)
    return picked[:count], picked_scores[:count]


def _decay(iou: Tensor, method: NMSMethod, iou_threshold: float, sigma: float) -> Tensor:
    """Soft-NMS score weights ``w(tIoU)`` for one row of tIoU values."""
    above = iou >= iou_threshold
    if method == "linear":
        return torch.where(above, 1.0 - iou, torch.ones_like(iou))
    if method == "gaussian":
        return torch.exp(-(iou * iou) / sigma)
    return torch.where(above, torch.zeros_like(iou), torch.ones_like(iou))


def _vote(
    kept: Segments,
    kept_labels: Tensor,
    voters: Detections,
    threshold: float,
    *,
    weighting: VotingWeights,
    multiclass: bool,
) -> Segments:
    """Score voting: refine each kept segment by its overlapping voters.

    As ActionFormer's and OpenTAD's ``seg_voting``, the voters are all candidates given to
    NMS, also those below ``min_score``, with their original, undecayed scores. A voter counts
    when its tIoU with the kept segment is ``>= threshold``, with weight ``score * tIoU``
    (``"score_tiou"``, ActionFormer) or ``score`` (``"score"``, OpenTAD); both compute an unused
    ``scores + 1.5``. A kept segment with no voter of positive weight (e.g. a zero-length
    segment, whose tIoU is 0 even with itself) keeps its boundaries instead of becoming NaN.
    """
    voter_segs = voters.segments.tensor
    dtype = torch.promote_types(voter_segs.dtype, voters.scores.dtype)
    scores = voters.scores.to(dtype)[None, :]  # (1, N)
    voted = []
    for start in range(0, len(kept), _VOTING_CHUNK):
        rows = slice(start, start + _VOTING_CHUNK)
        iou = pairwise_tiou(kept[rows], voters.segments).to(dtype)  # (K_chunk, N)
        mask = iou >= threshold
        if multiclass:
            mask &= kept_labels[rows][:, None] == voters.labels[None, :]
        weights = mask.to(dtype) * scores  # (K_chunk, N)
        if weighting == "score_tiou":
            weights = weights * iou
        total = weights.sum(dim=1, keepdim=True)  # (K_chunk, 1)
        mean = (weights @ voter_segs.to(dtype)) / torch.where(total > 0, total, 1.0)
        own = kept.tensor[rows].to(dtype)
        voted.append(torch.where(total > 0, mean, own))
    return Segments(torch.cat(voted).to(kept.tensor.dtype), kept.unit)


def _check_inputs(segments: Segments, scores: Tensor, labels: Tensor | None) -> None:
    n = len(segments)
    if scores.dim() != 1 or scores.shape[0] != n:
        raise ValueError(f"scores must have shape ({n},) to match the segments, got {scores.shape}")
    if not scores.is_floating_point():
        raise TypeError(f"scores must be a float tensor, got {scores.dtype}")
    if bool(torch.isnan(scores).any()):
        raise ValueError(f"scores contain NaN at indices {torch.isnan(scores).nonzero().tolist()}")
    if bool(torch.isnan(segments.tensor).any()):
        raise ValueError("segments contain NaN boundaries")
    if labels is not None and (labels.dim() != 1 or labels.shape[0] != n):
        raise ValueError(f"labels must have shape ({n},) to match the segments, got {labels.shape}")


def _check_method(method: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")


def _check_iou_threshold(value: float) -> None:
    # 0 is excluded: with the inclusive comparison it would suppress every segment
    if not 0.0 < value <= 1.0:
        raise ValueError(f"iou_threshold must be a tIoU in (0, 1], got {value}")


def _check_soft_args(sigma: float, min_score: float) -> None:
    if not sigma > 0.0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if not 0.0 <= min_score < float("inf"):
        raise ValueError(f"min_score must be finite and >= 0, got {min_score}")


def _check_max(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value}")
