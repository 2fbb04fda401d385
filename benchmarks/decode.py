"""Decoding speed: window reads with a plain VideoReader (cold decode) vs the frame cache.

Generates (once per work dir) a synthetic 5-minute 320x240 30-fps H.264 video with PyAV -- a
scrolling noise texture, moving shapes and per-frame grain, so it is not trivially
compressible; libx264 ``veryfast`` with its defaults: keyframe every 250 frames, B-frames) --
then, in one run, measures frames/s of

* random windows: ``--windows`` windows of 64 frames at stride 4 at random starts, each read
  with a fresh reader, as a dataset's ``__getitem__`` does (the per-process index is warm);
* contiguous windows: consecutive 64-frame windows at stride 1 with one reader, as a
  sliding-window evaluation pass does;

decoding (cold) with one decoder thread and with FFmpeg's automatic threading (the default),
then from the frame cache after its one-time fill (whose time is printed too), and prints a
table with the cached / cold ratio (target: >= 5x).

    python benchmarks/decode.py                       # temp dir, removed afterwards
    python benchmarks/decode.py --workdir /tmp/tadapt-bench   # keep the video and cache
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from tadapt.io.frame_cache import FrameCache
from tadapt.io.video import VideoReader, probe_video

WIDTH, HEIGHT, FPS, SECONDS = 320, 240, 30, 300


def write_video(path: Path, seed: int = 0) -> None:
    """Encode the synthetic benchmark video to ``path`` (H.264, yuv420p, libx264 defaults)."""
    rng = np.random.default_rng(seed)
    # a smooth-ish texture twice the frame size to scroll through, and a bank of grain frames
    texture = rng.integers(0, 256, (2 * HEIGHT // 4, 2 * WIDTH // 4, 3), dtype=np.uint8)
    texture = texture.repeat(4, axis=0).repeat(4, axis=1)
    grain = rng.integers(-12, 13, (16, HEIGHT, WIDTH, 3), dtype=np.int16)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"preset": "veryfast"}  # same GOP/B-frame structure, 3-4x faster
        for t in range(FPS * SECONDS):
            y, x = (2 * t) % HEIGHT, (3 * t) % WIDTH
            frame = texture[y : y + HEIGHT, x : x + WIDTH].astype(np.int16) + grain[t % 16]
            cy = int(HEIGHT / 2 + 80 * np.sin(t / 20))
            cx = int(WIDTH / 2 + 120 * np.cos(t / 33))
            frame[max(cy - 20, 0) : cy + 20, max(cx - 20, 0) : cx + 20] = (250, 60, 30)
            image = av.VideoFrame.from_ndarray(frame.clip(0, 255).astype(np.uint8), "rgb24")
            image.pts = t
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def random_windows(path: Path, starts: list[int], **reader_args: Any) -> float:
    """Seconds to read a 64-frame stride-4 window at each start, a fresh reader per window."""
    t0 = time.perf_counter()
    for start in starts:
        with VideoReader(path, **reader_args) as reader:
            frames, _ = reader.read_window(start, 64, 4)
    assert frames.shape == (64, HEIGHT, WIDTH, 3)
    return time.perf_counter() - t0


def contiguous_windows(path: Path, count: int, **reader_args: Any) -> float:
    """Seconds to read ``count`` consecutive 64-frame windows at stride 1 with one reader."""
    t0 = time.perf_counter()
    with VideoReader(path, **reader_args) as reader:
        for k in range(count):
            frames, _ = reader.read_window(64 * k, 64, 1)
    assert frames.shape == (64, HEIGHT, WIDTH, 3)
    return time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and print what it measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the video and cache here")
    parser.add_argument("--windows", type=int, default=50, help="windows per measurement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tadapt-decode-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        video = workdir / f"synthetic_{SECONDS}s_{WIDTH}x{HEIGHT}_{FPS}fps.mp4"
        if not video.exists():
            t0 = time.perf_counter()
            write_video(video, args.seed)
            print(f"wrote {video.name} in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        info = probe_video(video)
        probe_s = time.perf_counter() - t0
        print(
            f"video: {info.num_frames} frames, {info.width}x{info.height}, {info.fps:g} fps, "
            f"{info.codec}, {video.stat().st_size / 1e6:.1f} MB; probe (index) {probe_s:.2f} s; "
            f"{os.cpu_count()} CPUs"
        )
        rng = np.random.default_rng(args.seed)
        starts = rng.integers(0, info.num_frames - 64 * 4, args.windows).tolist()
        count = min(args.windows, info.num_frames // 64)

        cache = FrameCache(workdir / "cache")
        cache.clear()
        t0 = time.perf_counter()
        cache.frames(video, None)
        fill_s = time.perf_counter() - t0
        print(
            f"frame cache fill (one sequential decode): {fill_s:.1f} s, "
            f"{info.num_frames / fill_s:.0f} frames/s, "
            f"{info.num_frames * info.width * info.height * 3 / 1e9:.2f} GB"
        )
        settings = {
            "cold, 1 decoder thread": {"threads": 1},
            "cold, auto threads (default)": {},
            "frame cache": {"cache": cache},
        }
        results = {
            name: (
                64 * len(starts) / random_windows(video, starts, **kwargs),
                64 * count / contiguous_windows(video, count, **kwargs),
            )
            for name, kwargs in settings.items()
        }
        print()
        print(f"frames/s over {len(starts)} random 64-frame windows at stride 4 (a fresh reader")
        print(f"each) and {count} consecutive 64-frame windows at stride 1 (one reader):")
        print(f"{'':<30}{'random':>10}{'contiguous':>12}")
        for name, (rand, contig) in results.items():
            print(f"{name:<30}{rand:>10.0f}{contig:>12.0f}")
        cold = results["cold, auto threads (default)"]
        cached = results["frame cache"]
        print(
            f"{'cached / cold (default)':<30}{cached[0] / cold[0]:>9.1f}x"
            f"{cached[1] / cold[1]:>11.1f}x"
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
