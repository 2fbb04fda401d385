"""From head outputs to detections in seconds: decoding, NMS, window merging, score fusion.

ActionFormer's inference (``PtTransformer.inference_single_video`` and ``postprocessing`` in
``libs/modeling/meta_archs.py``, ``libs/utils/nms.py``, ``libs/utils/postprocessing.py`` of
happyharrycn/actionformer_release) and OpenTAD's (``SingleStageDetector.post_processing`` in
``opentad/models/detectors/single_stage.py``, ``gather_ddp_results`` in
``opentad/cores/test_engine.py``, ``opentad/models/utils/post_processing/`` of
sming256/OpenTAD), written anew; where the two differ, :class:`PostProcessing` has an option:

1. :func:`decode_video`: keep the (point, class) scores above ``pre_nms_threshold``, then the
   ``pre_nms_topk`` best, per pyramid level (ActionFormer) or over the whole window (OpenTAD);
   turn each point's offsets into a segment ``[t - l s, t + r s]`` on the feature grid; drop
   segments not longer than ``duration_threshold`` grid steps (ActionFormer; OpenTAD keeps all).
2. The detector maps them to seconds with the sample's grid (``VideoBatch.grid_*_sec``).
3. :func:`postprocess_video`: optionally clip to ``[0, duration]`` and round (OpenTAD's sliding
   windows do both to each window's output), (Soft-)NMS with score voting once per video
   (:func:`tadapt.postprocess.batched_nms`), then clip (and round) the result.
   :func:`merge_windows` does the same for the pooled candidates of a video's sliding windows.
4. ActivityNet: a class-agnostic detector's proposals become class detections with an
   external video-level classifier (:func:`load_video_class_scores`,
   :func:`fuse_video_class_scores`); a multi-class detector needs no fusion.

NMS runs on segments in seconds instead of feature-grid units (tIoU, Soft-NMS decays and voting
are invariant to the affine map between them); clipping comes after NMS unless
``clip_before_nms``, as ActionFormer and OpenTAD's whole-video inference do.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor

from tadapt.detection.points import Points
from tadapt.io.text import utf8_required
from tadapt.postprocess import NMSMethod, VotingWeights, batched_nms
from tadapt.structures import Detections, Segments

__all__ = [
    "FusionMode",
    "PostProcessing",
    "PreNMSScope",
    "decode_video",
    "fuse_video_class_scores",
    "load_video_class_scores",
    "merge_windows",
    "postprocess_video",
]

FusionMode = Literal["multiply", "sqrt"]
"""``"multiply"``: ``proposal * class`` (OpenTAD ``CUHKANETClassifier``, AdaTAD);
``"sqrt"``: ``sqrt(proposal * class)`` (ActionFormer, OpenTAD ``StandardClassifier``)."""

PreNMSScope = Literal["level", "window"]
"""Where ``pre_nms_threshold`` and ``pre_nms_topk`` apply: to each pyramid level (ActionFormer
``inference_single_video``) or to all levels x classes of a window at once (OpenTAD
``SingleStageDetector.post_processing``)."""

_SCOPES: tuple[str, ...] = get_args(PreNMSScope)


@dataclass(frozen=True)
class PostProcessing:
    """How a detector turns scores and offsets into final detections.

    The defaults are ActionFormer's THUMOS-14 multi-class setting except for voting, which
    ActionFormer and OpenTAD silently skip in multi-class mode: to reproduce them, set
    ``voting_threshold=None`` whenever ``multiclass=True``. OpenTAD (AdaTAD) differs by
    ``pre_nms_scope="window"``, ``duration_threshold=None``, score-only voting and, on sliding
    windows, ``clip_before_nms`` with rounding to 2 / 4 decimals (see docs/training.md).

    Attributes:
        pre_nms_threshold: keep scores above this, per ``pre_nms_scope``.
        pre_nms_topk: then keep at most this many (point, class) pairs per ``pre_nms_scope``
            (``None``: all).
        pre_nms_scope: ``"level"`` (ActionFormer) or ``"window"`` (OpenTAD).
        duration_threshold: drop decoded segments not longer than this (feature-grid steps;
            ``None``: keep all, as OpenTAD).
        nms_method: ``"hard"`` NMS or the ``"linear"`` / ``"gaussian"`` Soft-NMS decay.
        iou_threshold: tIoU threshold of hard NMS and linear Soft-NMS.
        sigma: width of the gaussian Soft-NMS decay.
        min_score: drop detections scoring below this (before and during Soft-NMS).
        max_segments: keep at most this many detections per video (``None``: all).
        multiclass: suppress only within a class (``False``: across classes).
        voting_threshold: tIoU of score voting (boundary refinement); ``None`` disables it.
        voting_weights: voters weighted by ``"score_tiou"`` (ActionFormer) or ``"score"``
            (OpenTAD).
        clip_before_nms: clip candidates to ``[0, duration]`` before NMS too (OpenTAD clips each
            sliding window's output before the cross-window NMS).
        round_segments: round candidate boundaries (seconds) to this many decimals before NMS,
            and the final ones after it (``None``: full precision).
        round_scores: the same for scores.
    """

    pre_nms_threshold: float = 0.001  # ActionFormer test_cfg pre_nms_thresh
    pre_nms_topk: int | None = 2000  # ActionFormer configs/thumos_i3d.yaml pre_nms_topk
    pre_nms_scope: PreNMSScope = "level"  # ActionFormer inference_single_video
    duration_threshold: float | None = 0.05  # ActionFormer test_cfg duration_thresh
    nms_method: NMSMethod = "gaussian"  # ActionFormer nms_method "soft" (C++ method 2)
    iou_threshold: float = 0.1  # ActionFormer test_cfg iou_threshold
    sigma: float = 0.5  # ActionFormer test_cfg nms_sigma
    min_score: float = 0.001  # ActionFormer configs/thumos_i3d.yaml min_score
    max_segments: int | None = 200  # ActionFormer configs/thumos_i3d.yaml max_seg_num
    multiclass: bool = True  # ActionFormer multiclass_nms (THUMOS without external scores)
    voting_threshold: float | None = 0.7  # ActionFormer configs/thumos_i3d.yaml voting_thresh
    voting_weights: VotingWeights = "score_tiou"  # ActionFormer seg_voting
    clip_before_nms: bool = False  # ActionFormer clips after NMS only
    round_segments: int | None = None  # ActionFormer keeps full precision
    round_scores: int | None = None  # ActionFormer keeps full precision

    def __post_init__(self) -> None:
        if not 0.0 <= self.pre_nms_threshold < 1.0:
            raise ValueError(f"pre_nms_threshold must be in [0, 1), got {self.pre_nms_threshold}")
        if self.pre_nms_topk is not None and self.pre_nms_topk < 1:
            raise ValueError(f"pre_nms_topk must be >= 1 or None (all), got {self.pre_nms_topk}")
        if self.pre_nms_scope not in _SCOPES:
            raise ValueError(f"pre_nms_scope must be one of {_SCOPES}, got {self.pre_nms_scope!r}")
        if self.duration_threshold is not None and self.duration_threshold < 0:
            raise ValueError(
                "duration_threshold must be >= 0 or None (no filter), got "
                f"{self.duration_threshold}"
            )
        for name in ("round_segments", "round_scores"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be a number of decimals >= 0 or None, got {value}")
        # the NMS arguments are validated by batched_nms itself, on first use


def decode_video(
    points: Points,
    cls_logits: Tensor,
    offsets: Tensor,
    valid: Tensor,
    *,
    pre_nms_threshold: float = 0.001,  # ActionFormer test_cfg pre_nms_thresh
    pre_nms_topk: int | None = 2000,  # ActionFormer configs/thumos_i3d.yaml pre_nms_topk
    pre_nms_scope: PreNMSScope = "level",  # ActionFormer inference_single_video
    duration_threshold: float | None = 0.05,  # ActionFormer test_cfg duration_thresh
) -> tuple[Segments, Tensor, Tensor]:
    """Candidate detections of one video (or window) on the level-0 feature grid.

    Args:
        points: the ``P`` points of the pyramid.
        cls_logits: ``(P, K)`` classification logits.
        offsets: ``(P, 2)`` non-negative distances to start and end, in strides.
        valid: ``(P,)`` bool, points at valid positions.
        pre_nms_threshold: keep probabilities above this.
        pre_nms_topk: keep at most this many (point, class) pairs, best first (``None``: all).
        pre_nms_scope: apply both per pyramid level (``"level"``) or over all of them at once
            (``"window"``).
        duration_threshold: keep segments longer than this (feature-grid steps); ``None``
            keeps all.

    Returns:
        ``N`` segments (unit ``"idx"``, float32), ``(N,)`` float32 probabilities and ``(N,)``
        int64 labels by score descending (ties by position), level by level with ``"level"``.
    """
    if pre_nms_scope not in _SCOPES:
        raise ValueError(f"pre_nms_scope must be one of {_SCOPES}, got {pre_nms_scope!r}")
    probs = torch.sigmoid(cls_logits.float()) * valid[:, None]  # (P, K), 0 at padded points
    whole = (probs, offsets.float(), points.positions, points.strides)
    if pre_nms_scope == "window":
        groups = [whole]
    else:
        groups = list(zip(*(points.split(t) for t in whole), strict=True))
    segments, scores, labels = [], [], []
    for prob, off, pos, stride in groups:
        seg, score, label = _decode_group(
            prob, off, pos, stride, pre_nms_threshold, pre_nms_topk, duration_threshold
        )
        segments.append(seg)
        scores.append(score)
        labels.append(label)
    return Segments(torch.cat(segments), "idx"), torch.cat(scores), torch.cat(labels)


def _decode_group(
    prob: Tensor,
    offsets: Tensor,
    positions: Tensor,
    strides: Tensor,
    threshold: float,
    topk: int | None,
    duration_threshold: float | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Threshold, top-k and decode ``(P_g, K)`` probabilities of one group of points."""
    num_classes = prob.shape[-1]
    flat = prob.flatten()  # (P_g * K,) point-major
    keep = torch.nonzero(flat > threshold).squeeze(1)
    order = torch.sort(flat[keep], descending=True, stable=True).indices[:topk]
    keep = keep[order]
    point, label = keep // num_classes, keep % num_classes
    start = positions[point] - offsets[point, 0] * strides[point]
    end = positions[point] + offsets[point, 1] * strides[point]
    segments, scores = torch.stack((start, end), dim=-1), flat[keep]
    if duration_threshold is None:
        return segments, scores, label
    long_enough = (end - start) > duration_threshold
    return segments[long_enough], scores[long_enough], label[long_enough]


def postprocess_video(
    candidates: Detections, settings: PostProcessing, *, duration_sec: float | None = None
) -> Detections:
    """(Soft-)NMS over one video's candidates, then clip to ``[0, duration_sec]``.

    With ``settings.clip_before_nms`` the candidates are clipped before NMS too; with
    ``settings.round_segments`` / ``round_scores`` they are rounded before NMS and the result
    after clipping (OpenTAD's sliding-window inference, where every window's output is clipped
    and rounded before the cross-window NMS, and its result rounded again).

    Args:
        candidates: all candidate detections of one video, in seconds.
        settings: the NMS settings (the decoding fields are not used here).
        duration_sec: the video's duration; ``None`` clips at 0 only.
    """
    high = math.inf if duration_sec is None else duration_sec
    if settings.clip_before_nms:
        candidates = _clip(candidates, high)
    candidates = _round(candidates, settings)
    kept = batched_nms(
        candidates,
        method=settings.nms_method,
        iou_threshold=settings.iou_threshold,
        sigma=settings.sigma,
        min_score=settings.min_score,
        max_segments=settings.max_segments,
        multiclass=settings.multiclass,
        voting_threshold=settings.voting_threshold,
        voting_weights=settings.voting_weights,
    )
    return _round(_clip(kept, high), settings)


def _clip(detections: Detections, high: float) -> Detections:
    segments = detections.segments.clip(0.0, high)
    return Detections(detections.video_id, segments, detections.scores, detections.labels)


def _round(detections: Detections, settings: PostProcessing) -> Detections:
    """Round boundaries and scores to ``settings.round_segments`` / ``round_scores`` decimals."""
    segments, scores = detections.segments, detections.scores
    if settings.round_segments is not None:
        segments = Segments(segments.tensor.round(decimals=settings.round_segments), segments.unit)
    if settings.round_scores is not None:
        scores = scores.round(decimals=settings.round_scores)
    return Detections(detections.video_id, segments, scores, detections.labels)


def merge_windows(
    windows: Sequence[Detections], settings: PostProcessing, *, duration_sec: float | None = None
) -> Detections:
    """Pool the un-suppressed candidates of one video's sliding windows and post-process once.

    Args:
        windows: per window, its candidates in seconds on the video's timeline (as
            ``TemporalDetector.predict(batch, nms=False)`` returns them).
        settings: NMS settings.
        duration_sec: the video's duration, to clip to.

    Raises:
        ValueError: no windows, or windows of different videos.
    """
    if not windows:
        raise ValueError("merge_windows needs the detections of at least one window")
    video_ids = {w.video_id for w in windows}
    if len(video_ids) != 1:
        raise ValueError(f"merge_windows merges one video at a time, got {sorted(video_ids)}")
    pooled = Detections(
        windows[0].video_id,
        Segments.cat([w.segments for w in windows]),
        torch.cat([w.scores for w in windows]),
        torch.cat([w.labels for w in windows]),
    )
    return postprocess_video(pooled, settings, duration_sec=duration_sec)


def load_video_class_scores(
    path: str | os.PathLike[str], class_names: Sequence[str]
) -> dict[str, Tensor]:
    """Read video-level class scores (CUHK / OpenTAD classifier JSON).

    The file is ``{"results": {video_id: [score per class]}, "class": [class names]}``
    (``"classes"`` is accepted too). With a class list, scores are reordered to follow
    ``class_names``; without one, they must already be in that order. Video ids lose a ``v_``
    prefix, matching :func:`tadapt.io.load_annotations`.

    Args:
        path: the JSON file (e.g. ``cuhk_val_simp_7.json``).
        class_names: the dataset's classes, in label order.

    Returns:
        video id -> ``(K,)`` float64 scores in ``class_names`` order.

    Raises:
        ValueError: unreadable JSON, missing ``results``, a class list that differs from
            ``class_names``, a score list of the wrong length, or an id given twice.
    """
    path = Path(path)
    try:
        with utf8_required(path):
            data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ValueError(f"{path}: expected an object with a 'results' mapping video -> scores")
    file_classes = data.get("class", data.get("classes"))
    if file_classes is None:
        order = torch.arange(len(class_names))
    else:
        if not isinstance(file_classes, list) or not all(isinstance(c, str) for c in file_classes):
            raise ValueError(f"{path}: field 'class' must be a list of class names")
        missing = sorted(set(class_names) - set(file_classes))
        extra = sorted(set(file_classes) - set(class_names))
        if missing or extra or len(file_classes) != len(class_names):
            raise ValueError(
                f"{path}: field 'class' does not list the dataset's {len(class_names)} classes "
                f"(missing {missing[:5]}, unknown {extra[:5]}); pass the matching class names"
            )
        position = {name: i for i, name in enumerate(file_classes)}
        order = torch.tensor([position[name] for name in class_names])
    scores: dict[str, Tensor] = {}
    for raw_id, values in data["results"].items():
        video_id = raw_id[2:] if raw_id.startswith("v_") else raw_id
        if video_id in scores:
            raise ValueError(f"{path}: video {video_id!r} appears with and without 'v_' prefix")
        row = torch.as_tensor(values, dtype=torch.float64).flatten()
        if row.shape[0] != len(class_names):
            raise ValueError(
                f"{path}: results[{raw_id!r}] has {row.shape[0]} scores, expected "
                f"{len(class_names)} (one per class)"
            )
        scores[video_id] = row[order]
    return scores


def fuse_video_class_scores(
    proposals: Detections,
    class_scores: Tensor,
    *,
    top_k: int = 2,  # AdaTAD ANet configs: CUHKANETClassifier topk=2; ActionFormer topk=2
    mode: FusionMode = "multiply",  # AdaTAD (CUHKANETClassifier); ActionFormer uses "sqrt"
) -> Detections:
    """Turn class-agnostic proposals into class detections with video-level class scores.

    Every proposal is repeated for each of the video's ``top_k`` best classes, with score
    ``p * c`` (``"multiply"``) or ``sqrt(p * c)`` (``"sqrt"``); the proposals' own labels are
    ignored.

    Args:
        proposals: one video's post-processed class-agnostic detections.
        class_scores: ``(K,)`` the video's class scores.
        top_k: number of classes per proposal (at most ``K``).
        mode: how proposal and class scores combine.

    Returns:
        ``top_k * N`` detections, by score descending (ties: class rank, then proposal order).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if mode not in ("multiply", "sqrt"):
        raise ValueError(f"mode must be 'multiply' or 'sqrt', got {mode!r}")
    if class_scores.dim() != 1:
        raise ValueError(f"class_scores must be (K,), got {tuple(class_scores.shape)}")
    k = min(top_k, class_scores.shape[0])
    top = torch.sort(class_scores, descending=True, stable=True)
    cls_score, cls_index = top.values[:k], top.indices[:k]  # (k,)
    n = len(proposals)
    fused = cls_score[:, None].to(proposals.scores.dtype) * proposals.scores[None, :]  # (k, N)
    if mode == "sqrt":
        fused = fused.clamp(min=0).sqrt()
    labels = cls_index[:, None].expand(k, n).reshape(-1).to(torch.int64)
    segments = Segments(proposals.segments.tensor.repeat(k, 1), proposals.segments.unit)
    return Detections(proposals.video_id, segments, fused.reshape(-1), labels).sorted_by_score()
