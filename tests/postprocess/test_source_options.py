"""The post-processing options where ActionFormer and OpenTAD differ, on hand-made cases.

Each case has a known answer that changes when the option is switched, so a regression in
either setting fails here.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from tadapt.detection import PointGenerator, PostProcessing, decode_video, merge_windows
from tadapt.detection.inference import postprocess_video
from tadapt.postprocess import batched_nms
from tadapt.structures import Detections, Segments

NEG = -20.0  # sigmoid(-20) ~ 2e-9: below any threshold used here


def dets(segs, scores, labels=None) -> Detections:
    n = len(scores)
    return Detections(
        "v",
        Segments(torch.tensor(segs, dtype=torch.float64).reshape(-1, 2), "sec"),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(labels if labels is not None else [0] * n),
    )


# ---------------------------------------------------------------------------------------------
# pre-NMS threshold and top-k: per level (ActionFormer) or per window (OpenTAD)
# ---------------------------------------------------------------------------------------------


def three_candidates():
    """Level 0 (stride 1): t=0 logit 2 and t=1 logit 1; level 1 (stride 2): t=0 logit 3."""
    points = PointGenerator([1, 2], [(0, 4), (4, math.inf)])([2, 1])
    logits = torch.full((3, 1), NEG)
    logits[0, 0], logits[1, 0], logits[2, 0] = 2.0, 1.0, 3.0
    offsets = torch.ones(3, 2)  # [t - s, t + s]
    return points, logits, offsets, torch.ones(3, dtype=torch.bool)


def test_pre_nms_topk_per_level_keeps_the_best_of_each_level() -> None:
    segs, scores, _ = decode_video(*three_candidates(), pre_nms_topk=1, pre_nms_scope="level")
    assert segs.tensor.tolist() == [[-1.0, 1.0], [-2.0, 2.0]]  # level 0's best, then level 1's
    torch.testing.assert_close(scores, torch.sigmoid(torch.tensor([2.0, 3.0])))


def test_pre_nms_topk_per_window_keeps_the_best_over_all_levels() -> None:
    segs, scores, _ = decode_video(*three_candidates(), pre_nms_topk=1, pre_nms_scope="window")
    assert segs.tensor.tolist() == [[-2.0, 2.0]]
    segs, scores, _ = decode_video(*three_candidates(), pre_nms_topk=2, pre_nms_scope="window")
    assert segs.tensor.tolist() == [[-2.0, 2.0], [-1.0, 1.0]]  # by score, across levels
    torch.testing.assert_close(scores, torch.sigmoid(torch.tensor([3.0, 2.0])))
    # no limit, and a threshold applied to the whole window
    segs, _, _ = decode_video(*three_candidates(), pre_nms_topk=None, pre_nms_scope="window")
    assert len(segs) == 3
    segs, _, _ = decode_video(*three_candidates(), pre_nms_threshold=0.85, pre_nms_scope="window")
    assert segs.tensor.tolist() == [[-2.0, 2.0], [-1.0, 1.0]]  # sigmoid(1) = 0.73 is dropped


# ---------------------------------------------------------------------------------------------
# Short-segment filter: ActionFormer's duration_thresh, none in OpenTAD
# ---------------------------------------------------------------------------------------------


def test_duration_filter_is_optional() -> None:
    points = PointGenerator([1], [(0, math.inf)])([3])
    logits = torch.tensor([[2.0], [1.0], [NEG]])
    offsets = torch.tensor([[0.0, 0.0], [0.02, 0.02], [1.0, 1.0]])  # lengths 0 and 0.04
    valid = torch.ones(3, dtype=torch.bool)
    segs, _, _ = decode_video(points, logits, offsets, valid, duration_threshold=0.05)
    assert len(segs) == 0
    segs, _, _ = decode_video(points, logits, offsets, valid, duration_threshold=0.0)
    torch.testing.assert_close(segs.tensor, torch.tensor([[0.98, 1.02]]))  # not the 0-length
    segs, _, _ = decode_video(points, logits, offsets, valid, duration_threshold=None)
    torch.testing.assert_close(segs.tensor, torch.tensor([[0.0, 0.0], [0.98, 1.02]]))


# ---------------------------------------------------------------------------------------------
# Soft-NMS minimum score: ActionFormer 0.001, OpenTAD THUMOS 0
# ---------------------------------------------------------------------------------------------


def test_soft_nms_min_score_zero_keeps_every_decayed_candidate() -> None:
    # tIoU 1: the second decays to 0.002 * exp(-1 / 0.7) = 0.00048
    candidates = dets([[0.0, 10.0], [0.0, 10.0]], [0.9, 0.002])
    kept = batched_nms(candidates, sigma=0.7, min_score=0.001)
    assert kept.scores.tolist() == [0.9]
    kept = batched_nms(candidates, sigma=0.7, min_score=0.0)
    torch.testing.assert_close(
        kept.scores, torch.tensor([0.9, 0.002 * math.exp(-1 / 0.7)], dtype=torch.float64)
    )


# ---------------------------------------------------------------------------------------------
# Score voting: score x tIoU (ActionFormer) or score (OpenTAD), voters below min_score included
# ---------------------------------------------------------------------------------------------

# tIoU with [0, 10]: 9/11 and 0.8
VOTING_SEGS = [[0.0, 10.0], [1.0, 11.0], [0.0, 8.0], [20.0, 30.0]]
VOTING_SCORES = [0.6, 0.3, 0.1, 0.5]


@pytest.mark.parametrize("weighting", ["score_tiou", "score"])
def test_voting_weights(weighting: str) -> None:
    out = batched_nms(
        dets(VOTING_SEGS, VOTING_SCORES),
        method="hard",
        iou_threshold=0.9,
        multiclass=False,
        voting_threshold=0.7,
        voting_weights=weighting,  # type: ignore[arg-type]
    )
    w = [0.6, 0.3, 0.1]
    if weighting == "score_tiou":
        w = [0.6 * 1.0, 0.3 * 9 / 11, 0.1 * 0.8]
    start = (w[0] * 0.0 + w[1] * 1.0 + w[2] * 0.0) / sum(w)
    end = (w[0] * 10.0 + w[1] * 11.0 + w[2] * 8.0) / sum(w)
    torch.testing.assert_close(out.segments.tensor[0], torch.tensor([start, end]).double())
    assert out.scores.tolist() == [0.6, 0.5, 0.3, 0.1]  # voting leaves scores alone


def test_voters_include_candidates_below_min_score() -> None:
    # as the sources' seg_voting, which gets every segment given to batched_nms
    out = batched_nms(
        dets([[0.0, 10.0], [0.0, 8.0]], [0.6, 0.0005]),  # tIoU 0.8
        min_score=0.001,
        multiclass=False,
        voting_threshold=0.7,
        voting_weights="score",
    )
    assert out.scores.tolist() == [0.6]
    expected_end = (0.6 * 10.0 + 0.0005 * 8.0) / 0.6005
    torch.testing.assert_close(out.segments.tensor, torch.tensor([[0.0, expected_end]]).double())


# ---------------------------------------------------------------------------------------------
# OpenTAD's sliding windows: each window clipped and rounded before the cross-window NMS
# ---------------------------------------------------------------------------------------------


def test_clip_before_nms_changes_the_overlap() -> None:
    # unclipped tIoU([8, 12], [6, 10]) = 2 / 6; clipped to the 10 s video: 2 / 4
    candidates = dets([[8.0, 12.0], [6.0, 10.0]], [0.9, 0.8])
    after = PostProcessing(nms_method="hard", iou_threshold=0.4, voting_threshold=None)
    out = postprocess_video(candidates, after, duration_sec=10.0)
    assert out.segments.tensor.tolist() == [[8.0, 10.0], [6.0, 10.0]]
    before = PostProcessing(
        nms_method="hard", iou_threshold=0.4, voting_threshold=None, clip_before_nms=True
    )
    out = postprocess_video(candidates, before, duration_sec=10.0)
    assert out.segments.tensor.tolist() == [[8.0, 10.0]]


def test_rounding_before_nms_and_of_the_result() -> None:
    # tIoU 10 / 10.4: one suppresses the other. Exact, the second window's 0.50004 wins;
    # rounded, both score 0.5 and the tie goes to the first window's candidate
    windows = [dets([[0.0, 10.0]], [0.50001]), dets([[0.0, 10.4]], [0.50004])]
    exact = PostProcessing(nms_method="hard", iou_threshold=0.5, voting_threshold=None)
    out = merge_windows(windows, exact, duration_sec=20.0)
    assert out.segments.tensor.tolist() == [[0.0, 10.4]]
    assert out.scores.tolist() == [0.50004]
    rounded = PostProcessing(
        nms_method="hard",
        iou_threshold=0.5,
        voting_threshold=None,
        round_segments=2,
        round_scores=4,
    )
    out = merge_windows(windows, rounded, duration_sec=20.0)
    assert out.segments.tensor.tolist() == [[0.0, 10.0]]
    assert out.scores.tolist() == [0.5]
    # Soft-NMS decays are rounded after NMS: 0.8 * exp(-0.5^2 / 0.7) = 0.559742...
    soft = PostProcessing(sigma=0.7, voting_threshold=None, round_segments=2, round_scores=4)
    out = postprocess_video(dets([[0.0, 10.0], [0.0, 5.0]], [0.9, 0.8]), soft)
    assert out.scores.tolist() == [0.9, 0.5597]
    assert out.segments.tensor.tolist() == [[0.0, 10.0], [0.0, 5.0]]


def test_the_result_is_rounded_after_the_final_clip() -> None:
    # an end past the 12.3456 s video: clipped, then rounded, as OpenTAD writes it
    settings = PostProcessing(
        voting_threshold=None, clip_before_nms=True, round_segments=2, round_scores=4
    )
    out = postprocess_video(dets([[1.234, 14.0]], [0.5]), settings, duration_sec=12.3456)
    assert out.segments.tensor.tolist() == [[1.23, 12.35]]


# ---------------------------------------------------------------------------------------------
# Invalid values are reported by name
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pre_nms_scope": "video"}, "pre_nms_scope"),
        ({"pre_nms_topk": 0}, "pre_nms_topk"),
        ({"duration_threshold": -1.0}, "duration_threshold"),
        ({"round_segments": -1}, "round_segments"),
        ({"round_scores": -2}, "round_scores"),
    ],
)
def test_invalid_settings_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        PostProcessing(**kwargs)  # type: ignore[arg-type]


def test_invalid_voting_weights_are_named() -> None:
    with pytest.raises(ValueError, match="voting_weights"):
        batched_nms(dets([[0.0, 1.0]], [0.5]), voting_weights="tiou")  # type: ignore[arg-type]
