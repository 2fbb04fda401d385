"""Tests for tadapt.io.frame_cache: content, reuse, invalidation, damage, two racing processes."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from real_data import real_file
from tadapt.io.frame_cache import FrameCache
from tadapt.io.video import VideoError, VideoReader, probe_video


def _sequential(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames of ``path`` by a plain PyAV pass, optionally resized (bilinear) to (H, W)."""
    kwargs = {} if size is None else {"height": size[0], "width": size[1]}
    with av.open(str(path)) as container:
        return np.stack(
            [
                f.to_ndarray(format="rgb24", interpolation="BILINEAR", **kwargs)
                for f in container.decode(video=0)
            ]
        )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A private copy of the 32-frame clip (tests rewrite it)."""
    path = tmp_path / "videos" / "clip.mp4"
    path.parent.mkdir()
    shutil.copyfile(real_file("videos/clip_32f.mp4"), path)
    return path


def _files(root: Path, suffix: str) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix == suffix)


@pytest.mark.data
@pytest.mark.parametrize(("short_side", "size"), [(None, (256, 340)), (64, (64, 85))])
def test_frames_match_decoding_and_are_reused(
    clip: Path, tmp_path: Path, short_side: int | None, size: tuple[int, int]
) -> None:
    root = tmp_path / "cache"
    cache = FrameCache(root)
    frames = cache.frames(clip, short_side)
    assert isinstance(frames, np.memmap)
    assert not frames.flags.writeable
    assert frames.shape == (32, *size, 3)
    np.testing.assert_array_equal(frames, _sequential(clip, size))
    assert cache.num_fills == 1
    again = FrameCache(root)  # a later epoch / another worker
    np.testing.assert_array_equal(again.frames(clip, short_side), frames)
    assert again.num_fills == 0
    meta = json.loads(_files(root, ".json")[0].read_text())
    assert meta["key"]["source"] == os.path.realpath(clip)
    assert meta["key"]["short_side"] == short_side


@pytest.mark.data
def test_reader_serves_reads_from_the_cache(clip: Path, tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "cache")
    with (
        VideoReader(clip, short_side=64) as plain,
        VideoReader(clip, short_side=64, cache=cache) as cached,
    ):
        assert cached.info == plain.info == probe_video(clip)
        assert cached.output_size == plain.output_size == (64, 85)
        for indices in ([31, 0, 5, 5], list(range(32))):
            np.testing.assert_array_equal(
                cached.read_frames(indices).numpy(), plain.read_frames(indices).numpy()
            )
        for got, want in zip(
            cached.read_window(20, 16, 2), plain.read_window(20, 16, 2), strict=True
        ):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(
            cached.read_uniform(50).numpy(), plain.read_uniform(50).numpy()
        )
        with pytest.raises(VideoError, match=r"clip\.mp4: frame index 32 outside"):
            cached.read_frames([32])
    assert cache.num_fills == 1


@pytest.mark.data
def test_rewritten_source_is_decoded_again(clip: Path, tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = FrameCache(root)
    assert cache.frames(clip, 64).shape == (32, 64, 85, 3)
    shutil.copyfile(real_file("videos/clip_164f.avi"), clip)  # same path, another video
    second = cache.frames(clip, 64)
    assert cache.num_fills == 2
    assert second.shape == (164, 64, 85, 3)  # 320x240 -> 85.3x64
    np.testing.assert_array_equal(second, _sequential(clip, (64, 85)))
    assert len(_files(root, ".npy")) == 1  # the stale entry is gone
    # a touch (new mtime, same bytes) also invalidates: the cache cannot tell it is the same
    st = clip.stat()
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    cache.frames(clip, 64)
    assert cache.num_fills == 3


@pytest.mark.data
def test_settings_change_makes_a_second_entry(clip: Path, tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "cache")
    small = cache.frames(clip, 32)
    large = cache.frames(clip, 64)
    assert (small.shape, large.shape) == ((32, 32, 43, 3), (32, 64, 85, 3))
    assert cache.frames(clip, 32).shape == small.shape  # both entries kept
    assert cache.num_fills == 2
    assert len(_files(cache.root, ".npy")) == 2


@pytest.mark.data
def test_damaged_entry_is_refilled(
    clip: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FrameCache(tmp_path / "cache")
    cache.frames(clip, 32)
    _files(cache.root, ".json")[0].write_text("{not json")
    frames = cache.frames(clip, 32)
    assert "damaged" in caplog.text
    assert cache.num_fills == 2
    np.testing.assert_array_equal(frames, _sequential(clip, (32, 43)))


def test_missing_video_and_clear(tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "cache")
    with pytest.raises(VideoError, match=r"gone\.mp4: no such file"):
        cache.frames(tmp_path / "gone.mp4", 64)
    assert cache.clear() == 0


@pytest.mark.data
def test_clear_removes_only_cache_files(clip: Path, tmp_path: Path) -> None:
    cache = FrameCache(tmp_path / "cache")
    cache.frames(clip, 32)
    (cache.root / "notes.txt").write_text("mine")
    assert cache.clear() == 3  # .npy, .json, .lock
    assert [p.name for p in cache.root.iterdir()] == ["notes.txt"]


def _race(root: str, video: str, barrier: Any, queue: Any) -> None:
    """One worker: wait for the other, then ask the shared cache for the same entry."""
    cache = FrameCache(root)
    barrier.wait()
    frames = cache.frames(video, 48)
    queue.put((cache.num_fills, hashlib.sha256(frames.tobytes()).hexdigest()))


@pytest.mark.data
def test_two_processes_racing_decode_once(clip: Path, tmp_path: Path) -> None:
    # forked, as DataLoader workers are on Linux
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    root = str(tmp_path / "cache")
    workers = [ctx.Process(target=_race, args=(root, str(clip), barrier, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=240) for _ in workers]  # generous: CI machines may be loaded
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    fills, digests = zip(*results, strict=True)
    assert sorted(fills) == [0, 1]  # one decoded, the other waited and mapped the result
    expected = hashlib.sha256(_sequential(clip, (48, 64)).tobytes()).hexdigest()
    assert digests == (expected, expected)
    assert len(_files(tmp_path / "cache", ".npy")) == 1
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp.npy")]
