"""The dead-regression-output warning: when it fires, what it names, what resets it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tadapt.detection import DetectionLoss
from tadapt.detection.offset_health import DeadOffsetWatch
from tadapt.detection.targets import PointTargets

WATCH_LOGGER = "tadapt.detection.offset_health"


def dead_start(num_points: int = 3) -> torch.Tensor:
    """``(N_pos, 2)`` offsets whose start output is 0 everywhere, end output alive."""
    return torch.stack([torch.zeros(num_points), torch.rand(num_points) + 0.5], dim=1)


def test_warns_once_after_patience_steps_naming_the_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = DeadOffsetWatch(patience=3)
    with caplog.at_level(logging.WARNING, logger=WATCH_LOGGER):
        for _ in range(2):
            watch.update(dead_start())
        assert not caplog.records
        for _ in range(5):
            watch.update(dead_start())
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    for part in ("start offset", "3 training batches", "train.seed", "model.head.offset_bias=1"):
        assert part in message


def test_a_step_with_a_live_output_resets_the_count(caplog: pytest.LogCaptureFixture) -> None:
    watch = DeadOffsetWatch(patience=3)
    alive = torch.full((3, 2), 0.7)
    with caplog.at_level(logging.WARNING, logger=WATCH_LOGGER):
        for offsets in (dead_start(), dead_start(), alive, dead_start(), dead_start()):
            watch.update(offsets)
    assert not caplog.records
    assert watch.streaks == [2, 0]


def test_steps_without_positives_do_not_count() -> None:
    watch = DeadOffsetWatch(patience=2)
    watch.update(dead_start())
    watch.update(torch.zeros(0, 2))
    assert watch.streaks == [1, 0]


def test_a_zero_at_some_positives_only_is_not_dead() -> None:
    watch = DeadOffsetWatch(patience=1)
    watch.update(torch.tensor([[0.0, 1.0], [0.3, 1.0]]))
    assert watch.streaks == [0, 0]


def test_patience_must_be_positive() -> None:
    with pytest.raises(ValueError, match="patience"):
        DeadOffsetWatch(patience=0)


def test_the_detection_loss_watches_its_positives_in_training_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 1 video, 3 points, 1 class; points 0 and 1 positive; the end output is 0 at both
    cls_logits = torch.zeros(1, 3, 1)
    offsets = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [1.0, 1.0]]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    targets = PointTargets(
        cls=torch.tensor([[[1.0], [1.0], [0.0]]]),
        offsets=torch.tensor([[[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]]]),
    )
    loss = DetectionLoss(1)
    loss.dead_offsets = DeadOffsetWatch(patience=2)
    with caplog.at_level(logging.WARNING, logger=WATCH_LOGGER):
        loss.eval()
        for _ in range(3):
            loss(cls_logits, offsets, valid, targets)
        assert not caplog.records  # evaluation does not count
        loss.train()
        for _ in range(2):
            loss(cls_logits, offsets, valid, targets)
    assert [r.getMessage().split(" offset")[0] for r in caplog.records] == [
        "the regression head's end"
    ]


def _init_outputs(offset_bias: float, seed: int) -> torch.Tensor:
    """Pre-ReLU ``(B, 2, T)`` outputs of a fresh 32-channel head on one pyramid level."""
    from tadapt.detection.head import RegressionHead

    torch.manual_seed(seed)
    head = RegressionHead(32, 32, 1, offset_bias=offset_bias)
    feats, mask = torch.randn(2, 32, 16), torch.ones(2, 16, dtype=torch.bool)
    with torch.no_grad():
        return head.offset_conv(head.tower(feats, mask), mask)[0]


def test_actionformer_zero_bias_can_start_an_output_dead_and_offset_bias_prevents_it() -> None:
    # the tower ends in a ReLU, so an output's mean over points is w . mean(h): on some seeds
    # it is below 0 at (almost) every point before any training step
    def worst_dead_fraction(offset_bias: float, seed: int) -> float:
        return float((_init_outputs(offset_bias, seed) <= 0).float().mean(dim=(0, 2)).max())

    actionformer = [worst_dead_fraction(0.0, seed) for seed in range(20)]
    assert max(actionformer) == 1.0, actionformer  # dead everywhere before the first step
    shifted = [worst_dead_fraction(1.0, seed) for seed in range(20)]
    assert max(shifted) < 0.25, shifted


def test_offset_bias_defaults_to_actionformers_zero_and_reaches_the_head(tmp_path: Path) -> None:
    from tadapt.cli.experiment import build_model
    from tadapt.config import load_config, resolve

    for preset, bias in (("thumos14_actionformer_i3d", 0.0), ("mini_repro_synthetic", 1.0)):
        config = load_config(preset, ["model.num_classes=4", "model.backbone.pretrained=false"])
        model = build_model(resolve(config, run_dir=tmp_path))
        conv_bias = model.reg_head.offset_conv.conv.bias
        assert conv_bias is not None
        assert torch.equal(conv_bias, torch.full((2,), bias)), preset
