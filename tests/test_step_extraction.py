"""Whole-video features on the end-to-end detector's grid (LoFi's stage 3 extraction)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tadapt.backbones import create_backbone
from tadapt.cli.lofi import head_config
from tadapt.config import load_config, resolve
from tadapt.data.sampling import uniform_frame_indices
from tadapt.data.synthetic import write_video
from tadapt.data.transforms import eval_transforms
from tadapt.detection import BackboneFeatures
from tadapt.extraction import BackboneWeights, weights_sha256
from tadapt.io.feature_manifest import FeatureManifestError, read_feature_manifest
from tadapt.step_extraction import (
    extract_step_features,
    extract_video_step_features,
    sampled_frame_indices,
    step_grid,
)

SIZE = 32


class _Frames:
    """A decoded video in memory: ``read_frames`` as :class:`tadapt.io.VideoReader` has it."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = torch.from_numpy(frames)
        self.reads: list[list[int]] = []

    def read_frames(self, indices: list[int]) -> torch.Tensor:
        self.reads.append(indices)
        return self.frames[indices]


def test_sampled_frames_are_the_end_to_end_dataset_s():
    # window modes: every frame_stride-th frame of the whole video
    assert sampled_frame_indices(9, frame_stride=2) == [0, 2, 4, 6, 8]
    assert sampled_frame_indices(10, frame_stride=4) == [0, 4, 8]
    # Resize: the same equal-bin centres as the video dataset (ActivityNet's 768 frames)
    assert (
        sampled_frame_indices(1000, resize_length=768) == uniform_frame_indices(1000, 768).tolist()
    )
    with pytest.raises(ValueError, match="frame_stride is 1"):
        sampled_frame_indices(100, resize_length=16, frame_stride=2)


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0])
def test_step_features_equal_what_the_detector_s_extractor_computes(scale):
    torch.manual_seed(0)
    backbone = create_backbone("videomae_tiny_patch16", img_size=SIZE, depth=2, drop_path_rate=0.3)
    extractor = BackboneFeatures(backbone, temporal_scale=scale).eval()
    rng = np.random.default_rng(0)
    video = _Frames(rng.integers(0, 255, (100, 40, 40, 3), dtype=np.uint8))
    indices = sampled_frame_indices(100, resize_length=64)  # 4 chunks
    transform = eval_transforms(SIZE)
    feats = extract_video_step_features(extractor, video, transform, indices, chunks_per_pass=1)
    assert [len(r) for r in video.reads] == [16, 16, 16, 16]  # one chunk per pass
    clip = transform(torch.from_numpy(video.frames.numpy()[indices]))[None]  # (1, 3, 64, H, W)
    with torch.no_grad():
        expected, masks = extractor(clip, torch.ones(1, 64, dtype=torch.bool))
    assert feats.shape == (64 * scale / 2, 24 * 4)  # (T', C): tubelet 2, width 96
    assert masks.all()
    torch.testing.assert_close(torch.from_numpy(feats), expected[0].T, rtol=1e-5, atol=1e-5)
    # a partial last chunk: only steps whose frames all exist are written
    partial = extract_video_step_features(extractor, video, transform, indices[:40])
    assert partial.shape[0] == 40 // extractor.temporal_stride


def test_head_config_puts_each_step_where_the_detector_put_it(tmp_path):
    config = resolve(
        load_config("tiny_synthetic_videos", ["model.strategy=full"]),
        num_classes=4,
        run_dir=tmp_path,
    )
    torch.manual_seed(0)
    backbone = create_backbone("videomae_tiny_patch16", img_size=48)
    for scale, (feat_stride, num_frames) in [(1.0, (4, 2)), (0.5, (8, 6)), (2.0, (2, 0))]:
        extractor = BackboneFeatures(backbone, temporal_scale=scale)
        head = head_config(config, tmp_path / "features", extractor)
        data = head.data
        assert (data.feat_stride, data.num_frames) == (feat_stride, num_frames)
        assert data.max_seq_len == 64 // extractor.temporal_stride  # the window, in steps
        assert data.feature_dim == 96
        # step j: sampled frame j * stride + offset, i.e. video frame (...) * frame_stride 2
        for j in (0, 5):
            frame = (j * extractor.temporal_stride + extractor.temporal_offset) * 2
            assert j * data.feat_stride + 0.5 * data.num_frames == frame
        assert head.model.backbone is None
        assert head.train.fidelity is None


def test_step_features_come_with_the_manifest_the_head_reads(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (40, SIZE, SIZE, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", list(frames), fps=15)
    torch.manual_seed(0)
    backbone = create_backbone("videomae_tiny_patch16", img_size=SIZE, depth=2)
    extractor = BackboneFeatures(backbone, temporal_scale=0.5)
    weights = BackboneWeights("videomae_tiny_patch16", "run/checkpoints/last.pt")
    out = tmp_path / "features"

    def run() -> list[str]:
        report = extract_step_features(
            extractor, ["clip"], tmp_path, out, weights=weights, size=SIZE, frame_stride=2,
            progress=False,
        )  # fmt: skip
        return report.written

    assert run() == ["clip"]
    manifest = read_feature_manifest(out)
    assert manifest is not None
    assert (manifest.extractor, manifest.weights) == ("detector steps", weights.source)
    assert manifest.weights_sha256 == weights_sha256(extractor)
    # the grid head_config gives stage 3: step j at video frame (4 j + 1.5) * 2
    assert (manifest.feat_stride, manifest.num_frames) == step_grid(extractor, 2) == (8, 6)
    assert manifest.feature_dim == 96
    assert manifest.settings["temporal_scale"] == 0.5
    assert np.load(out / "clip.npy").shape == (20 // 4, 96)  # 20 sampled frames, 4 per step
    with torch.no_grad():  # stage 1 trained on: the old features are not resumed
        backbone.blocks[0].mlp.fc1.bias.add_(1.0)
    with pytest.raises(FeatureManifestError, match=r"weights: run/checkpoints/last\.pt \(sha256"):
        run()
