"""Detection throughput: seconds of video per wall-clock second, fp32 vs bf16, and where it goes.

``tadapt.Detector`` runs the AdaTAD ViT-S detector (preset
``adatad_thumos14_videomae_s_768x1_160``: VideoMAE ViT-S with TIA adapters, 160 px, 16-frame
chunks, frame stride 4, the ActionFormer head) over one synthetic video written by
``tadapt synth``, with **random weights** (throughput does not depend on them; no weights are
downloaded). To keep the default run short on a small CPU, the evaluation window is
``--window`` sampled frames (default 128, i.e. 8 chunks, 17 s of video at 30 fps) instead of
the preset's 768; the overlap stays the preset's 0.5, so every frame is seen about twice, as in
the preset's evaluation. Per frame the backbone's cost is the same; the head's attention over a
768-step window would cost more than over a 128-step one.

The time is split by wrapping, for the duration of the run only:

* decode: ``VideoDataset.__getitem__`` (decoding, resizing, cropping, normalising a window);
* backbone: the forward pass of ``model.feature_extractor`` (ViT-S with its adapters);
* head: the rest of ``TemporalDetector.predict`` (neck, heads, decoding candidates);
* NMS: ``merge_windows`` (Soft-NMS over the windows' candidates, clipping);
* other: what remains (batching, moving tensors).

Reported, not asserted (benchmarks/results/detect.md):

    python benchmarks/detect.py                    # ~1-2 min on 2 idle CPU cores
    python benchmarks/detect.py --repeats 1        # quicker
    python benchmarks/detect.py --window 768 --duration 153.6 --repeats 1   # the preset's window
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tadapt.cli.experiment import build_model, build_postprocessing  # noqa: E402
from tadapt.cli.inference_setup import detector_inputs  # noqa: E402
from tadapt.cli.main import main  # noqa: E402
from tadapt.config import load_config  # noqa: E402
from tadapt.config.resolving import resolve  # noqa: E402
from tadapt.data.video_dataset import VideoDataset  # noqa: E402
from tadapt.detection import TemporalDetector  # noqa: E402
from tadapt.engine import resolve_precision, seed_everything  # noqa: E402
from tadapt.inference import Detector  # noqa: E402

PRESET = "adatad_thumos14_videomae_s_768x1_160"
PARTS = ("decode", "backbone", "head", "NMS")


class Timers:
    """Seconds spent in each part, accumulated by the wrappers below."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.model = 0.0  # TemporalDetector.predict, backbone included
        self.windows = 0  # windows decoded

    def timed(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, adding its time to ``part`` (``"model"``: the whole model)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            self.windows += part == "decode"
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                if part == "model":
                    self.model += elapsed
                else:
                    self.seconds[part] += elapsed

        return wrapper


@contextlib.contextmanager
def instrumented(detector: Detector, timers: Timers) -> Iterator[None]:
    """Wrap decoding, the backbone, the model and the NMS with timers, then unwrap."""
    # the module (tadapt.engine's `evaluate` is a function of the same name)
    evaluate = importlib.import_module("tadapt.engine.evaluate")
    saved = (VideoDataset.__getitem__, TemporalDetector.predict, evaluate.merge_windows)
    extractor = detector.model.feature_extractor
    assert extractor is not None  # an end-to-end detector
    started: list[float] = []
    pre = extractor.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))

    def post(*_: object) -> None:
        timers.seconds["backbone"] += time.perf_counter() - started.pop()

    hook = extractor.register_forward_hook(post)
    VideoDataset.__getitem__ = timers.timed("decode", saved[0])  # type: ignore[method-assign]
    TemporalDetector.predict = timers.timed("model", saved[1])  # type: ignore[method-assign]
    evaluate.merge_windows = timers.timed("NMS", saved[2])
    try:
        yield
    finally:
        VideoDataset.__getitem__ = saved[0]  # type: ignore[method-assign]
        TemporalDetector.predict = saved[1]  # type: ignore[method-assign]
        evaluate.merge_windows = saved[2]
        pre.remove()
        hook.remove()


def synthetic_video(folder: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """One synthetic video (and its annotation file) of ``args.duration`` seconds."""
    argv = ["synth", str(folder), "--videos", "2", "--duration", str(args.duration)]
    argv += ["--size", str(args.size), "--fps", "30", "--classes", "1", "--no-progress"]
    argv += ["--actions", "1", "2", "--action-duration", "1", "3"]
    argv += ["--test-fraction", "0.5", "--workers", "1"]
    assert main(argv) == 0
    return sorted((folder / "videos").glob("*.mp4"))[0], folder / "annotations.json"


def build_detector(annotations: Path, videos: Path, args: argparse.Namespace) -> Detector:
    """The preset's detector with random weights and a ``--window``-frame window."""
    overrides = [
        f"data.annotation_file={annotations}",
        f"data.video_dir={videos}",
        f"data.max_seq_len={args.window}",
        f"data.eval_window={args.window}",
        "model.backbone.pretrained=false",
        "model.backbone.grad_checkpointing=false",
        "eval.batch_size=1",
    ]
    config = resolve(load_config(PRESET, overrides), num_classes=1)
    seed_everything(0)
    return Detector(
        build_model(config),
        ("action",),
        detector_inputs(config),
        postprocessing=build_postprocessing(config),
        device=torch.device("cpu"),
        precision=resolve_precision("fp32", "cpu"),
    )


def measure(detector: Detector, video: Path, precision: str) -> dict[str, Any]:
    """Detect ``video`` once in ``precision``: wall time and its parts."""
    detector.precision = resolve_precision(precision, "cpu")
    timers = Timers()
    load = os.getloadavg()[0]  # other jobs on the machine slow the run down
    with instrumented(detector, timers), torch.inference_mode():
        start = time.perf_counter()
        found = detector.detect(video)
        wall = time.perf_counter() - start
    parts = dict(timers.seconds)
    parts["head"] = timers.model - parts["backbone"]
    parts["other"] = wall - sum(parts.values())
    duration = found.duration_sec or 0.0
    return {
        "precision": precision,
        "video_sec": duration,
        "wall_sec": wall,
        "video_sec_per_sec": duration / wall,
        "parts_sec": parts,
        "detections": len(found),
        "windows": timers.windows,
        "load_average": load,
    }


def cpu_name() -> str:
    """The CPU's model name (and whether it has bf16 instructions), as Linux reports it."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if ":" in line]
    keys = [line.split(":", 1)[0].strip() for line in info.splitlines() if ":" in line]
    name = names[keys.index("model name")] if "model name" in keys else platform.machine()
    bf16 = [flag for flag in ("avx512_bf16", "amx_bf16") if flag in info.split()]
    return f"{name} ({', '.join(bf16) or 'no bf16 instructions'})"


def markdown(results: list[dict[str, Any]], args: argparse.Namespace, frames: int) -> str:
    """The results as the Markdown of benchmarks/results/detect.md."""
    sampled = -(-frames // 4)  # frame stride 4
    windows = results[0]["windows"]
    lines = [
        "# `tadapt detect` throughput (benchmarks/detect.py)",
        "",
        f"Preset `{PRESET}` (VideoMAE ViT-S + TIA adapters, 160 px, 16-frame chunks, frame",
        f"stride 4) with **random weights**, on one synthetic {args.duration:g} s video "
        f"({args.size} px, 30 fps, {frames} frames, so {sampled} sampled frames); evaluation "
        f"window {args.window} sampled frames with the preset's overlap 0.5: {windows} windows, "
        f"each sampled frame run {windows * args.window / sampled:.2f} times on average; batch 1.",
        f"CPU: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads; "
        f"torch {torch.__version__}. The fastest of {args.repeats} runs per precision (all "
        "walls in the last column); the load average (1 min) before that run says how busy "
        "the machine was with other jobs (above the core count: slowed down).",
        "",
        "| precision | video s / wall s | wall s | decode | backbone | head | NMS | other "
        "| load | walls s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        parts = r["parts_sec"]
        wall = r["wall_sec"]
        shares = " | ".join(
            f"{parts[p]:.2f} s ({100 * parts[p] / wall:.0f} %)" for p in (*PARTS, "other")
        )
        speed = f"{r['video_sec_per_sec']:.3f} | {wall:.1f}"
        walls = ", ".join(f"{w:.1f}" for w in r["walls_sec"])
        load = f"{r['load_average']:.1f}"
        lines.append(f"| {r['precision']} | {speed} | {shares} | {load} | {walls} |")
    lines += [
        "",
        "decode: `VideoDataset.__getitem__` (decode, resize, crop, normalise); backbone: "
        "`model.feature_extractor`; head: the rest of `TemporalDetector.predict`; NMS: "
        "`merge_windows`; other: the remainder (batching).",
        "",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    """The command line: video length and size, window, precisions, output file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=34.1, help="video seconds")
    parser.add_argument("--size", type=int, default=180, help="video frame side, px")
    parser.add_argument("--window", type=int, default=128, help="window, sampled frames")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--repeats", type=int, default=2, help="runs per precision (fastest kept)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/detect.md")
    return parser.parse_args()


def run() -> None:
    """Write the video, build the detector, measure each precision, write the table."""
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        video, annotations = synthetic_video(Path(tmp) / "synth", args)
        detector = build_detector(annotations, video.parent, args)
        from tadapt.io.video import probe_video

        frames = probe_video(video).num_frames
        results = []
        for precision in args.precisions.split(","):
            # the fastest of the repeats: the first one warms up, other jobs only slow down
            runs = [measure(detector, video, precision) for _ in range(args.repeats)]
            for result in runs:
                print(json.dumps(result))
            best = min(runs, key=lambda r: r["wall_sec"])
            best["walls_sec"] = [r["wall_sec"] for r in runs]
            results.append(best)
    text = markdown(results, args, frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    run()
