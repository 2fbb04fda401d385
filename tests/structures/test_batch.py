from __future__ import annotations

import pytest
import torch

from tadapt.structures import Segments, VideoSample, collate_samples


def _sample(vid: str, steps: int, channels: int = 3) -> VideoSample:
    return VideoSample(
        vid,
        torch.ones(channels, steps, 4, 4),
        torch.ones(steps, dtype=torch.bool),
        Segments([[1.0, 3.0]], unit="idx"),
        torch.tensor([2]),
        grid_stride_sec=0.5,
        grid_offset_sec=10.0,
    )


def test_sample_maps_grid_to_seconds():
    sample = _sample("v", 8)
    sec = sample.to_seconds(sample.segments)
    assert sec.unit == "sec"
    assert sec.tensor.tolist() == [[10.5, 11.5]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask": torch.ones(5, dtype=torch.bool)}, "mask"),
        ({"segments": Segments([[1.0, 3.0]])}, "grid units"),
        ({"labels": torch.tensor([1, 2])}, "labels"),
        ({"grid_stride_sec": 0.0}, "grid_stride_sec"),
    ],
)
def test_sample_validation(kwargs, message):
    base = _sample("v", 8)
    fields = {
        "video_id": "v",
        "inputs": base.inputs,
        "mask": base.mask,
        "segments": base.segments,
        "labels": base.labels,
        "grid_stride_sec": 0.5,
    }
    with pytest.raises(ValueError, match=message):
        VideoSample(**{**fields, **kwargs})


def test_collate_pads_to_multiple_and_masks():
    batch = collate_samples([_sample("a", 5), _sample("b", 9)], pad_multiple=4)
    assert batch.inputs.shape == (2, 3, 12, 4, 4)
    assert batch.masks.sum(dim=1).tolist() == [5, 9]
    assert batch.inputs[0, :, 5:].abs().sum() == 0
    assert batch.video_ids == ["a", "b"]
    assert batch.grid_offset_sec.tolist() == [10.0, 10.0]
    moved = batch.to("cpu")
    assert moved.inputs.shape == batch.inputs.shape


def test_collate_rejects_mixed_shapes_and_empty():
    with pytest.raises(ValueError, match="cannot batch"):
        collate_samples([_sample("a", 5), _sample("b", 5, channels=2)])
    with pytest.raises(ValueError, match="at least one"):
        collate_samples([])
    with pytest.raises(ValueError, match="pad_multiple"):
        collate_samples([_sample("a", 5)], pad_multiple=0)
