"""Focal and DIoU losses against hand-computed values; the EMA normaliser; DetectionLoss."""

from __future__ import annotations

import math

import pytest
import torch

from tadapt.detection import DetectionLoss, LossNormalizer, diou_loss_1d, sigmoid_focal_loss
from tadapt.detection.targets import PointTargets


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def focal_by_hand(logit: float, target: float, alpha: float = 0.25, gamma: float = 2.0) -> float:
    p = sigmoid(logit)
    ce = -(target * math.log(p) + (1 - target) * math.log(1 - p))
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    return a_t * (1 - p_t) ** gamma * ce


def test_focal_loss_hand_computed_values() -> None:
    # logit 0, target 1: p = 1/2, CE = ln 2, (1 - p)^2 = 1/4, alpha 1/4 -> ln(2) / 16
    assert sigmoid_focal_loss(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(
        math.log(2) / 16
    )
    # logit 2, target 0: p_t = 1 - sigmoid(2), alpha_t = 3/4
    p = sigmoid(2.0)
    expected = 0.75 * p**2 * -math.log(1 - p)
    assert sigmoid_focal_loss(torch.tensor([2.0]), torch.tensor([0.0])).item() == pytest.approx(
        expected
    )
    logits = torch.tensor([[-3.0, 0.5], [1.5, -0.2]])
    targets = torch.tensor([[0.0, 1.0], [0.3, 0.05]])  # soft targets (label smoothing)
    by_hand = [[focal_by_hand(lg, tg) for lg, tg in zip(r1, r2, strict=True)] for r1, r2 in
               zip(logits.tolist(), targets.tolist(), strict=True)]  # fmt: skip
    torch.testing.assert_close(
        sigmoid_focal_loss(logits, targets), torch.tensor(by_hand), rtol=1e-5, atol=1e-7
    )
    assert sigmoid_focal_loss(logits, targets, reduction="sum").item() == pytest.approx(
        sum(map(sum, by_hand)), rel=1e-5
    )
    # alpha < 0: no class weighting; gamma 0: plain binary cross-entropy
    no_weight = sigmoid_focal_loss(torch.tensor([0.0]), torch.tensor([1.0]), alpha=-1, gamma=0.0)
    assert no_weight.item() == pytest.approx(math.log(2))


def test_diou_loss_hand_computed_values() -> None:
    # pred [t-1, t+3], target [t-2, t+2]: inter 3, union 5, IoU 0.6; enclosing [t-2, t+3] = 5,
    # centres t+1 and t: (1 / 5)^2 = 0.04 -> 1 - 0.6 + 0.04
    pred = torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.5, 0.5]])
    target = torch.tensor([[2.0, 2.0], [2.0, 2.0], [3.0, 1.0]])
    # third: pred [t-.5, t+.5], target [t-3, t+1]: inter 1, union 4, IoU 1/4;
    # enclosing [t-3, t+1] = 4, centres t and t-1: (1/4)^2
    expected = torch.tensor([1 - 0.6 + 0.04, 0.0, 1 - 0.25 + 1 / 16])
    torch.testing.assert_close(diou_loss_1d(pred, target), expected)
    assert diou_loss_1d(pred, target, reduction="sum").item() == pytest.approx(expected.sum())
    assert diou_loss_1d(torch.zeros(0, 2), torch.zeros(0, 2), reduction="mean").item() == 0.0


def test_loss_normalizer_is_an_ema_of_positive_counts() -> None:
    norm = LossNormalizer(100.0, 0.9)
    expected = 100.0
    for n in [10, 0, 250]:
        expected = 0.9 * expected + 0.1 * max(n, 1)
        assert norm.update(n) == pytest.approx(expected, rel=1e-15)
    assert "value" in norm.state_dict()  # checkpointed with the model
    with pytest.raises(ValueError, match="momentum"):
        LossNormalizer(100.0, 1.0)


def make_case():
    # 1 video, 4 points, 2 classes; points 0 and 2 positive, point 3 padded
    cls_logits = torch.tensor([[[0.5, -1.0], [-2.0, 0.0], [1.0, 1.0], [3.0, 3.0]]])
    offsets = torch.tensor([[[1.0, 3.0], [0.0, 0.0], [2.0, 2.0], [5.0, 5.0]]])
    valid = torch.tensor([[True, True, True, False]])
    targets = PointTargets(
        cls=torch.tensor([[[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]]),
        offsets=torch.tensor([[[2.0, 2.0], [0.0, 0.0], [2.0, 2.0], [1.0, 1.0]]]),
    )
    return cls_logits, offsets, valid, targets


def test_detection_loss_against_an_independent_computation() -> None:
    cls_logits, offsets, valid, targets = make_case()
    loss = DetectionLoss(2, normalizer=LossNormalizer(100.0, 0.9), reg_weight=2.0)
    out = loss(cls_logits, offsets, valid, targets)
    norm = 0.9 * 100 + 0.1 * 2  # two valid positives
    cls_sum = sum(
        focal_by_hand(cls_logits[0, p, c].item(), targets.cls[0, p, c].item())
        for p in range(3)
        for c in range(2)
    )
    reg_sum = (1 - 0.6 + 0.04) + 0.0  # points 0 and 2 (see the DIoU test)
    assert out["cls_loss"].item() == pytest.approx(cls_sum / norm, rel=1e-5)
    assert out["reg_loss"].item() == pytest.approx(reg_sum / norm, rel=1e-5)
    assert out["final_loss"].item() == pytest.approx((cls_sum + 2 * reg_sum) / norm, rel=1e-5)

    # evaluation mode reads the normaliser without updating it
    loss.eval()
    before = float(loss.normalizer.value)
    loss(cls_logits, offsets, valid, targets)
    assert float(loss.normalizer.value) == before


def test_label_smoothing_and_automatic_regression_weight() -> None:
    cls_logits, offsets, valid, targets = make_case()
    eps = 0.1
    loss = DetectionLoss(2, label_smoothing=eps, reg_weight=0.0)
    out = loss(cls_logits, offsets, valid, targets)
    norm = 0.9 * 100 + 0.1 * 2
    cls_sum = sum(
        focal_by_hand(cls_logits[0, p, c].item(), targets.cls[0, p, c].item() * (1 - eps) + eps / 3)
        for p in range(3)
        for c in range(2)
    )
    assert out["cls_loss"].item() == pytest.approx(cls_sum / norm, rel=1e-5)
    auto = out["cls_loss"].item() / max(out["reg_loss"].item(), 0.01)
    expected_final = out["cls_loss"].item() + auto * out["reg_loss"].item()
    assert out["final_loss"].item() == pytest.approx(expected_final, rel=1e-5)


def test_no_positives_gives_zero_regression_loss_with_a_graph() -> None:
    cls_logits, offsets, valid, _ = make_case()
    offsets.requires_grad_(True)
    empty = PointTargets(cls=torch.zeros(1, 4, 2), offsets=torch.zeros(1, 4, 2))
    out = DetectionLoss(2)(cls_logits, offsets, valid, empty)
    assert out["reg_loss"].item() == 0.0
    out["final_loss"].backward()
    assert offsets.grad is not None
