"""End-to-end: frames -> (adapted) VideoMAE -> ActionFormer head, one training step per strategy."""

from __future__ import annotations

import pytest
import torch

from tadapt.adapters import get_adapter_params
from tadapt.detection import BackboneFeatures
from tadapt.structures import Segments, VideoSample, collate_samples
from tiny_detector import SIZE, tiny_video_detector


def _batch():
    samples = [
        VideoSample(
            f"v{i}",
            torch.randn(3, frames, SIZE, SIZE),
            torch.ones(frames, dtype=torch.bool),
            Segments([[4.0, 14.0]], unit="idx"),
            torch.tensor([i % 2]),
            grid_stride_sec=0.25,
        )
        for i, frames in enumerate((32, 20))  # 20 frames: padded to 2 chunks, masked
    ]
    return collate_samples(samples)


def test_features_have_the_tubelet_grid_and_mask():
    _, backbone = tiny_video_detector("frozen")
    extractor = BackboneFeatures(backbone)
    batch = _batch()
    feats, masks = extractor(batch.inputs, batch.masks)
    assert feats.shape == (2, 96, 16)
    assert masks.sum(dim=1).tolist() == [16, 10]  # 20 valid frames -> 10 tubelets
    assert extractor.temporal_stride == 2
    assert extractor.temporal_offset == 0.5
    with pytest.raises(ValueError, match="frames"):
        extractor(torch.zeros(2, 96, 16), masks)


@pytest.mark.parametrize("strategy", ["frozen", "full", "tia"])
def test_one_training_step_updates_only_what_the_strategy_trains(strategy):
    detector, backbone = tiny_video_detector(strategy)
    detector.train()
    losses = detector(_batch())
    assert torch.isfinite(losses["final_loss"])
    losses["final_loss"].backward()
    adapters = set(get_adapter_params(backbone))
    for name, param in backbone.named_parameters():
        if strategy == "full" or name in adapters:
            assert param.grad is not None, name
        else:
            assert param.grad is None, name
    # the detection head always trains
    assert all(p.grad is not None for p in detector.cls_head.parameters())
    if strategy == "tia":
        assert adapters
        assert all(backbone.get_parameter(n).grad is not None for n in adapters)


def test_eval_mode_returns_detections_in_seconds():
    detector, _ = tiny_video_detector("tia")
    detector.eval()
    with torch.no_grad():
        detections = detector(_batch())
    assert [d.video_id for d in detections] == ["v0", "v1"]
    assert all(d.segments.unit == "sec" for d in detections)
