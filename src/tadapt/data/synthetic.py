"""Synthetic action videos: real H.264 files whose actions only temporal modelling can find.

:func:`generate_synthetic_dataset` writes ``videos/<video_id>.mp4`` and an ActionFormer-format
``annotations.json`` (subsets ``train`` / ``test``) that :func:`tadapt.io.load_annotations`
reads. Each class is a *motion* (:data:`MOTION_CLASSES`: move in four directions and along
four diagonals, rotate either way, grow, shrink, oscillate, blink) performed by an object whose
shape, texture, colour and size are drawn independently of its class. A single frame carries
no class information because

- distractor objects drawn from the same appearance distribution (half of them exact twins of
  an actor of the same video) sit still or drift and jitter, and actors idle the same way for
  0.5-3 s before and after their action, so *which* object acts, and *when*, shows only
  across frames;
- the sizes, positions and orientations an actor passes through are drawn so that a snapshot
  of a grow, shrink or rotate instance looks like any other object;
- the background is a textured, slowly panning, flickering field with per-frame noise.

The pieces: :mod:`tadapt.data.synthetic_plan` draws a dataset (:class:`SyntheticConfig`,
:func:`plan_dataset`), :mod:`tadapt.data.synthetic_render` renders a video's frames, this
module encodes and writes them. See ``docs/synthetic.md`` for pictures of every class.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from tqdm import tqdm

from tadapt.data.synthetic_plan import X264_PRESETS, SyntheticConfig, plan_dataset
from tadapt.data.synthetic_render import (
    MOTION_CLASSES,
    ActionSpec,
    SyntheticVideoSpec,
    iter_frames,
    object_tracks,
    render_action_mask,
    render_video,
)
from tadapt.io import atomic_path, write_text_atomic

__all__ = [
    "ANNOTATION_FILE",
    "MOTION_CLASSES",
    "X264_PRESETS",
    "ActionSpec",
    "SyntheticConfig",
    "SyntheticVideoSpec",
    "annotation_database",
    "ensure_synthetic_dataset",
    "generate_synthetic_dataset",
    "plan_dataset",
    "preview_sheet",
    "render_action_mask",
    "render_video",
    "write_png",
    "write_video",
]

logger = logging.getLogger(__name__)

ANNOTATION_FILE = "annotations.json"

# --------------------------------------------------------------------------- writing


def annotation_database(
    specs: Iterable[SyntheticVideoSpec],
) -> dict[str, dict[str, Any]]:
    """The ActionFormer ``database`` entries of ``specs``.

    Returns:
        ``{video_id: {"subset", "duration", "fps", "annotations": [{"label", "label_id",
        "segment": [start_sec, end_sec], "segment(frames)": [start_frame, end_frame]}]}}``;
        seconds are ``frame / fps`` exactly.
    """
    return {
        spec.video_id: {
            "subset": spec.subset,
            "duration": spec.duration_sec,
            "fps": spec.fps,
            "annotations": [
                {
                    "label": a.motion,
                    "label_id": a.label_id,
                    "segment": [a.start_frame / spec.fps, a.end_frame / spec.fps],
                    "segment(frames)": [a.start_frame, a.end_frame],
                }
                for a in spec.actions
            ],
        }
        for spec in specs
    }


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 23,
    preset: str = "veryfast",
) -> int:
    """Encode RGB frames as an H.264 (yuv420p) ``.mp4``, atomically.

    The file is written under a temporary name beside ``path`` and renamed when complete, so
    an interrupted call never leaves a truncated ``path``. Equal frames give a bit-identical
    file (x264 runs single-threaded, without macroblock-tree rate control).

    Args:
        path: the ``.mp4`` to write (replaced if it exists).
        frames: ``(H, W, 3)`` uint8 RGB frames, all the same even size.
        fps: frame rate, stored as the closest fraction with denominator <= 1001 (so
            ``30000 / 1001`` round-trips).
        crf: x264 constant rate factor.
        preset: x264 speed preset.

    Returns:
        The number of frames written.
    """
    rate = Fraction(fps).limit_denominator(1001)
    count = 0
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        stream.options = {
            "crf": str(crf),
            "preset": preset,
            # one thread per file: parallelism comes from writing several files at once
            "threads": "1",
            # With macroblock-tree rate control this x264 gave different bitstreams for
            # the same frames within one process (2-5 variants in 15 runs of a 48 px
            # video; none in 30 runs without it), so it is off for bit-exact output.
            "x264-params": "mbtree=0",
        }
        for frame in frames:
            if count == 0:
                stream.height, stream.width = frame.shape[:2]
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = count
            container.mux(stream.encode(video_frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def _write_spec(job: tuple[SyntheticVideoSpec, Path, int, str]) -> str:
    """Render and encode one video (runs in a worker process)."""
    spec, path, crf, preset = job
    write_video(path, iter_frames(spec), spec.fps, crf=crf, preset=preset)
    return spec.video_id


_VIDEO_NAME = re.compile(r"synth_\d+\.mp4")


def generate_synthetic_dataset(
    out_dir: str | os.PathLike[str],
    config: SyntheticConfig,
    *,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic dataset: videos, annotations, class list and the config used.

    Layout of ``out_dir``::

        videos/<video_id>.mp4   H.264, yuv420p, config.size x config.size, config.fps
        annotations.json        ActionFormer format, subsets "train" / "test"
        classes.txt             one class name per line (label_id = line index)
        config.json             the SyntheticConfig, for provenance

    ``annotations.json`` is written last and atomically: it exists only once every video it
    lists is complete. The output depends on ``config`` only, not on ``workers``. Workers are
    *spawned* processes, so a script calling this with ``workers > 1`` needs the usual
    ``if __name__ == "__main__":`` guard.

    Args:
        out_dir: the dataset folder (created if missing).
        config: what to generate.
        workers: processes rendering and encoding videos in parallel.
        progress: show a progress bar on stderr.
        overwrite: replace an existing dataset in ``out_dir`` (its annotation file is
            removed first and its ``synth_*.mp4`` videos deleted).

    Returns:
        The path of ``annotations.json``.

    Raises:
        ValueError: ``workers < 1``, or ``out_dir`` already holds a dataset and
            ``overwrite`` is False.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out_dir)
    annotation_path = out / ANNOTATION_FILE
    video_dir = out / "videos"
    if annotation_path.exists():
        if not overwrite:
            raise ValueError(
                f"{annotation_path} exists; choose another folder or pass overwrite=True "
                "(CLI: --overwrite)"
            )
        annotation_path.unlink()  # first, so a failed rerun never looks complete
        for old in video_dir.glob("synth_*.mp4"):
            if _VIDEO_NAME.fullmatch(old.name):
                old.unlink()
    video_dir.mkdir(parents=True, exist_ok=True)
    specs = plan_dataset(config)
    jobs = [(s, video_dir / f"{s.video_id}.mp4", config.crf, config.preset) for s in specs]
    bar = tqdm(total=len(jobs), unit="video", disable=not progress, desc="synth")
    with bar:
        if workers == 1:
            for job in jobs:
                _write_spec(job)
                bar.update()
        else:
            # spawn, not fork: the parent may hold threads (torch, tqdm) that fork would copy
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
                for _ in pool.map(_write_spec, jobs):
                    bar.update()
    write_text_atomic(out / "classes.txt", "".join(f"{c}\n" for c in config.class_names))
    write_text_atomic(out / "config.json", json.dumps(_provenance(config), indent=2) + "\n")
    payload = {"version": "tadapt-synthetic", "database": annotation_database(specs)}
    write_text_atomic(annotation_path, json.dumps(payload, indent=1) + "\n")
    logger.info("wrote %d videos and %s", len(specs), annotation_path)
    return annotation_path


_LATER_FIELDS = ("classes", "object_radius", "noise_std", "background_detail")


def _provenance(config: SyntheticConfig) -> dict[str, Any]:
    """``config`` as ``config.json`` records it.

    Fields added after the first release (``classes``, ``object_radius``, ``noise_std``,
    ``background_detail``) are left out at their defaults, so a folder written before they
    existed still matches its config (and the default output stays byte for byte the same).
    """
    fields: dict[str, Any] = json.loads(json.dumps(asdict(config)))
    defaults = json.loads(json.dumps(asdict(SyntheticConfig())))
    for name in _LATER_FIELDS:
        if fields[name] == defaults[name]:
            del fields[name]
    return fields


def ensure_synthetic_dataset(
    out_dir: str | os.PathLike[str], config: SyntheticConfig, *, progress: bool = True
) -> Path:
    """Reuse the dataset in ``out_dir`` when it was written with ``config``, else write it.

    A complete dataset (its ``annotations.json`` exists) written with other settings is never
    reused nor replaced silently.

    Returns:
        The path of ``annotations.json``.

    Raises:
        ValueError: ``out_dir`` holds a dataset generated with another config.
    """
    out = Path(out_dir)
    annotation_path = out / ANNOTATION_FILE
    if not annotation_path.is_file():  # written last: without it the set is incomplete
        return generate_synthetic_dataset(out, config, progress=progress, overwrite=True)
    saved_path = out / "config.json"
    saved = json.loads(saved_path.read_text()) if saved_path.is_file() else None
    if saved != json.loads(json.dumps(_provenance(config))):
        raise ValueError(
            f"{out} holds synthetic videos generated with other settings ({saved_path}); "
            "choose another folder or delete it"
        )
    return annotation_path


# --------------------------------------------------------------------------- preview

_PREVIEW_MIN_SEC = 1.2  # a shorter instance barely changes between the previewed frames
_PREVIEW_SPIN_STEP_DEG = 30.0
_PREVIEW_MAX_EXTENT = 0.8  # of the frame: larger motions are shown less magnified
_GAP = 2  # px of white between tiles


def _extent(spec: SyntheticVideoSpec, k: int) -> tuple[float, float, float, float]:
    """Bounding box ``(x0, y0, x1, y1)`` (unwrapped px) of action ``k``'s object while acting."""
    track = object_tracks(spec)[len(spec.distractors) + k]
    action = spec.actions[k]
    span = slice(action.start_frame, action.end_frame + 1)
    x, y, r = track.x[span], track.y[span], track.radius[span]
    return (
        float(np.min(x - r)),
        float(np.min(y - r)),
        float(np.max(x + r)),
        float(np.max(y + r)),
    )


def _pick_instance(
    specs: Sequence[SyntheticVideoSpec], label: int
) -> tuple[SyntheticVideoSpec, int, tuple[float, float, float, float]] | None:
    """An instance of ``label`` whose motion is large but fits the frame without wrapping."""
    best = None
    for spec in specs:
        for k, action in enumerate(spec.actions):
            if action.label_id != label:
                continue
            box = _extent(spec, k)
            side = max(box[2] - box[0], box[3] - box[1])
            fits = (
                (action.end_frame - action.start_frame) / spec.fps >= _PREVIEW_MIN_SEC
                and min(box) >= 0
                and max(box) <= spec.size
                and side <= _PREVIEW_MAX_EXTENT * spec.size
            )
            key = (not fits, -side)
            if best is None or key < best[0]:
                best = (key, spec, k, box)
    return None if best is None else best[1:]


def _preview_frames(spec: SyntheticVideoSpec, k: int, count: int) -> list[int]:
    """``count`` frames of action ``k`` that show its class.

    Moves, grow and shrink: spread over the whole action. Rotation: steps of about 30 deg
    (wider steps alias on symmetric objects). Oscillation: one cycle. Blink: alternately on
    and off.
    """
    action = spec.actions[k]
    span = action.end_frame - action.start_frame
    if action.motion.startswith("rotate"):
        span = min(span, round((count - 1) * _PREVIEW_SPIN_STEP_DEG / action.magnitude * spec.fps))
    elif action.motion == "oscillate":
        span = min(span, round(spec.fps / action.frequency_hz))
    first, last = action.start_frame, action.start_frame + span
    if action.motion != "blink":
        return [int(i) for i in np.linspace(first, last, count).round()]
    visible = object_tracks(spec)[len(spec.distractors) + k].visibility > 0
    edges = np.linspace(first, last + 1, count + 1).astype(int)
    chosen = []
    for j in range(count):  # in each of ``count`` parts: an on (even j) or off (odd j) frame
        part = np.arange(edges[j], max(edges[j + 1], edges[j] + 1))
        wanted = part[visible[part] == (j % 2 == 0)]
        part = wanted if len(wanted) else part
        chosen.append(int(part[len(part) // 2]))
    return chosen


def preview_sheet(
    specs: Sequence[SyntheticVideoSpec], num_classes: int, *, frames: int = 5
) -> np.ndarray:
    """A contact sheet with one row per class, for documentation and sanity checks.

    Row ``i`` is label ``i`` (``ActionSpec.label_id``, the dataset's own class index). Each
    row shows one instance of the class (a large motion that fits the frame): the
    whole frame at the middle of the action with a zoom window outlined, then ``frames``
    views of that window spread over the action, magnified to the frame size (nearest
    neighbour). Classes without an instance in ``specs`` get a blank row.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.
    """
    size = specs[0].size
    tile = size + _GAP
    sheet = np.full((num_classes * tile, (frames + 1) * tile + _GAP, 3), 255, np.uint8)
    for label in range(num_classes):
        picked = _pick_instance(specs, label)
        if picked is None:
            continue
        spec, k, (x0, y0, x1, y1) = picked
        action = spec.actions[k]
        shown = _preview_frames(spec, k, frames)
        middle = (action.start_frame + action.end_frame) // 2
        video = list(itertools.islice(iter_frames(spec), max(*shown, middle) + 1))
        # a square window around the motion, between half and all of the frame
        side = int(np.clip(np.ceil(max(x1 - x0, y1 - y0)) + 6, size // 2, size))
        left = int(np.clip(round((x0 + x1 - side) / 2), 0, size - side))
        top = int(np.clip(round((y0 + y1 - side) / 2), 0, size - side))
        zoom = np.arange(size) * side // size
        row = label * tile
        overview = sheet[row : row + size, :size]
        overview[:] = video[middle]
        for inset, color in ((0, 255), (1, 0)):  # white outline, black inner line
            a, b = inset, side - 1 - inset
            overview[top + a, left + a : left + b + 1] = color
            overview[top + b, left + a : left + b + 1] = color
            overview[top + a : top + b + 1, left + a] = color
            overview[top + a : top + b + 1, left + b] = color
        for j, i in enumerate(shown):
            col = (j + 1) * tile + _GAP
            crop = video[i][top + zoom[:, None], left + zoom[None, :]]
            sheet[row : row + size, col : col + size] = crop
    return sheet


def _nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre ``(K, 3)`` for each point ``(N, 3)``, in chunks."""
    out = np.empty(len(points), np.int64)
    norms = np.sum(centres**2, axis=1)
    for i in range(0, len(points), 65536):
        chunk = points[i : i + 65536]
        out[i : i + 65536] = np.argmin(norms - 2.0 * chunk @ centres.T, axis=1)
    return out


def _quantize(image: np.ndarray, colors: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``colors``-entry palette by k-means (fixed seed) and each pixel's palette index."""
    pixels = image.reshape(-1, 3).astype(np.float32)
    rng = np.random.default_rng(0)
    sample = pixels[rng.choice(len(pixels), min(len(pixels), 20000), replace=False)]
    centres = sample[rng.choice(len(sample), min(colors, len(sample)), replace=False)]
    for _ in range(8):  # Lloyd iterations; an empty cluster keeps its centre
        nearest = _nearest(sample, centres)
        counts = np.bincount(nearest, minlength=len(centres))[:, None]
        sums = np.stack(
            [np.bincount(nearest, sample[:, c], minlength=len(centres)) for c in range(3)], 1
        )
        centres = np.where(counts > 0, sums / np.maximum(counts, 1), centres).astype(np.float32)
    indices = _nearest(pixels, centres).astype(np.uint8).reshape(image.shape[:2])
    return indices, np.clip(np.round(centres), 0, 255).astype(np.uint8)


def write_png(
    path: str | os.PathLike[str], image: np.ndarray, *, colors: int | None = None
) -> None:
    """Write an ``(H, W, 3)`` uint8 RGB image as PNG (through PyAV's png encoder).

    Args:
        path: the file to write.
        image: the RGB image.
        colors: if given (2-256), store a palette image of that many colours (k-means): a
            third of the size of a noisy RGB PNG, with no visible change at 128 colours.
    """
    codec = av.CodecContext.create("png", "w")
    codec.height, codec.width = image.shape[:2]
    if colors is None:
        codec.pix_fmt = "rgb24"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    else:
        if not 2 <= colors <= 256:
            raise ValueError(f"colors must be in 2..256, got {colors}")
        indices, palette = _quantize(image, colors)
        argb = np.zeros((256, 4), np.uint8)
        argb[:, 0] = 255  # opaque
        argb[: len(palette), 1:] = palette
        codec.pix_fmt = "pal8"
        # PyAV documents the (indices, palette) pair for pal8; its type stub omits it
        frame = av.VideoFrame.from_ndarray((indices, argb), format="pal8")  # type: ignore[arg-type]
    data = b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])
    Path(path).write_bytes(data)
