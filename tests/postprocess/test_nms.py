"""Tests for tadapt.postprocess.nms against a brute-force pure-Python reference."""

from __future__ import annotations

import math
import random
import re
import time

import pytest
import torch

from tadapt.postprocess import batched_nms, nms, soft_nms
from tadapt.structures import Detections, Segments

# ---------------------------------------------------------------------------------------------
# Brute-force reference: plain lists and loops, written from the documented semantics.
# ---------------------------------------------------------------------------------------------


def ref_tiou(a: list[float], b: list[float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def ref_hard(segs, scores, thr):
    """Indices kept by hard NMS, best first; equal scores by index."""
    order = sorted(range(len(segs)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(ref_tiou(segs[i], segs[k]) < thr for k in kept):
            kept.append(i)
    return kept


def ref_soft(segs, scores, method, thr, sigma, min_score):
    """(index, decayed score) pairs in picking order."""
    current = {i: s for i, s in enumerate(scores) if s >= min_score}
    out = []
    while current:
        best = min(current, key=lambda i: (-current[i], i))
        out.append((best, current.pop(best)))
        for i in list(current):
            iou = ref_tiou(segs[best], segs[i])
            if method == "linear":
                w = 1.0 - iou if iou >= thr else 1.0
            elif method == "gaussian":
                w = math.exp(-(iou * iou) / sigma)
            else:
                w = 0.0 if iou >= thr else 1.0
            current[i] = current[i] * w
            if current[i] < min_score:
                del current[i]
    return out


def ref_batched(segs, scores, labels, *, method, thr, sigma, min_score, max_segments,
                multiclass, voting, weights, topk):  # fmt: skip
    """Lists (segments, scores, labels) after top-k, filter, per-class NMS, merge, cap, voting.

    Voters: every candidate after the top-k, also those below min_score (as the sources'
    seg_voting, which gets all segments given to batched_nms).
    """
    voters = list(range(len(segs)))
    if topk is not None:
        voters = sorted(sorted(voters, key=lambda i: (-scores[i], i))[:topk])
    cands = [i for i in voters if scores[i] >= min_score]
    groups = sorted({labels[i] for i in cands}) if multiclass else [None]
    results = []  # (score, input index)
    for g in groups:
        idx = [i for i in cands if g is None or labels[i] == g]
        sub_segs, sub_scores = [segs[i] for i in idx], [scores[i] for i in idx]
        if method == "hard":
            results += [(sub_scores[k], idx[k]) for k in ref_hard(sub_segs, sub_scores, thr)]
        else:
            picks = ref_soft(sub_segs, sub_scores, method, thr, sigma, min_score)
            results += [(s, idx[k]) for k, s in picks]
    results.sort(key=lambda r: (-r[0], r[1]))
    if max_segments is not None:
        results = results[:max_segments]
    out_segs = []
    for _, i in results:
        seg = list(segs[i])
        if voting is not None:
            wsum, start, end = 0.0, 0.0, 0.0
            for c in voters:
                if multiclass and labels[c] != labels[i]:
                    continue
                iou = ref_tiou(segs[i], segs[c])
                if iou >= voting:
                    w = scores[c] * (iou if weights == "score_tiou" else 1.0)
                    wsum += w
                    start += w * segs[c][0]
                    end += w * segs[c][1]
            if wsum > 0:
                seg = [start / wsum, end / wsum]
        out_segs.append(seg)
    return out_segs, [r[0] for r in results], [labels[i] for _, i in results]


# ---------------------------------------------------------------------------------------------
# Random inputs: uniform and clustered segments, zero-length and duplicated ones, tied scores.
# ---------------------------------------------------------------------------------------------


def random_case(seed: int, n: int | None = None, num_classes: int = 3):
    rng = random.Random(seed)
    n = rng.randint(0, 60) if n is None else n
    centers = [rng.uniform(0, 100) for _ in range(rng.randint(1, 5))]
    segs: list[list[float]] = []
    for _ in range(n):
        kind = rng.random()
        if segs and kind < 0.08:
            segs.append(list(rng.choice(segs)))  # exact duplicate
            continue
        length = 0.0 if kind < 0.15 else rng.uniform(0.5, 20)
        # most segments cluster around a few action centres, the rest spread uniformly
        center = rng.choice(centers) + rng.gauss(0, 3) if kind < 0.7 else rng.uniform(0, 100)
        segs.append([center - length / 2, center + length / 2])
    if rng.random() < 0.5:
        scores = [round(rng.random(), 1) for _ in range(n)]  # many exact ties
    else:
        scores = [rng.random() for _ in range(n)]
    labels = [rng.randrange(num_classes) for _ in range(n)]
    return segs, scores, labels


def as_tensors(segs, scores, labels):
    return (
        Segments(torch.tensor(segs, dtype=torch.float64).reshape(-1, 2)),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(labels, dtype=torch.int64),
    )


SEEDS = range(40)
METHODS = ["hard", "linear", "gaussian"]


# ---------------------------------------------------------------------------------------------
# Comparison with the reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("thr", [0.05, 0.3, 0.7])
def test_nms_matches_reference(seed: int, thr: float) -> None:
    segs, scores, _ = random_case(seed)
    segments, score_t, _ = as_tensors(segs, scores, [0] * len(scores))
    assert nms(segments, score_t, iou_threshold=thr).tolist() == ref_hard(segs, scores, thr)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS)
def test_soft_nms_matches_reference(seed: int, method: str) -> None:
    segs, scores, _ = random_case(seed)
    rng = random.Random(seed)
    thr, sigma, min_score = rng.uniform(0.01, 0.6), rng.uniform(0.1, 1.0), rng.choice([0.0, 0.05])
    segments, score_t, _ = as_tensors(segs, scores, [0] * len(scores))
    idx, decayed = soft_nms(
        segments, score_t, method=method, iou_threshold=thr, sigma=sigma, min_score=min_score
    )
    expected = ref_soft(segs, scores, method, thr, sigma, min_score)
    assert idx.tolist() == [i for i, _ in expected]
    torch.testing.assert_close(decayed, torch.tensor([s for _, s in expected], dtype=torch.float64))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("multiclass", [True, False])
def test_batched_nms_matches_reference(seed: int, method: str, multiclass: bool) -> None:
    segs, scores, labels = random_case(seed)
    rng = random.Random(1000 + seed)
    kwargs = {
        "thr": rng.uniform(0.01, 0.6),
        "sigma": rng.uniform(0.1, 1.0),
        "min_score": rng.choice([0.0, 0.001, 0.2]),
        "max_segments": rng.choice([None, 1, 5, 20]),
        "voting": rng.choice([None, 0.5, 0.75, 1.0]),
        "weights": rng.choice(["score_tiou", "score"]),
        "topk": rng.choice([None, 10, 30]),
    }
    segments, score_t, label_t = as_tensors(segs, scores, labels)
    out = batched_nms(
        Detections("v", segments, score_t, label_t),
        method=method,  # type: ignore[arg-type]
        iou_threshold=kwargs["thr"],
        sigma=kwargs["sigma"],
        min_score=kwargs["min_score"],
        max_segments=kwargs["max_segments"],
        multiclass=multiclass,
        voting_threshold=kwargs["voting"],
        voting_weights=kwargs["weights"],  # type: ignore[arg-type]
        pre_nms_topk=kwargs["topk"],
    )
    exp_segs, exp_scores, exp_labels = ref_batched(
        segs, scores, labels, method=method, multiclass=multiclass, **kwargs
    )
    assert out.video_id == "v"
    assert out.labels.tolist() == exp_labels
    torch.testing.assert_close(out.scores, torch.tensor(exp_scores, dtype=torch.float64))
    torch.testing.assert_close(
        out.segments.tensor, torch.tensor(exp_segs, dtype=torch.float64).reshape(-1, 2)
    )
    assert not torch.isnan(out.segments.tensor).any()


@pytest.mark.parametrize("seed", range(10))
def test_labels_restrict_suppression_to_one_class(seed: int) -> None:
    segs, scores, labels = random_case(seed, n=40)
    segments, score_t, label_t = as_tensors(segs, scores, labels)
    kept = nms(segments, score_t, iou_threshold=0.2, labels=label_t)
    expected = []
    for c in sorted(set(labels)):
        idx = [i for i in range(len(segs)) if labels[i] == c]
        expected += [
            idx[k] for k in ref_hard([segs[i] for i in idx], [scores[i] for i in idx], 0.2)
        ]
    assert kept.tolist() == sorted(expected, key=lambda i: (-scores[i], i))


def test_max_picks_is_a_prefix_of_the_full_result() -> None:
    segments, scores, labels = as_tensors(*random_case(7, n=50))
    full_idx, full_scores = soft_nms(segments, scores, labels=labels, min_score=0.0)
    idx, top = soft_nms(segments, scores, labels=labels, min_score=0.0, max_picks=7)
    assert idx.tolist() == full_idx[:7].tolist()
    torch.testing.assert_close(top, full_scores[:7])


# ---------------------------------------------------------------------------------------------
# Hand-computed cases and boundaries
# ---------------------------------------------------------------------------------------------


def test_hard_nms_threshold_is_inclusive() -> None:
    # as the ActionFormer/OpenTAD C++ (`ovr >= iou_threshold`)
    segments = Segments([[0.0, 2.0], [0.0, 1.0]])  # tIoU exactly 0.5
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    assert nms(segments, scores, iou_threshold=0.51).tolist() == [0, 1]
    assert nms(segments, scores, iou_threshold=0.5).tolist() == [0]


@pytest.mark.parametrize("method", ["linear", "hard"])
def test_soft_nms_thresholds_are_inclusive(method: str) -> None:
    segments = Segments([[0.0, 2.0], [0.0, 1.0]])  # tIoU exactly 0.5
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    _, dec = soft_nms(segments, scores, method=method, iou_threshold=0.51, min_score=0.0)
    assert dec.tolist() == [0.9, 0.8]
    _, dec = soft_nms(segments, scores, method=method, iou_threshold=0.5, min_score=0.0)
    assert dec.tolist() == [0.9, 0.4 if method == "linear" else 0.0]


def test_voting_threshold_is_inclusive() -> None:
    dets = Detections(
        "v",
        Segments([[0.0, 2.0], [0.0, 1.0]]),  # tIoU exactly 0.5
        torch.tensor([0.6, 0.2], dtype=torch.float64),
        torch.zeros(2, dtype=torch.int64),
    )
    out = batched_nms(
        dets, method="hard", iou_threshold=0.4, voting_threshold=0.5, voting_weights="score"
    )
    torch.testing.assert_close(
        out.segments.tensor, torch.tensor([[0.0, (0.6 * 2 + 0.2 * 1) / 0.8]], dtype=torch.float64)
    )
    out = batched_nms(dets, method="hard", iou_threshold=0.4, voting_threshold=0.51)
    assert out.segments.tensor.tolist() == [[0.0, 2.0]]


def test_soft_nms_hand_computed_values() -> None:
    segments = Segments([[0.0, 2.0], [0.0, 1.0], [5.0, 6.0]])  # tIoU(0, 1) = 0.5
    scores = torch.tensor([0.9, 0.8, 0.1], dtype=torch.float64)
    idx, dec = soft_nms(segments, scores, method="linear", iou_threshold=0.3, min_score=0.0)
    assert idx.tolist() == [0, 1, 2]
    torch.testing.assert_close(dec, torch.tensor([0.9, 0.4, 0.1], dtype=torch.float64))
    idx, dec = soft_nms(segments, scores, method="gaussian", sigma=0.5, min_score=0.0)
    torch.testing.assert_close(
        dec, torch.tensor([0.9, 0.8 * math.exp(-0.5), 0.1], dtype=torch.float64)
    )
    # the decayed 0.8 * 0.5 = 0.4 falls below min_score and is discarded
    idx, _ = soft_nms(segments, scores, method="linear", iou_threshold=0.3, min_score=0.45)
    assert idx.tolist() == [0]
    # hard decay zeroes the overlapping score: kept at min_score 0 (C++ method 0), else dropped
    idx, dec = soft_nms(segments, scores, method="hard", iou_threshold=0.3, min_score=0.0)
    assert idx.tolist() == [0, 2, 1]
    assert dec.tolist() == [0.9, 0.1, 0.0]


def test_score_voting_hand_computed() -> None:
    dets = Detections(
        "v",
        Segments([[0.0, 10.0], [1.0, 11.0], [0.0, 8.0], [20.0, 30.0]]),
        torch.tensor([0.6, 0.3, 0.1, 0.5], dtype=torch.float64),
        torch.tensor([0, 0, 1, 0]),
    )
    out = batched_nms(
        dets, method="hard", iou_threshold=0.5, voting_threshold=0.7, voting_weights="score"
    )
    # [0, 10] votes with [1, 11] (tIoU 9/11) of its class; [0, 8] is another class
    expected_first = [(0.6 * 0 + 0.3 * 1) / 0.9, (0.6 * 10 + 0.3 * 11) / 0.9]
    torch.testing.assert_close(
        out.segments.tensor,
        torch.tensor([expected_first, [20.0, 30.0], [0.0, 8.0]], dtype=torch.float64),
    )
    assert out.scores.tolist() == [0.6, 0.5, 0.1]
    agnostic = batched_nms(
        dets,
        method="hard",
        iou_threshold=0.9,
        multiclass=False,
        voting_threshold=0.7,
        voting_weights="score",
    )
    # class-agnostic: [0, 8] (tIoU 0.8) votes too, and [1, 11] survives the 0.9 threshold
    first = [0.3 * 1 + 0.1 * 0, 0.6 * 10 + 0.3 * 11 + 0.1 * 8]  # weights sum to 1.0
    torch.testing.assert_close(
        agnostic.segments.tensor[0], torch.tensor(first, dtype=torch.float64)
    )
    assert agnostic.labels.tolist() == [0, 0, 0, 1]


# ---------------------------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_empty_input(method: str) -> None:
    empty = Detections.empty("v")
    out = batched_nms(empty, method=method, voting_threshold=0.7)  # type: ignore[arg-type]
    assert len(out) == 0
    assert out.segments.tensor.shape == (0, 2)
    assert nms(empty.segments, empty.scores, iou_threshold=0.5).shape == (0,)
    idx, scores = soft_nms(empty.segments, empty.scores)
    assert idx.shape == scores.shape == (0,)


def test_all_below_min_score_gives_empty() -> None:
    dets = Detections("v", Segments([[0.0, 1.0]]), torch.tensor([1e-4]), torch.tensor([0]))
    assert len(batched_nms(dets, min_score=1e-3)) == 0


@pytest.mark.parametrize("method", METHODS)
def test_one_segment(method: str) -> None:
    dets = Detections("v", Segments([[1.0, 3.0]]), torch.tensor([0.5]), torch.tensor([2]))
    out = batched_nms(dets, method=method, voting_threshold=0.5)  # type: ignore[arg-type]
    assert out.segments.tensor.tolist() == [[1.0, 3.0]]
    assert out.scores.tolist() == [0.5]
    assert out.labels.tolist() == [2]


def test_identical_segments() -> None:
    segments = Segments([[2.0, 4.0]] * 4)
    scores = torch.full((4,), 0.5, dtype=torch.float64)
    assert nms(segments, scores, iou_threshold=0.5).tolist() == [0]
    assert nms(segments, scores, iou_threshold=1.0).tolist() == [0]  # tIoU 1 >= 1: suppressed
    idx, dec = soft_nms(segments, scores, method="gaussian", sigma=0.5, min_score=0.0)
    w = math.exp(-2.0)
    assert idx.tolist() == [0, 1, 2, 3]
    torch.testing.assert_close(dec, 0.5 * torch.tensor([1, w, w * w, w**3], dtype=torch.float64))
    out = batched_nms(
        Detections("v", segments, scores, torch.zeros(4, dtype=torch.int64)),
        voting_threshold=0.9,
        min_score=0.0,
    )
    assert out.segments.tensor.tolist() == [[2.0, 4.0]] * 4


def test_zero_length_segments_do_not_give_nan() -> None:
    segments = Segments([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6], dtype=torch.float64)
    # tIoU of a zero-length segment is 0 with everything, so nothing is suppressed
    assert nms(segments, scores, iou_threshold=1e-6).tolist() == [0, 1, 2, 3]
    for method in METHODS:
        out = batched_nms(
            Detections("v", segments, scores, torch.zeros(4, dtype=torch.int64)),
            method=method,  # type: ignore[arg-type]
            voting_threshold=0.5,
        )
        assert torch.isfinite(out.segments.tensor).all()
        assert torch.isfinite(out.scores).all()
        assert out.scores.tolist() == [0.9, 0.8, 0.7, 0.6]


def test_tied_scores_break_by_input_order() -> None:
    segments = Segments([[0.0, 1.0], [5.0, 6.0], [2.0, 3.0], [0.0, 1.0]])
    scores = torch.tensor([0.5, 0.5, 0.5, 0.5])
    assert nms(segments, scores, iou_threshold=0.5).tolist() == [0, 1, 2]
    idx, _ = soft_nms(segments, scores, method="linear", iou_threshold=0.5, min_score=0.0)
    assert idx.tolist() == [0, 1, 2, 3]
    labels = torch.tensor([1, 0, 1, 0])
    out = batched_nms(Detections("v", segments, scores, labels), method="hard", iou_threshold=0.5)
    assert out.segments.tensor.tolist() == [[0.0, 1.0], [5.0, 6.0], [2.0, 3.0], [0.0, 1.0]]
    assert out.labels.tolist() == [1, 0, 1, 0]


def test_float32_inputs_keep_dtypes() -> None:
    segs, scores, labels = random_case(3, n=30)
    dets = Detections(
        "v",
        Segments(torch.tensor(segs, dtype=torch.float32)),
        torch.tensor(scores, dtype=torch.float32),
        torch.tensor(labels),
    )
    out = batched_nms(dets, voting_threshold=0.7)
    assert out.segments.tensor.dtype == torch.float32
    assert out.scores.dtype == torch.float32
    assert out.labels.dtype == torch.int64
    assert out.segments.unit == "sec"


# ---------------------------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------------------------


def _dets(scores: torch.Tensor) -> Detections:
    n = scores.shape[0]
    return Detections("v", Segments(torch.rand(n, 2).sort(dim=1).values), scores, torch.zeros(n))


def test_nan_scores_rejected() -> None:
    scores = torch.tensor([0.5, float("nan"), 0.2])
    segments = Segments(torch.rand(3, 2).sort(dim=1).values)
    with pytest.raises(ValueError, match=r"NaN at indices \[\[1\]\]"):
        nms(segments, scores, iou_threshold=0.5)
    with pytest.raises(ValueError, match="NaN"):
        soft_nms(segments, scores)
    with pytest.raises(ValueError, match="NaN"):
        batched_nms(_dets(scores))


def test_bad_score_shapes_rejected() -> None:
    segments = Segments(torch.rand(3, 2).sort(dim=1).values)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        nms(segments, torch.rand(3, 1), iou_threshold=0.5)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        soft_nms(segments, torch.rand(4))
    with pytest.raises(TypeError, match="float"):
        nms(segments, torch.ones(3, dtype=torch.int64), iou_threshold=0.5)
    with pytest.raises(ValueError, match="labels"):
        nms(segments, torch.rand(3), iou_threshold=0.5, labels=torch.zeros(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iou_threshold": -0.1}, "-0.1"),
        ({"iou_threshold": 0.0}, "(0, 1]"),
        ({"iou_threshold": 1.5}, "1.5"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": -1.0}, "sigma"),
        ({"min_score": -0.01}, "-0.01"),
        ({"max_segments": 0}, "max_segments"),
        ({"pre_nms_topk": 0}, "pre_nms_topk"),
        ({"voting_threshold": 0.0}, "voting_threshold"),
        ({"voting_threshold": -0.5}, "-0.5"),
        ({"method": "soft"}, "'soft'"),
    ],
)
def test_invalid_arguments_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        batched_nms(_dets(torch.rand(4)), **kwargs)  # type: ignore[arg-type]


def test_soft_nms_invalid_arguments_rejected() -> None:
    segments = Segments(torch.rand(3, 2).sort(dim=1).values)
    with pytest.raises(ValueError, match="sigma"):
        soft_nms(segments, torch.rand(3), sigma=0.0)
    with pytest.raises(ValueError, match=re.escape("-0.2")):
        soft_nms(segments, torch.rand(3), iou_threshold=-0.2)
    with pytest.raises(ValueError, match="'exp'"):
        soft_nms(segments, torch.rand(3), method="exp")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Scale
# ---------------------------------------------------------------------------------------------


def test_ten_thousand_segments_run_quickly() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 10_000
    starts = torch.rand(n, generator=gen, dtype=torch.float64) * 3000
    lengths = torch.rand(n, generator=gen, dtype=torch.float64) * 30
    segments = Segments(torch.stack([starts, starts + lengths], dim=1))
    scores = torch.rand(n, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 20, (n,), generator=gen)
    tic = time.perf_counter()
    kept = nms(segments, scores, iou_threshold=0.5)
    out = batched_nms(
        Detections("v", segments, scores, labels), max_segments=200, voting_threshold=0.7
    )
    elapsed = time.perf_counter() - tic
    assert 0 < kept.numel() < n
    assert len(out) == 200
    assert elapsed < 10.0, f"NMS on {n} segments took {elapsed:.1f} s"
