"""Frame datasets on real decoding: tiny videos written here with PyAV, and the real clips."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from real_data import real_file
from tadapt.data import (
    RandomTruncation,
    Resize,
    SlidingWindows,
    VideoDataset,
    eval_transforms,
    uniform_frame_indices,
)
from tadapt.io import load_annotations
from tadapt.io.frame_cache import FrameCache
from tadapt.io.video import VideoError, VideoReader
from tadapt.structures import VideoSample

FPS = 15


def write_grey_video(path: Path, num_frames: int) -> None:
    """64x48 H.264 whose frame ``k`` is uniformly grey at level ``4 k + 10``."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast", "g": "8"}
        for k in range(num_frames):
            image = np.full((48, 64, 3), 4 * k + 10, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def decoded_indices(sample: VideoSample) -> torch.Tensor:
    """Frame index of each position, from its grey level (H.264 keeps it within +-1)."""
    level = sample.inputs.mean(dim=(0, 2, 3)) * 255
    return ((level - 10) / 4).round().long()


def write_annotations(path: Path, videos: dict[str, tuple[float, float, list]]) -> Path:
    database = {
        vid: {
            "subset": "test",
            "duration": duration,
            "fps": fps,
            "annotations": [
                {"label": lab, "segment": [s, e], "label_id": ["A", "B"].index(lab)}
                for s, e, lab in instances
            ],
        }
        for vid, (duration, fps, instances) in videos.items()
    }
    path.write_text(json.dumps({"version": "test", "database": database}))
    return path


@pytest.fixture(scope="module")
def grey(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("grey")
    (root / "videos").mkdir()
    write_grey_video(root / "videos" / "g45.mp4", 45)
    write_grey_video(root / "videos" / "g14.mp4", 14)  # 7 positions at stride 2: one window
    ann = write_annotations(
        root / "ann.json",
        {
            "g45": (3.0, FPS, [(0.5, 1.2, "A"), (1.0, 2.5, "B")]),
            "g14": (14 / FPS, FPS, [(0.2, 0.9, "A")]),
        },
    )
    return ann, root / "videos"


def test_sliding_windows_read_the_right_frames(grey: tuple[Path, Path]) -> None:
    ann_path, videos = grey
    ann = load_annotations(ann_path)
    ds = VideoDataset(ann, videos, SlidingWindows(8, 0.5), frame_stride=2)
    # g45: 23 positions -> windows at 0, 4, 8, 12 and the last aligned at 15; g14: one, padded
    assert [ds.item_info(i)[1].start for i in range(len(ds))] == [0, 4, 8, 12, 15, 0]  # type: ignore[union-attr]
    covered = {"g45": torch.zeros(45, dtype=torch.bool), "g14": torch.zeros(14, dtype=torch.bool)}
    for i in range(len(ds)):
        sample = ds[i]
        n = 45 if sample.video_id == "g45" else 14
        first = round(sample.grid_offset_sec * FPS)
        valid = int(sample.mask.sum())
        expected = (first + 2 * torch.arange(8)).clamp(max=min(first + 2 * (valid - 1), n - 1))
        assert torch.equal(decoded_indices(sample), expected)
        covered[sample.video_id][first : first + 2 * valid] = True
        gt = ann.videos[sample.video_id]
        t0, t1 = sample.grid_offset_sec, sample.grid_offset_sec + valid * sample.grid_stride_sec
        hit = (gt.segments.ends > t0) & (gt.segments.starts < t1)
        back = sample.to_seconds(sample.segments).tensor
        torch.testing.assert_close(back, gt.segments.tensor[hit])
    assert all(c.all() for c in covered.values())


def test_truncation_and_resize_on_decoded_frames(grey: tuple[Path, Path]) -> None:
    ann_path, videos = grey
    ann = load_annotations(ann_path).split("test")
    trunc = VideoDataset(ann, videos, RandomTruncation(8, 0.75), frame_stride=2, seed=4)
    for epoch in range(3):
        trunc.set_epoch(epoch)
        sample = trunc[0]  # g45
        first = round(sample.grid_offset_sec * FPS)
        assert torch.equal(decoded_indices(sample), first + 2 * torch.arange(8))
        assert len(sample.labels) >= 1
    short = trunc[1]  # g14: 7 positions, padded to 8 with the last frame
    assert short.mask.tolist() == [True] * 7 + [False]
    assert decoded_indices(short).tolist() == [0, 2, 4, 6, 8, 10, 12, 12]
    resize = VideoDataset(ann, videos, Resize(12, 0.0))
    for i, n in enumerate((45, 14)):
        sample = resize[i]
        assert torch.equal(decoded_indices(sample), uniform_frame_indices(n, 12))
        assert sample.grid_stride_sec == pytest.approx(n / FPS / 12)
        gt = ann.videos[sample.video_id]
        torch.testing.assert_close(sample.to_seconds(sample.segments).tensor, gt.segments.tensor)


def test_frame_cache_gives_the_same_samples(grey: tuple[Path, Path], tmp_path: Path) -> None:
    ann_path, videos = grey
    ann = load_annotations(ann_path)
    plain = VideoDataset(ann, videos, SlidingWindows(8, 0.5), frame_stride=2, short_side=32)
    cached = VideoDataset(
        ann,
        videos,
        SlidingWindows(8, 0.5),
        frame_stride=2,
        short_side=32,
        cache=FrameCache(tmp_path / "cache"),
    )
    for _ in range(2):  # the first pass fills the cache, the second reads it
        for i in range(len(plain)):
            a, b = plain[i], cached[i]
            assert a.inputs.shape == (3, 8, 32, 43)
            torch.testing.assert_close(a.inputs, b.inputs)
    assert any((tmp_path / "cache").rglob("*"))


def test_corrupt_video_names_the_file(
    grey: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ann_path, videos = grey
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "g45.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    (folder / "g14.mp4").write_bytes((videos / "g14.mp4").read_bytes())
    ann = load_annotations(ann_path)
    with pytest.raises(VideoError, match=r"g45\.mp4"):
        VideoDataset(ann, folder, Resize(4))[0]
    with caplog.at_level(logging.WARNING):
        sample = VideoDataset(ann, folder, Resize(4), on_error="skip")[0]
    assert sample.video_id == "g14"
    assert "g45.mp4" in caplog.text


@pytest.mark.data
def test_real_clips_through_eval_transforms(tmp_path: Path) -> None:
    folder = real_file("videos/kinetics_clip_300f.mp4").parent
    ann_path = write_annotations(
        tmp_path / "clips.json",
        {
            "kinetics_clip_300f": (10.0, 30.0, [(1.0, 4.0, "A"), (6.0, 9.5, "B")]),
            "clip_164f": (6.56, 25.0, [(0.5, 3.0, "B")]),
            "clip_32f": (1.07, 30.0, [(0.1, 0.6, "A")]),
        },
    )
    ann = load_annotations(ann_path)
    ds = VideoDataset(
        ann,
        folder,
        SlidingWindows(16, 0.0),
        frame_stride=8,
        transform=eval_transforms(160),
        exts=(".mp4", ".avi"),
        short_side=160,  # decoded straight to the short side; the resize is then a no-op
    )
    per_video: dict[str, int] = {}
    for i in range(len(ds)):
        sample = ds[i]
        assert sample.inputs.shape == (3, 16, 160, 160)
        assert torch.isfinite(sample.inputs).all()
        per_video[sample.video_id] = per_video.get(sample.video_id, 0) + 1
    # 38, 21 and 4 positions at stride 8: windows of 16, the last aligned to the end
    assert per_video == {"kinetics_clip_300f": 3, "clip_164f": 2, "clip_32f": 1}
    # the same frames as a direct read, transformed the same way
    sample = ds[2]
    first = round(sample.grid_offset_sec * 30)
    assert first == (38 - 16) * 8
    with VideoReader(folder / "kinetics_clip_300f.mp4", short_side=160) as reader:
        direct = eval_transforms(160)(reader.read_frames(list(range(first, first + 128, 8))))
    torch.testing.assert_close(sample.inputs, direct)
