from __future__ import annotations

import math

import pytest
import torch

from tadapt.data import FeatureDataset, SlidingWindows, build_loader
from tadapt.data.synthetic_features import SyntheticFeatureSpec, generate_synthetic_features
from tadapt.detection import PostProcessing, build_actionformer, merge_windows
from tadapt.engine import evaluate, fuse_class_scores, predict
from tadapt.io import load_annotations
from tadapt.structures import Detections, Segments

SPEC = SyntheticFeatureSpec(splits=(("validation", 3),), feature_dim=8, num_classes=2)


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    return generate_synthetic_features(tmp_path_factory.mktemp("synth"), SPEC)


def _detector():
    torch.manual_seed(0)
    return build_actionformer(
        8, 2, embed_dim=16, arch=(2, 1, 2), window_size=-1,
        regression_ranges=[(0, 4), (4, 8), (8, math.inf)], max_seq_len=128,
        postprocessing=PostProcessing(pre_nms_topk=50, max_segments=50, voting_threshold=None),
    )  # fmt: skip


def test_whole_videos_give_the_detector_own_post_processed_detections(dataset_files):
    annotations = load_annotations(dataset_files.annotation_file)
    dataset = FeatureDataset(annotations, dataset_files.feature_dir, feat_stride=4, num_frames=16)
    model = _detector()
    detections = predict(model, build_loader(dataset, batch_size=2, shuffle=False, pad_multiple=4))
    assert [d.video_id for d in detections] == list(annotations.videos)
    model.eval()
    for det, index in zip(detections, range(len(dataset)), strict=True):
        batch = build_loader(
            torch.utils.data.Subset(dataset, [index]), batch_size=1, shuffle=False, pad_multiple=4
        )
        (direct,) = model(next(iter(batch)))
        torch.testing.assert_close(det.segments.tensor, direct.segments.tensor)
        torch.testing.assert_close(det.scores, direct.scores)
        assert len(det) <= 50


def test_windows_are_merged_per_video_and_counted_once(dataset_files):
    annotations = load_annotations(dataset_files.annotation_file)
    windows = FeatureDataset(
        annotations, dataset_files.feature_dir, feat_stride=4, num_frames=16,
        sampling=SlidingWindows(32, 0.5),
    )  # fmt: skip
    model = _detector()
    settings = model.postprocessing
    loader = build_loader(windows, batch_size=3, shuffle=False, pad_multiple=4)
    merged = predict(model, loader)
    # a distributed sampler repeats samples to even out the ranks: duplicates change nothing
    padded = torch.utils.data.ConcatDataset([windows, torch.utils.data.Subset(windows, [0, 1])])
    again = predict(model, build_loader(padded, batch_size=3, shuffle=False, pad_multiple=4))
    assert len(merged) == len(again) == 3
    for a, b in zip(merged, again, strict=True):
        torch.testing.assert_close(a.scores, b.scores)
    # the same as pooling each video's window candidates by hand
    model.eval()
    per_video = {}
    for batch in loader:
        for det in model.predict(batch, nms=False):
            per_video.setdefault(det.video_id, []).append(det)
    first = merged[0]
    expected = merge_windows(
        per_video[first.video_id], settings,
        duration_sec=annotations.videos[first.video_id].duration_sec,
    )  # fmt: skip
    torch.testing.assert_close(first.scores, expected.scores)


def test_fusion_and_evaluation():
    proposals = [
        Detections(
            "a", Segments([[1.0, 2.0]]), torch.tensor([0.5], dtype=torch.float64), torch.tensor([0])
        )
    ]
    fused = fuse_class_scores(
        proposals, {"a": torch.tensor([0.2, 0.8, 0.1])}, top_k=2, mode="multiply"
    )
    assert fused[0].labels.tolist() == [1, 0]
    torch.testing.assert_close(fused[0].scores, torch.tensor([0.4, 0.1], dtype=torch.float64))
    with pytest.raises(ValueError, match="no scores for 1 videos"):
        fuse_class_scores(proposals, {"b": torch.ones(3)})
    from tadapt.structures import GroundTruth

    truth = {"a": GroundTruth("a", Segments([[1.0, 2.0]]), torch.tensor([1]))}
    result = evaluate(fused, truth, ["x", "y", "z"], [0.5])
    assert result.average_map == pytest.approx(1.0)
