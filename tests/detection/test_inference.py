"""Decoding, seconds mapping, window merging and external classifier fusion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from tadapt.detection import (
    HeadOutputs,
    PointGenerator,
    PostProcessing,
    build_actionformer,
    decode_video,
    fuse_video_class_scores,
    load_video_class_scores,
    merge_windows,
)
from tadapt.structures import Detections, Segments, VideoBatch

NEG = -20.0  # sigmoid(-20) ~ 2e-9: below any threshold


def two_level_case():
    points = PointGenerator([1, 2], [(0, 4), (4, math.inf)])([4, 2])
    logits = torch.full((6, 2), NEG)
    offsets = torch.zeros(6, 2)
    logits[1, 0], offsets[1] = 2.0, torch.tensor([0.5, 1.0])  # t=1 -> [0.5, 2.0]
    logits[2, 1], offsets[2] = 0.0, torch.tensor([1.0, 1.0])  # t=2 -> [1, 3]
    logits[3, 1], offsets[3] = 1.0, torch.tensor([1.0, 1.0])  # padded: ignored
    logits[5, 0], offsets[5] = 3.0, torch.tensor([1.0, 0.5])  # t=2, stride 2 -> [0, 3]
    logits[4, 1], offsets[4] = 1.0, torch.tensor([0.01, 0.01])  # t=0, length 0.04: too short
    valid = torch.tensor([True, True, True, False, True, True])
    return points, logits, offsets, valid


def test_decode_per_level_threshold_topk_and_duration() -> None:
    points, logits, offsets, valid = two_level_case()
    segs, scores, labels = decode_video(points, logits, offsets, valid)
    assert segs.unit == "idx"
    assert segs.tensor.tolist() == [[0.5, 2.0], [1.0, 3.0], [0.0, 3.0]]
    torch.testing.assert_close(scores, torch.sigmoid(torch.tensor([2.0, 0.0, 3.0])))
    assert labels.tolist() == [0, 1, 0]
    # top-1 per level, before the duration filter
    segs, _, labels = decode_video(points, logits, offsets, valid, pre_nms_topk=1)
    assert segs.tensor.tolist() == [[0.5, 2.0], [0.0, 3.0]]
    # a threshold above sigmoid(2) keeps only the stride-2 detection
    segs, _, _ = decode_video(points, logits, offsets, valid, pre_nms_threshold=0.9)
    assert segs.tensor.tolist() == [[0.0, 3.0]]
    # without the duration filter the short one appears (level 1, after the better one)
    segs, _, _ = decode_video(points, logits, offsets, valid, duration_threshold=0.0)
    assert segs.tensor[-1].tolist() == pytest.approx([-0.02, 0.02])


class Subsample(nn.Module):
    """A stand-in backbone: one feature per two inputs, centred between them."""

    temporal_stride = 2
    temporal_offset = 0.5

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, :, ::2], mask[:, ::2]


def batch_of(video_ids, stride_sec, offset_sec, durations, steps=64, channels=4):
    b = len(video_ids)
    return VideoBatch(
        video_ids=list(video_ids),
        inputs=torch.zeros(b, channels, steps),
        masks=torch.ones(b, steps, dtype=torch.bool),
        segments=[Segments(torch.zeros(0, 2), "idx") for _ in video_ids],
        labels=[torch.zeros(0, dtype=torch.int64) for _ in video_ids],
        grid_stride_sec=torch.tensor(stride_sec, dtype=torch.float64),
        grid_offset_sec=torch.tensor(offset_sec, dtype=torch.float64),
        durations_sec=list(durations),
    )


def test_detections_map_feature_grid_to_seconds() -> None:
    settings = PostProcessing(voting_threshold=None)
    model = build_actionformer(
        4, 2, embed_dim=8, feature_extractor=Subsample(), postprocessing=settings
    ).eval()
    points = PointGenerator([1], [(0, math.inf)])([16])
    logits = torch.full((1, 16, 2), NEG)
    logits[0, 10, 1] = 1.0
    offsets = torch.zeros(1, 16, 2)
    offsets[0, 10] = torch.tensor([2.0, 3.0])  # feature grid [8, 13]
    outputs = HeadOutputs(points, logits, offsets, torch.ones(1, 16, dtype=torch.bool))
    batch = batch_of(["v"], [0.25], [3.0], [9.0])
    # feature [8, 13] -> input grid [8*2 + .5, 13*2 + .5] -> seconds x 0.25 + 3
    (raw,) = model.detections(outputs, batch, nms=False)
    assert raw.segments.unit == "sec"
    assert raw.segments.tensor.tolist() == [[7.125, 9.625]]
    assert raw.labels.tolist() == [1]
    (final,) = model.detections(outputs, batch)
    assert final.segments.tensor.tolist() == [[7.125, 9.0]]  # clipped to the duration
    assert final.scores.tolist() == pytest.approx([1 / (1 + math.exp(-1))])
    # ground truth goes the other way in the same two functions
    gt = Segments([[16.5, 26.5]], "idx")
    assert model.to_feature_grid(gt).tolist() == [[8.0, 13.0]]
    assert model.to_input_grid(Segments([[8.0, 13.0]], "idx")).tensor.tolist() == [[16.5, 26.5]]


def dets(video_id, segs, scores, labels):
    return Detections(
        video_id,
        Segments(torch.tensor(segs, dtype=torch.float64), "sec"),
        torch.tensor(scores, dtype=torch.float64),
        torch.tensor(labels),
    )


def test_merge_windows_runs_nms_once_per_video() -> None:
    settings = PostProcessing(nms_method="hard", iou_threshold=0.5, voting_threshold=None)
    window_a = dets("v", [[1.0, 5.0]], [0.9], [0])
    window_b = dets("v", [[1.1, 5.0], [10.0, 12.0]], [0.8, 0.5], [0, 1])
    merged = merge_windows([window_a, window_b], settings, duration_sec=11.0)
    assert merged.video_id == "v"
    assert merged.segments.tensor.tolist() == [[1.0, 5.0], [10.0, 11.0]]
    assert merged.scores.tolist() == [0.9, 0.5]
    with pytest.raises(ValueError, match="one video at a time"):
        merge_windows([window_a, dets("w", [[0.0, 1.0]], [0.5], [0])], settings)
    with pytest.raises(ValueError, match="at least one window"):
        merge_windows([], settings)


@pytest.mark.parametrize("mode", ["multiply", "sqrt"])
def test_fuse_video_class_scores(mode: str) -> None:
    proposals = dets("v", [[0.0, 1.0], [2.0, 3.0]], [0.8, 0.5], [0, 0])
    fused = fuse_video_class_scores(
        proposals, torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64), top_k=2, mode=mode
    )
    products = [0.8 * 0.6, 0.5 * 0.6, 0.8 * 0.3, 0.5 * 0.3]
    expected = products if mode == "multiply" else [math.sqrt(p) for p in products]
    assert fused.scores.tolist() == pytest.approx(expected)
    assert fused.labels.tolist() == [1, 1, 2, 2]
    assert fused.segments.tensor.tolist() == [[0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [2.0, 3.0]]
    # top_k larger than the number of classes keeps them all
    assert len(fuse_video_class_scores(proposals, torch.tensor([0.4, 0.6]), top_k=5)) == 4
    with pytest.raises(ValueError, match="top_k"):
        fuse_video_class_scores(proposals, torch.tensor([0.4, 0.6]), top_k=0)


def test_load_video_class_scores(tmp_path: Path) -> None:
    path = tmp_path / "cls.json"
    path.write_text(
        json.dumps(
            {"results": {"v_x": [0.2, 0.5, 0.3], "y": [0.1, 0.1, 0.8]}, "class": list("bac")}
        )
    )
    scores = load_video_class_scores(path, ["a", "b", "c"])
    assert sorted(scores) == ["x", "y"]  # the v_ prefix is dropped, as annotation ids
    assert scores["x"].tolist() == [0.5, 0.2, 0.3]  # reordered to the dataset's classes
    path.write_text(json.dumps({"results": {"x": [0.2, 0.5, 0.3]}}))
    assert load_video_class_scores(path, ["a", "b", "c"])["x"].tolist() == [0.2, 0.5, 0.3]

    bad = {
        "no results": ({"class": ["a"]}, "'results'"),
        "wrong length": ({"results": {"x": [0.1, 0.2]}}, "has 2 scores, expected 3"),
        "other classes": ({"results": {}, "class": ["a", "b", "d"]}, "unknown \\['d'\\]"),
        "twice": ({"results": {"x": [1, 2, 3], "v_x": [1, 2, 3]}}, "with and without"),
        "class string": ({"results": {}, "class": "abc"}, "must be a list"),
    }
    for data, message in bad.values():
        path.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=message):
            load_video_class_scores(path, ["a", "b", "c"])
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_video_class_scores(path, ["a", "b", "c"])


def test_training_through_a_strided_feature_extractor_and_bf16() -> None:
    torch.manual_seed(0)
    model = build_actionformer(4, 2, embed_dim=8, feature_extractor=Subsample())
    batch = batch_of(["a", "b"], [0.5, 0.5], [0.0, 0.0], [32.0, 32.0])
    batch.segments[0] = Segments([[8.5, 40.5]], "idx")  # feature grid [4, 20]
    batch.labels[0] = torch.tensor([1])
    outputs = model.forward_heads(batch.inputs, batch.masks)
    assert outputs.points.level_sizes[0] == 32  # 64 inputs -> 32 features
    losses = model.losses(outputs, batch)
    assert all(torch.isfinite(v) for v in losses.values())
    # [4, 20] on the feature grid, centre 12: positives t=12 at stride 2 (reach 8 in [4, 8]) and
    # t=8, 12, 16 at stride 4 (reach 12, 8, 12 in [8, 16]); none elsewhere
    assert float(model.loss.normalizer.value) == pytest.approx(0.9 * 100 + 0.1 * 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16_losses = model(batch)
        model.eval()
        (detections, _) = model(batch)
    assert bf16_losses["final_loss"].dtype == torch.float32  # losses are computed in float32
    assert detections.segments.tensor.dtype == torch.float64
