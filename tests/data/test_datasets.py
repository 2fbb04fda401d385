"""Frame datasets on real annotation files with fake decoders: grids, targets, error policies.

The fake decoder encodes the frame index in each frame's pixels (R = k % 256, G = k // 256),
so every test checks *which* frames a sample holds, not only how many.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from real_data import real_file
from tadapt.data import (
    DataError,
    RandomTruncation,
    Resize,
    SlidingWindows,
    VideoDataset,
    find_files,
)
from tadapt.io import Annotations, load_annotations
from tadapt.io.video import VideoError
from tadapt.structures import VideoSample


@dataclasses.dataclass(frozen=True)
class FakeMeta:
    fps: float
    num_frames: int
    duration_sec: float


class FakeSource:
    def __init__(self, meta: FakeMeta) -> None:
        self._meta = meta

    @property
    def info(self) -> FakeMeta:
        return self._meta

    def read_frames(self, indices: list[int]) -> torch.Tensor:
        idx = torch.tensor(indices, dtype=torch.int64)
        assert (idx >= 0).all()
        assert (idx < self._meta.num_frames).all()
        frames = torch.zeros(len(idx), 4, 6, 3, dtype=torch.uint8)
        frames[..., 0] = (idx % 256).view(-1, 1, 1).to(torch.uint8)
        frames[..., 1] = (idx // 256).view(-1, 1, 1).to(torch.uint8)
        return frames

    def __enter__(self) -> FakeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeVideos:
    """Opener and probe for empty placeholder files, by file stem."""

    def __init__(self, metas: dict[str, FakeMeta], broken: tuple[str, ...] = ()) -> None:
        self.metas = metas
        self.broken = set(broken)

    def probe(self, path: Path) -> FakeMeta:
        if path.stem in self.broken:
            raise VideoError(path, "moov atom not found")
        return self.metas[path.stem]

    def open(self, path: Path) -> FakeSource:
        return FakeSource(self.probe(path))


def frame_indices(sample: VideoSample) -> torch.Tensor:
    """The frame index each position of a ToFloatClip clip came from."""
    r = (sample.inputs[0, :, 0, 0] * 255).round().long()
    g = (sample.inputs[1, :, 0, 0] * 255).round().long()
    return r + 256 * g


def subset(annotations: Annotations, ids: list[str]) -> Annotations:
    return dataclasses.replace(annotations, table=annotations.table.select(ids))


def placeholders(folder: Path, ids: list[str], ext: str = ".mp4") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for vid in ids:
        (folder / f"{vid}{ext}").touch()
    return folder


@pytest.fixture(scope="module")
def thumos_test() -> Annotations:
    return load_annotations(real_file("thumos14/thumos14_actionformer.json")).split("test")


def fake_thumos(annotations: Annotations, tmp_path: Path, n: int) -> tuple[Annotations, FakeVideos]:
    ids = [v for v, gt in annotations.videos.items() if len(gt) >= 3][:n]
    placeholders(tmp_path, ids)
    metas = {}
    for vid in ids:
        gt = annotations.videos[vid]
        assert gt.fps is not None
        assert gt.duration_sec is not None
        metas[vid] = FakeMeta(gt.fps, round(gt.duration_sec * gt.fps), gt.duration_sec)
    return subset(annotations, ids), FakeVideos(metas)


def instance_set(seconds: torch.Tensor, labels: torch.Tensor) -> set[tuple[float, float, int]]:
    return {
        (round(float(s), 6), round(float(e), 6), int(lab))
        for (s, e), lab in zip(seconds.tolist(), labels.tolist(), strict=True)
    }


@pytest.mark.data
def test_sliding_windows_cover_videos_and_map_targets_back(
    thumos_test: Annotations, tmp_path: Path
) -> None:
    ann, fake = fake_thumos(thumos_test, tmp_path, 3)
    stride = 4
    ds = VideoDataset(
        ann, tmp_path, SlidingWindows(64, 0.5), frame_stride=stride, opener=fake.open,
        probe=fake.probe,
    )  # fmt: skip
    covered = {vid: torch.zeros(m.num_frames, dtype=torch.bool) for vid, m in fake.metas.items()}
    for i in range(len(ds)):
        sample = ds[i]
        meta = fake.metas[sample.video_id]
        first = round(sample.grid_offset_sec * meta.fps)
        assert sample.grid_stride_sec == pytest.approx(stride / meta.fps)
        valid = int(sample.mask.sum())
        expected = (first + stride * torch.arange(64)).clamp(max=first + stride * (valid - 1))
        assert torch.equal(frame_indices(sample), expected.clamp(max=meta.num_frames - 1))
        covered[sample.video_id][first : first + stride * valid] = True
        # targets: exactly the instances overlapping the window, back in seconds unchanged
        gt = ann.videos[sample.video_id]
        t0, t1 = sample.grid_offset_sec, sample.grid_offset_sec + valid * sample.grid_stride_sec
        hit = (gt.segments.ends > t0) & (gt.segments.starts < t1)
        seconds = sample.to_seconds(sample.segments).tensor
        assert instance_set(seconds, sample.labels) == instance_set(
            gt.segments.tensor[hit], gt.labels[hit]
        )
        assert sample.duration_sec == gt.duration_sec
    for vid, frames in covered.items():
        assert frames.all(), f"{vid}: frames not covered by any window"


@pytest.mark.data
def test_random_truncation_respects_thresh_in_seconds(
    thumos_test: Annotations, tmp_path: Path
) -> None:
    ann, fake = fake_thumos(thumos_test, tmp_path, 3)
    stride = 4
    ds = VideoDataset(
        ann, tmp_path, RandomTruncation(128, 0.75), frame_stride=stride, opener=fake.open,
        seed=1,
    )  # fmt: skip
    assert len(ds) == 3
    starts = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            sample = ds[i]
            gt = ann.videos[sample.video_id]
            assert sample.mask.all()
            t0 = sample.grid_offset_sec
            t1 = t0 + 128 * sample.grid_stride_sec
            starts.add((sample.video_id, round(t0, 6)))
            segs = gt.segments.tensor
            inside = (segs[:, 1].clamp(max=t1) - segs[:, 0].clamp(min=t0)).clamp(min=0)
            keep = inside / (segs[:, 1] - segs[:, 0]) >= 0.75
            assert keep.any()
            expected = segs[keep].clamp(min=t0, max=t1)
            seconds = sample.to_seconds(sample.segments).tensor
            assert instance_set(seconds, sample.labels) == instance_set(expected, gt.labels[keep])
            first = round(t0 * fake.metas[sample.video_id].fps)
            assert torch.equal(frame_indices(sample), first + stride * torch.arange(128))
    assert len(starts) > 6  # windows move between epochs
    ds.set_epoch(2)
    again = ds[0]
    ds.set_epoch(2)
    assert ds[0].grid_offset_sec == again.grid_offset_sec


def test_short_video_is_padded_with_mask(tmp_path: Path) -> None:
    ann = _custom_annotations(tmp_path, {"short": (4.0, [(1.0, 2.0, "Jump")])})
    fake = FakeVideos({"short": FakeMeta(25.0, 100, 4.0)})
    placeholders(tmp_path / "videos", ["short"])
    for sampling in (RandomTruncation(64, 0.75), SlidingWindows(64, 0.5)):
        ds = VideoDataset(
            ann, tmp_path / "videos", sampling, frame_stride=4, opener=fake.open, probe=fake.probe
        )
        sample = ds[0]
        assert sample.inputs.shape[1] == 64
        assert sample.mask.tolist() == [True] * 25 + [False] * 39
        assert frame_indices(sample)[24:].tolist() == [96] * 40  # padding repeats the last frame
        torch.testing.assert_close(sample.segments.tensor, torch.tensor([[6.25, 12.5]]).double())


def _custom_annotations(
    tmp_path: Path, videos: dict[str, tuple[float, list[tuple[float, float, str]]]]
) -> Annotations:
    names = sorted({lab for _, insts in videos.values() for *_, lab in insts})
    database = {
        vid: {
            "subset": "test",
            "duration": duration,
            "fps": 25.0,
            "annotations": [
                {"label": lab, "segment": [s, e], "label_id": names.index(lab)}
                for s, e, lab in insts
            ],
        }
        for vid, (duration, insts) in videos.items()
    }
    path = tmp_path / "custom.json"
    path.write_text(json.dumps({"version": "custom", "database": database}))
    return load_annotations(path)


@pytest.mark.data
def test_resize_mode_on_activitynet(tmp_path: Path) -> None:
    anet = load_annotations(real_file("activitynet/anet_anno_action.json")).split("val")
    ids = [v for v, gt in anet.videos.items() if len(gt) >= 2][:3]
    placeholders(tmp_path, ["v_" + v for v in ids])  # downloaded files keep the v_ prefix
    metas = {}
    for vid in ids:
        d = anet.videos[vid].duration_sec
        assert d is not None
        metas["v_" + vid] = FakeMeta(15.0, round(d * 15), d)
    fake = FakeVideos(metas)
    ds = VideoDataset(subset(anet, ids), tmp_path, Resize(96, 0.0), opener=fake.open)
    for i in range(len(ds)):
        sample = ds[i]
        meta = metas["v_" + sample.video_id]
        n = meta.num_frames
        span = n / meta.fps
        assert sample.grid_stride_sec == pytest.approx(span / 96)
        assert sample.grid_offset_sec == 0.0
        assert sample.mask.all()
        # bin centres (i + 0.5) * n / 96 - 0.5, rounded half-to-even as numpy does
        centres = np.round((np.arange(96) + 0.5) * n / 96 - 0.5).clip(0, n - 1)
        assert frame_indices(sample).tolist() == centres.astype(int).tolist()
        gt = anet.videos[sample.video_id]
        torch.testing.assert_close(sample.segments.tensor, gt.segments.tensor / span * 96)
        seconds = sample.to_seconds(sample.segments).tensor
        torch.testing.assert_close(seconds, gt.segments.tensor)


def test_resize_mode_drops_short_ground_truth(tmp_path: Path) -> None:
    # 0.5 s of a 100 s video is 0.5 % < 1 %: dropped at training, kept with fraction 0
    ann = _custom_annotations(tmp_path, {"vid": (100.0, [(10.0, 10.5, "A"), (20.0, 40.0, "B")])})
    placeholders(tmp_path / "v", ["vid"])
    fake = FakeVideos({"vid": FakeMeta(25.0, 2500, 100.0)})
    train = VideoDataset(ann, tmp_path / "v", Resize(100), opener=fake.open)[0]
    assert train.labels.tolist() == [1]
    torch.testing.assert_close(train.segments.tensor, torch.tensor([[20.0, 40.0]]).double())
    test = VideoDataset(ann, tmp_path / "v", Resize(100, min_gt_fraction=0.0), opener=fake.open)
    assert test[0].labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="frame_stride"):
        VideoDataset(ann, tmp_path / "v", Resize(100), frame_stride=2, opener=fake.open)


@pytest.mark.data
def test_multithumos_keeps_overlapping_labels(tmp_path: Path) -> None:
    multi = load_annotations(real_file("multithumos/multithumos_anno.json"))
    ids = list(multi.videos)[:4]
    placeholders(tmp_path, ids)
    metas = {}
    for vid in ids:
        d = multi.videos[vid].duration_sec
        assert d is not None
        metas[vid] = FakeMeta(30.0, round(d * 30), d)
    fake = FakeVideos(metas)
    big = max(m.num_frames for m in metas.values())  # one window per video
    ds = VideoDataset(
        subset(multi, ids), tmp_path, SlidingWindows(big), opener=fake.open, probe=fake.probe
    )
    assert len(ds) == 4
    overlaps = 0
    for i in range(len(ds)):
        sample = ds[i]
        gt = multi.videos[sample.video_id]
        seconds = sample.to_seconds(sample.segments).tensor
        assert instance_set(seconds, sample.labels) == instance_set(gt.segments.tensor, gt.labels)
        assert len(sample.labels) == len(gt)
        s = sample.segments.tensor
        inter = torch.minimum(s[:, None, 1], s[None, :, 1]) - torch.maximum(
            s[:, None, 0], s[None, :, 0]
        )
        differ = sample.labels[:, None] != sample.labels[None, :]
        overlaps += int(((inter > 0) & differ).sum()) // 2
    assert overlaps > 10  # dense multi-label data: many co-occurring actions, all kept


def test_class_agnostic_labels(tmp_path: Path) -> None:
    ann = _custom_annotations(tmp_path, {"vid": (10.0, [(1.0, 2.0, "A"), (3.0, 4.0, "B")])})
    placeholders(tmp_path / "v", ["vid"])
    fake = FakeVideos({"vid": FakeMeta(25.0, 250, 10.0)})
    ds = VideoDataset(ann, tmp_path / "v", Resize(10, 0.0), opener=fake.open, class_agnostic=True)
    assert ds[0].labels.tolist() == [0, 0]
    assert ds.class_names == ("action",)


def test_missing_videos_reported_at_construction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    videos = {f"vid{i}": (10.0, [(1.0, 2.0, "A")]) for i in range(8)}
    ann = _custom_annotations(tmp_path, videos)
    placeholders(tmp_path / "v", ["vid0", "vid1"])
    fake = FakeVideos({v: FakeMeta(25.0, 250, 10.0) for v in videos})
    with pytest.raises(
        DataError, match=r"6 of 8 videos have no file .* vid2, vid3, vid4, vid5, vid6 and 1 more"
    ):
        VideoDataset(ann, tmp_path / "v", Resize(10), opener=fake.open)
    with caplog.at_level(logging.WARNING):
        ds = VideoDataset(ann, tmp_path / "v", Resize(10), opener=fake.open, on_error="skip")
    assert len(ds) == 2
    assert "6 of 8 videos have no file" in caplog.text


def test_broken_video_raise_or_skip(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ann = _custom_annotations(tmp_path, {v: (10.0, [(1.0, 2.0, "A")]) for v in ("a", "b", "c")})
    folder = placeholders(tmp_path / "v", ["a", "b", "c"])
    fake = FakeVideos({v: FakeMeta(25.0, 250, 10.0) for v in "abc"}, broken=("b",))
    strict = VideoDataset(ann, folder, Resize(10), opener=fake.open)
    with pytest.raises(VideoError, match=r"b\.mp4: moov atom not found"):
        strict[1]
    lenient = VideoDataset(ann, folder, Resize(10), opener=fake.open, on_error="skip")
    with caplog.at_level(logging.WARNING):
        sample = lenient[1]
    assert sample.video_id == "c"
    assert str(folder / "b.mp4") in caplog.text
    # every video broken: a clear error, not an endless loop
    dead = FakeVideos(fake.metas, broken=("a", "b", "c"))
    with pytest.raises(DataError, match="no item"):
        VideoDataset(ann, folder, Resize(10), opener=dead.open, on_error="skip")[0]


def test_unprobeable_video_in_sliding_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ann = _custom_annotations(tmp_path, {v: (10.0, [(1.0, 2.0, "A")]) for v in ("a", "b")})
    folder = placeholders(tmp_path / "v", ["a", "b"])
    fake = FakeVideos({v: FakeMeta(25.0, 250, 10.0) for v in "ab"}, broken=("a",))
    with pytest.raises(VideoError, match=r"a\.mp4"):
        VideoDataset(ann, folder, SlidingWindows(16), opener=fake.open, probe=fake.probe)
    with caplog.at_level(logging.WARNING):
        ds = VideoDataset(
            ann, folder, SlidingWindows(16), opener=fake.open, probe=fake.probe, on_error="skip"
        )
    assert {ds.item_info(i)[0] for i in range(len(ds))} == {"b"}
    assert "a.mp4" in caplog.text


def test_find_files_extensions_prefix_and_subfolders(tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "x_vid1.MP4").touch()
    (tmp_path / "x_vid2.avi").touch()
    (tmp_path / "x_vid2.mp4").touch()
    (tmp_path / "x_v_abc.mkv").touch()
    found, missing = find_files(
        tmp_path, ["vid1", "vid2", "abc", "nope"], exts=".mp4,avi,.mkv", prefix="x_"
    )
    assert found == {
        "vid1": tmp_path / "test" / "x_vid1.MP4",
        "vid2": tmp_path / "x_vid2.mp4",  # earlier extensions win
        "abc": tmp_path / "x_v_abc.mkv",  # ActivityNet's v_ prefix
    }
    assert missing == ["nope"]
    with pytest.raises(DataError, match="not a directory"):
        find_files(tmp_path / "absent", ["a"])
