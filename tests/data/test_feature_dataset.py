"""Feature mode on the real THUMOS-14 ActionFormer file with feature files made here."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from real_data import real_file
from tadapt.data import (
    DataError,
    FeatureDataset,
    RandomTruncation,
    SlidingWindows,
    feature_length,
    load_features,
)
from tadapt.io import Annotations, load_annotations

STRIDE, CLIP, C = 4, 16, 8  # THUMOS I3D: 16-frame clips every 4 frames


@pytest.fixture(scope="module")
def thumos() -> Annotations:
    full = load_annotations(real_file("thumos14/thumos14_actionformer.json")).split("train")
    ids = [v for v, gt in full.videos.items() if len(gt) >= 3][:4]
    return dataclasses.replace(full, table=full.table.select(ids))


def write_features(folder: Path, annotations: Annotations, ext: str = ".npy") -> dict[str, int]:
    """Feature ``t`` of each video is the constant ``t`` (to check which rows a sample holds)."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths = {}
    for vid, gt in annotations.videos.items():
        assert gt.fps is not None
        assert gt.duration_sec is not None
        frames = round(gt.duration_sec * gt.fps)
        length = (frames - CLIP) // STRIDE + 1  # clips that fit in the video
        feats = np.repeat(np.arange(length, dtype=np.float32)[:, None], C, axis=1)
        if ext == ".npy":
            np.save(folder / f"{vid}.npy", feats)
        else:
            torch.save(torch.from_numpy(feats), folder / f"{vid}.pt")
        lengths[vid] = length
    return lengths


def actionformer_grid(seconds: torch.Tensor, fps: float) -> torch.Tensor:
    # ActionFormer FAQ.md / thumos14.py: (t * fps - 0.5 * num_frames) / feat_stride
    return (seconds * fps - 0.5 * CLIP) / STRIDE


@pytest.mark.data
@pytest.mark.parametrize("ext", [".npy", ".pt"])
def test_full_sequence_grid_matches_actionformer(
    thumos: Annotations, tmp_path: Path, ext: str
) -> None:
    lengths = write_features(tmp_path, thumos, ext)
    ds = FeatureDataset(thumos, tmp_path, feat_stride=STRIDE, num_frames=CLIP, ext=ext)
    assert len(ds) == len(thumos.videos)
    for i in range(len(ds)):
        sample = ds[i]
        gt = thumos.videos[sample.video_id]
        assert gt.fps is not None
        n = lengths[sample.video_id]
        assert sample.inputs.shape == (C, n)  # (C, T)
        assert torch.equal(sample.inputs[3], torch.arange(n, dtype=torch.float32))
        assert sample.mask.all()
        torch.testing.assert_close(
            sample.segments.tensor, actionformer_grid(gt.segments.tensor, gt.fps)
        )
        assert sample.grid_stride_sec == pytest.approx(STRIDE / gt.fps)
        assert sample.grid_offset_sec == pytest.approx(0.5 * CLIP / gt.fps)
        torch.testing.assert_close(sample.to_seconds(sample.segments).tensor, gt.segments.tensor)
        assert torch.equal(sample.labels, gt.labels)


@pytest.mark.data
def test_truncation_windows_and_thresh(thumos: Annotations, tmp_path: Path) -> None:
    lengths = write_features(tmp_path, thumos)
    config = RandomTruncation(256, 0.5, crop_ratio=(0.9, 1.0))
    ds = FeatureDataset(
        thumos, tmp_path, feat_stride=STRIDE, num_frames=CLIP, sampling=config, seed=3
    )
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            sample = ds[i]
            gt = thumos.videos[sample.video_id]
            assert gt.fps is not None
            assert sample.inputs.shape == (C, 256)
            start = round((sample.grid_offset_sec * gt.fps - 0.5 * CLIP) / STRIDE)
            assert lengths[sample.video_id] > 256  # long videos: full windows, no crop
            assert torch.equal(sample.inputs[0], torch.arange(start, start + 256).float())
            grid = actionformer_grid(gt.segments.tensor, gt.fps) - start
            inside = (grid[:, 1].clamp(max=256) - grid[:, 0].clamp(min=0)).clamp(min=0)
            keep = inside / (grid[:, 1] - grid[:, 0]) >= 0.5
            assert keep.any()
            torch.testing.assert_close(sample.segments.tensor, grid[keep].clamp(0, 256))
            assert torch.equal(sample.labels, gt.labels[keep])


@pytest.mark.data
def test_sliding_windows_over_features(thumos: Annotations, tmp_path: Path) -> None:
    lengths = write_features(tmp_path, thumos)
    ds = FeatureDataset(
        thumos, tmp_path, feat_stride=STRIDE, num_frames=CLIP, sampling=SlidingWindows(200, 0.25)
    )
    seen: dict[str, torch.Tensor] = {
        v: torch.zeros(n, dtype=torch.bool) for v, n in lengths.items()
    }
    for i in range(len(ds)):
        sample = ds[i]
        valid = sample.inputs[0][sample.mask].long()
        assert torch.equal(valid, torch.arange(int(valid[0]), int(valid[0]) + len(valid)))
        assert (sample.inputs[:, ~sample.mask] == 0).all()  # padding is zeros
        seen[sample.video_id][valid] = True
        gt = thumos.videos[sample.video_id]
        back = sample.to_seconds(sample.segments).tensor
        # each target is an annotated instance, unclipped
        dist = (back[:, None, :] - gt.segments.tensor[None]).abs().amax(-1).amin(-1)
        assert (dist < 1e-9).all()
    assert all(s.all() for s in seen.values())


def test_fps_required_and_feature_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "a.json"
    path.write_text(
        '{"database": {"a": {"subset": "train", "duration": 10.0, "annotations": '
        '[{"label": "X", "segment": [1.0, 2.0]}]}, "b": {"subset": "train", "duration": 10.0, '
        '"annotations": [{"label": "X", "segment": [3.0, 4.0]}]}}}'
    )
    ann = load_annotations(path)
    feats = tmp_path / "feats"
    feats.mkdir()
    np.save(feats / "a.npy", np.zeros((70, 4), dtype=np.float32))
    (feats / "b.npy").write_bytes(b"not a numpy file")
    with pytest.raises(DataError, match="no fps"):
        FeatureDataset(ann, feats, feat_stride=4, num_frames=16)
    ds = FeatureDataset(ann, feats, feat_stride=4, num_frames=16, fps=30.0)
    assert ds[0].fps == 30.0
    with pytest.raises(DataError, match=r"b\.npy: not a NumPy \.npy file"):
        ds[1]
    lenient = FeatureDataset(ann, feats, feat_stride=4, num_frames=16, fps=30.0, on_error="skip")
    with caplog.at_level(logging.WARNING):
        assert lenient[1].video_id == "a"
    assert "b.npy" in caplog.text


def test_load_features_validates_shape(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((5,), dtype=np.float32))
    with pytest.raises(DataError, match=r"x\.npy: features must be \(T, C\)"):
        load_features(tmp_path / "x.npy")
    with pytest.raises(DataError, match=r"x\.npy: features must be \(T, C\)"):
        feature_length(tmp_path / "x.npy")
    torch.save({"feats": torch.zeros(3, 2)}, tmp_path / "y.pt")
    with pytest.raises(DataError, match="expected a tensor"):
        load_features(tmp_path / "y.pt")
    np.save(tmp_path / "z.npy", np.ones((7, 3), dtype=np.float64))
    assert feature_length(tmp_path / "z.npy") == 7
    assert load_features(tmp_path / "z.npy").dtype == torch.float32
