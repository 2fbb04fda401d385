"""Tests for tadapt.io.video: frame-exact random access against a full sequential decode.

The reference is a plain PyAV pass over the whole file (``container.decode``), which defines
frame ``i``. Generated videos stamp each frame's index into 10 black/white blocks so that a
read can be checked against the index it asked for, independently of any decoder.
"""

from __future__ import annotations

import functools
import math
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from real_data import real_file
from tadapt.io import decoder
from tadapt.io.video import VideoError, VideoReader, probe_video, uniform_indices

CLIPS = ["kinetics_clip_300f.mp4", "clip_164f.avi", "clip_32f.mp4"]
BITS, BLOCK = 10, 16  # frame index stamped as 10 blocks of 16x16 px in the top rows


@functools.cache
def _sequential(path: str) -> np.ndarray:
    """Every frame of ``path`` by one plain PyAV decode pass ``(N, H, W, 3)``, up to an error."""
    frames = []
    with av.open(path) as container:
        try:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
        except av.FFmpegError:  # a truncated file: keep what decoded before the cut
            pass
    return np.stack(frames)


def _clip(name: str) -> str:
    return str(real_file(f"videos/{name}"))


def _stamp(index: int, height: int, width: int) -> np.ndarray:
    """A frame whose top rows encode ``index`` in binary, over a gradient."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[...] = np.linspace(40, 200, width, dtype=np.uint8)[None, :, None]
    for b in range(BITS):
        row, col = divmod(b, width // BLOCK)
        value = 235 if index >> b & 1 else 20
        frame[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = value
    return frame


def _read_stamp(frame: np.ndarray | torch.Tensor) -> int:
    frame = np.asarray(frame)
    width = frame.shape[1]
    index = 0
    for b in range(BITS):
        row, col = divmod(b, width // BLOCK)
        centre = frame[
            row * BLOCK + 4 : (row + 1) * BLOCK - 4, col * BLOCK + 4 : (col + 1) * BLOCK - 4
        ]
        index |= int(centre.mean() > 128) << b
    return index


def _write(
    path: Path,
    pts: list[int],
    *,
    size: tuple[int, int] = (64, 96),
    gop: int = 12,
    time_base: Fraction = Fraction(1, 1000),
    rotation: int = 0,
    options: dict[str, str] | None = None,
) -> Path:
    """An H.264 mp4 (with B-frames) whose frame ``i`` has timestamp ``pts[i]`` and stamp ``i``."""
    height, width = size
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.time_base = time_base
        stream.codec_context.gop_size = gop
        if rotation:
            stream.set_display_rotation(rotation)
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(_stamp(i, height, width), format="rgb24")
            frame.pts, frame.time_base = p, time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# ---------------------------------------------------------------- metadata


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "frames", "fps", "duration", "codec", "audio", "size", "time_base", "vfr"),
    [
        ("kinetics_clip_300f.mp4", 300, 30.0, 10.0, "h264", False, (340, 256), "1/15360", False),
        ("clip_164f.avi", 164, 25.0, 6.56, "mpeg4", True, (320, 240), "1/25", False),
        # its last pts step is doubled (16384 - 15360 = 2 x 512): a dropped frame, not VFR
        ("clip_32f.mp4", 32, 30.0, 1.1, "h264", False, (340, 256), "1/15360", False),
    ],
)
def test_probe_real_clips(
    name: str,
    frames: int,
    fps: float,
    duration: float,
    codec: str,
    audio: bool,
    size: tuple[int, int],
    time_base: str,
    vfr: bool,
) -> None:
    info = probe_video(_clip(name))
    assert info.path == _clip(name)
    assert info.num_frames == frames == len(_sequential(_clip(name)))
    assert info.fps == pytest.approx(fps)
    assert info.duration_sec == pytest.approx(duration)
    assert (info.codec, info.has_audio, (info.width, info.height)) == (codec, audio, size)
    assert info.time_base == Fraction(time_base)
    assert (info.start_time_sec, info.rotation, info.variable_frame_rate) == (0.0, 0, vfr)


# ---------------------------------------------------------------- frame-exact reads


@pytest.mark.data
@pytest.mark.parametrize("name", CLIPS)
def test_random_reads_match_sequential_decode(name: str) -> None:
    ref = _sequential(_clip(name))
    n = len(ref)
    rng = np.random.default_rng(0)
    with VideoReader(_clip(name)) as reader:
        for size in (7, 40):  # unsorted, with repeats
            idx = rng.integers(0, n, size)
            np.testing.assert_array_equal(reader.read_frames(idx.tolist()).numpy(), ref[idx])
        backwards = torch.arange(n - 1, -1, -1)
        np.testing.assert_array_equal(reader.read_frames(backwards).numpy(), ref[::-1])
        repeated = [5, 5, n - 1, 0, 5, n - 1]
        np.testing.assert_array_equal(reader.read_frames(repeated).numpy(), ref[repeated])
        assert reader.read_frames([]).shape == (0, *ref.shape[1:])


@pytest.mark.data
def test_disorder_found_after_the_probe_falls_back_to_sequential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # the AVI's decoder pts go 1, 2, 4, 3, ...; with a 2-frame probe check the disorder is
    # only met while reading, which must switch the reader to counting frames
    path = tmp_path / "clip.avi"  # a new path: a fresh index
    shutil.copyfile(_clip("clip_164f.avi"), path)
    monkeypatch.setattr(decoder, "_CHECK_FRAMES", 2)
    ref = _sequential(_clip("clip_164f.avi"))
    with VideoReader(path) as reader:
        np.testing.assert_array_equal(
            reader.read_frames([3, 100, 2, 50]).numpy(), ref[[3, 100, 2, 50]]
        )
        np.testing.assert_array_equal(reader.read_frames(range(164)).numpy(), ref)
    assert "reading sequentially" in caplog.text


@pytest.mark.data
@pytest.mark.parametrize("name", CLIPS)
@pytest.mark.parametrize("stride", [1, 2, 4])
def test_windows_match_sequential_decode(name: str, stride: int) -> None:
    ref = _sequential(_clip(name))
    n = len(ref)
    with VideoReader(_clip(name)) as reader:
        for start in (n // 2, 0, n - 20, n - 1):  # forward, backward, past the end
            frames, mask = reader.read_window(start, 16, stride)
            positions = start + stride * np.arange(16)
            assert frames.dtype == torch.uint8
            assert mask.dtype == torch.bool
            np.testing.assert_array_equal(mask.numpy(), positions < n)
            np.testing.assert_array_equal(frames.numpy(), ref[np.minimum(positions, n - 1)])


@pytest.mark.data
def test_window_longer_than_video_is_masked() -> None:
    ref = _sequential(_clip("clip_32f.mp4"))
    with VideoReader(_clip("clip_32f.mp4")) as reader:
        frames, mask = reader.read_window(0, 64)
    assert frames.shape == (64, 256, 340, 3)
    assert mask[:32].all()
    assert not mask[32:].any()
    np.testing.assert_array_equal(frames[:32].numpy(), ref)
    np.testing.assert_array_equal(
        frames[32:].numpy(), np.broadcast_to(ref[31], (32, *ref.shape[1:]))
    )


def test_mid_stream_keyframes_and_seek_economy(tmp_path: Path) -> None:
    video = _write(tmp_path / "gop.mp4", [33 * i for i in range(120)], gop=10)
    ref = _sequential(str(video))
    assert [_read_stamp(f) for f in ref] == list(range(120))  # the stamps survive encoding
    with av.open(str(video)) as container:
        keyframes = sum(p.is_keyframe for p in container.demux(video=0))
    assert keyframes >= 10
    with VideoReader(video) as reader:
        reader.read_window(0, 8)
        reader.read_window(8, 8)  # continues where the last read stopped
        reader.read_frames([17, 18])  # same GOP, still forward
        assert reader.num_seeks == 0
        frames = reader.read_frames([95, 3, 64, 64, 119, 40])
        assert [_read_stamp(f) for f in frames] == [95, 3, 64, 64, 119, 40]
        # sorted: 3 (back: seek), 40, 64, 95 (keyframes between: seek each), 119 (seek)
        assert reader.num_seeks == 5
        rng = np.random.default_rng(1)
        for _ in range(5):
            idx = rng.integers(0, 120, 30)
            got = reader.read_frames(idx)
            assert [_read_stamp(f) for f in got] == idx.tolist()
            np.testing.assert_array_equal(got.numpy(), ref[idx])


@pytest.mark.data
def test_read_uniform_bin_centres() -> None:
    for length, num in [(300, 7), (32, 100), (5, 5), (1, 3)]:
        expected = [math.floor((k + 0.5) * length / num) for k in range(num)]
        assert uniform_indices(length, num).tolist() == expected
    ref = _sequential(_clip("clip_32f.mp4"))
    with VideoReader(_clip("clip_32f.mp4")) as reader:
        frames = reader.read_uniform(100)  # more frames than the video has: repeats
    np.testing.assert_array_equal(frames.numpy(), ref[uniform_indices(32, 100).numpy()])
    with pytest.raises(ValueError, match="num >= 1"):
        uniform_indices(10, 0)


# ---------------------------------------------------------------- size, rotation, timing


@pytest.mark.data
def test_short_side_resize() -> None:
    path = _clip("kinetics_clip_300f.mp4")
    ref = _sequential(path)
    with VideoReader(path, short_side=128) as reader:
        assert reader.output_size == (128, 170)  # 340 * 128 / 256 = 170
        frames = reader.read_frames([0, 150, 299])
        window, _ = reader.read_window(10, 4, 2)
    assert frames.shape == (3, 128, 170, 3)
    # close to an independent antialiased bilinear resize of the full-size frames
    full = torch.from_numpy(ref[[0, 150, 299]]).permute(0, 3, 1, 2).float()
    small = F.interpolate(full, size=(128, 170), mode="bilinear", antialias=True)
    diff = (frames.permute(0, 3, 1, 2).float() - small).abs().mean()
    assert diff < 3.0, diff
    with VideoReader(path, short_side=128) as reader:
        np.testing.assert_array_equal(window.numpy(), reader.read_frames([10, 12, 14, 16]).numpy())


def test_portrait_short_side_rounding(tmp_path: Path) -> None:
    video = _write(tmp_path / "portrait.mp4", [33 * i for i in range(4)], size=(96, 64))
    with VideoReader(video, short_side=37) as reader:  # 96 * 37 / 64 = 55.5 -> 56
        assert reader.output_size == (56, 37)
        assert reader.read_frames([1]).shape == (1, 56, 37, 3)


def test_rotation_is_applied(tmp_path: Path) -> None:
    video = _write(tmp_path / "rot.mp4", [33 * i for i in range(6)], rotation=90)
    info = probe_video(video)
    assert (info.rotation, info.width, info.height) == (90, 96, 64)  # stored landscape
    ref = _sequential(str(video))
    with VideoReader(video) as reader:
        assert reader.output_size == (96, 64)  # displayed portrait
        frames = reader.read_frames([0, 5]).numpy()
    np.testing.assert_array_equal(frames, np.rot90(ref[[0, 5]], 1, axes=(1, 2)))
    # counter-clockwise: the stored top-left stamp block ends up bottom-left
    assert frames[0, -BLOCK + 4 :, 4 : BLOCK - 4].mean() < 60  # bit 0 of frame 0 is dark
    assert frames[1, -BLOCK + 4 :, 4 : BLOCK - 4].mean() > 180  # bit 0 of frame 5 is bright


def test_variable_frame_rate(tmp_path: Path) -> None:
    pts = [0, 33, 50, 120, 130, 200, 260, 300, 400, 410, 420, 430, 520, 560, 600, 640]
    video = _write(tmp_path / "vfr.mp4", pts, gop=5)
    info = probe_video(video)
    assert info.variable_frame_rate
    assert info.num_frames == len(pts)
    duration = (pts[-1] + np.median(np.diff(pts))) / 1000
    assert info.duration_sec == pytest.approx(duration, abs=1e-3)
    assert info.fps == pytest.approx(len(pts) / duration, rel=1e-3)  # the average rate
    with VideoReader(video) as reader:
        order = [15, 2, 9, 0, 11, 3, 3]
        assert [_read_stamp(f) for f in reader.read_frames(order)] == order


def test_start_time_offset(tmp_path: Path) -> None:
    video = _write(tmp_path / "offset.mp4", [2000 + 40 * i for i in range(30)], gop=8)
    info = probe_video(video)
    assert info.start_time_sec == pytest.approx(2.0, abs=1e-3)
    assert (info.num_frames, info.variable_frame_rate) == (30, False)
    assert info.fps == pytest.approx(25.0, rel=1e-3)
    with VideoReader(video) as reader:
        frames, mask = reader.read_window(0, 10, 3)
    assert [_read_stamp(f) for f in frames] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
    assert mask.all()


# ---------------------------------------------------------------- errors


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    for path, message in [
        (tmp_path / "missing.mp4", "no such file"),
        (text, "cannot open as a video"),
        (tmp_path, "is a directory"),
    ]:
        with pytest.raises(VideoError, match=message) as err:
            probe_video(path)
        assert str(err.value).startswith(str(path))
        assert err.value.path == str(path)
        with pytest.raises(VideoError, match=message):
            VideoReader(path)


@pytest.mark.data
def test_truncated_mp4_without_index(tmp_path: Path) -> None:
    data = real_file("videos/kinetics_clip_300f.mp4").read_bytes()  # moov atom at the end
    half = tmp_path / "half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match=r"half\.mp4: cannot open as a video"):
        probe_video(half)


@pytest.mark.data
def test_truncated_avi_counts_surviving_frames(tmp_path: Path) -> None:
    data = real_file("videos/clip_164f.avi").read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    info = probe_video(half)
    # the cut last packet is flagged corrupt and not counted; the header still says 164
    assert (info.num_frames, info.has_audio) == (76, True)
    ref = _sequential(str(half))
    with VideoReader(half) as reader:
        np.testing.assert_array_equal(reader.read_frames(range(76)).numpy(), ref[:76])
        with pytest.raises(VideoError, match=r"half\.avi: frame index 76 outside \[0, 76\)"):
            reader.read_frames([76])


@pytest.mark.data
def test_truncated_mp4_with_index_up_front(tmp_path: Path) -> None:
    # remux the real clip with its index first (faststart), then cut it: the demuxer lists
    # the surviving packets, but frames that depend on the cut one cannot be decoded
    faststart = tmp_path / "fs.mp4"
    with (
        av.open(_clip("kinetics_clip_300f.mp4")) as src,
        av.open(str(faststart), "w", options={"movflags": "faststart"}) as dst,
    ):
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    data = faststart.read_bytes()
    half = tmp_path / "fs_half.mp4"
    half.write_bytes(data[: len(data) // 2])
    info = probe_video(half)
    ref = _sequential(str(half))  # the plain decode stops at the cut packet
    assert len(ref) <= info.num_frames < 300
    with VideoReader(half) as reader:
        np.testing.assert_array_equal(reader.read_frames(range(len(ref))).numpy(), ref)
        if len(ref) < info.num_frames:
            with pytest.raises(VideoError, match=r"fs_half\.mp4: cannot decode frame"):
                reader.read_frames(range(info.num_frames))
            # the reader recovers: earlier frames still read fine after the error
            np.testing.assert_array_equal(reader.read_frames([0, 7]).numpy(), ref[[0, 7]])


@pytest.mark.data
def test_bad_arguments_name_the_file() -> None:
    path = _clip("clip_32f.mp4")
    with pytest.raises(VideoError, match="short_side must be >= 1"):
        VideoReader(path, short_side=0)
    reader = VideoReader(path)
    for call, message in [
        (lambda: reader.read_frames([0, 32]), r"frame index 32 outside \[0, 32\)"),
        (lambda: reader.read_frames(torch.tensor([-1])), r"frame index -1 outside"),
        (lambda: reader.read_window(-1, 8), "window start -1 outside"),
        (lambda: reader.read_window(32, 8), "window start 32 outside"),
        (lambda: reader.read_window(0, 8, 0), "stride >= 1"),
        (lambda: reader.read_window(0, 0), "num_frames >= 1"),
        (lambda: reader.read_uniform(0), "num_frames >= 1"),
    ]:
        with pytest.raises(VideoError, match=message) as err:
            call()
        assert str(err.value).startswith(path)
    reader.close()
    with pytest.raises(VideoError, match="reader is closed"):
        reader.read_frames([0])
