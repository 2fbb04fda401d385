"""Synthetic pre-extracted features with planted actions, for the tiny preset, tests and demos.

:func:`generate_synthetic_features` writes what a user of ActionFormer-style features has: one
``(T, C)`` float32 ``.npy`` file per video and an ActionFormer-format ``annotations.json``
(``database[video] = {subset, duration, fps, annotations: [{label, label_id, segment}]}``).

Each class ``k`` owns a random unit direction ``u_k`` in feature space (the directions are
orthonormal, so classes do not share a pattern). A video is Gaussian noise (std 1 per channel)
in which every action instance adds ``signal * u_k`` to the features it covers, with a smooth
rise and fall over ``ramp_steps`` steps at each end; instances of one video never overlap and
are at least ``min_gap_steps`` apart. Labels are dealt from a shuffled deck of the ``K``
classes, so every ``K`` consecutive instances hold each class once (balanced classes, and every
class present in the file, which the ActionFormer format needs). A detector has to find where
the pattern starts and stops and which direction it points in, which the ActionFormer head
learns in seconds on a CPU.

Times follow the ActionFormer feature grid (``docs/data.md``): feature ``i`` covers frames
``[i * feat_stride, i * feat_stride + num_frames)`` and sits at
``(i * feat_stride + 0.5 * num_frames) / fps`` seconds. An instance planted on features
``a .. b - 1`` is annotated as the grid segment ``[a - 0.5, b - 0.5]`` mapped to seconds, so that
its ground truth and its features agree exactly.

Everything is drawn from one ``numpy`` generator seeded by ``seed``: the same settings give the
same files, byte for byte. The files are written once; a ``synthetic_spec.json`` beside them
records the settings, and a later call with the same settings reuses them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tadapt.io import write_text_atomic

__all__ = ["SyntheticFeatureSpec", "SyntheticFeatures", "generate_synthetic_features"]

logger = logging.getLogger(__name__)

_SPEC_FILE = "synthetic_spec.json"


@dataclass(frozen=True)
class SyntheticFeatureSpec:
    """What :func:`generate_synthetic_features` draws.

    Attributes:
        num_classes: number of action classes (``class_0``, ``class_1``, ...).
        splits: ``(subset name, number of videos)`` pairs, in order.
        feature_dim: ``C``, channels of every feature vector.
        num_steps: ``(low, high)`` inclusive range of ``T``, the features per video.
        instances_per_video: ``(low, high)`` inclusive range of action instances per video.
        instance_steps: ``(low, high)`` inclusive range of an instance's length in features.
        signal: amplitude of the planted class direction (the noise has std 1 per channel).
        ramp_steps: features over which an instance's pattern rises and falls (0: a step).
        min_gap_steps: features between two instances of a video, and before the first.
        feat_stride: frames between consecutive features (written as the grid's stride).
        num_frames: frames per feature clip.
        fps: frame rate of every video.
        seed: seed of the generator.
    """

    num_classes: int = 4
    splits: tuple[tuple[str, int], ...] = (("training", 32), ("validation", 16))
    feature_dim: int = 32
    num_steps: tuple[int, int] = (96, 128)
    instances_per_video: tuple[int, int] = (1, 3)
    instance_steps: tuple[int, int] = (8, 24)
    signal: float = 5.0
    ramp_steps: int = 1
    min_gap_steps: int = 4
    feat_stride: int = 4
    num_frames: int = 16
    fps: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.num_classes < 1 or self.feature_dim < self.num_classes:
            problems.append(
                f"need 1 <= num_classes <= feature_dim, got {self.num_classes}, {self.feature_dim}"
            )
        for name in ("num_steps", "instances_per_video", "instance_steps"):
            low, high = getattr(self, name)
            if not 0 <= low <= high or (name != "instances_per_video" and low < 1):
                problems.append(f"{name} must be a range low <= high of positive values")
        if not self.splits or any(count < 1 for _, count in self.splits):
            problems.append(f"splits must list (name, count >= 1) pairs, got {self.splits}")
        elif sum(c for _, c in self.splits) * self.instances_per_video[0] < self.num_classes:
            problems.append(
                "the file must hold at least one instance per class: raise "
                "instances_per_video[0] or the number of videos"
            )
        longest = self.instances_per_video[1] * (self.instance_steps[1] + self.min_gap_steps)
        if longest + self.min_gap_steps > self.num_steps[0]:
            problems.append(
                f"num_steps[0]={self.num_steps[0]} cannot hold {self.instances_per_video[1]} "
                f"instances of up to {self.instance_steps[1]} steps with gaps of "
                f"{self.min_gap_steps}; lengthen the videos or shorten the instances"
            )
        if self.feat_stride < 1 or self.num_frames < 1 or not self.fps > 0:
            problems.append("feat_stride, num_frames and fps must be positive")
        if self.ramp_steps < 0 or self.min_gap_steps < 1:
            problems.append("ramp_steps must be >= 0 and min_gap_steps >= 1")
        if problems:
            raise ValueError("SyntheticFeatureSpec: " + "; ".join(problems))

    @property
    def class_names(self) -> tuple[str, ...]:
        """``class_0 .. class_{K-1}``, in label order."""
        return tuple(f"class_{k}" for k in range(self.num_classes))

    def to_json(self) -> dict[str, Any]:
        """The settings as plain JSON values (tuples become lists)."""
        plain: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        return plain


@dataclass(frozen=True)
class SyntheticFeatures:
    """Where :func:`generate_synthetic_features` put its files.

    Attributes:
        root: the output folder.
        feature_dir: folder of ``<video_id>.npy`` files, each ``(T, C)`` float32.
        annotation_file: the ActionFormer-format annotation JSON.
        class_names: label index -> class name.
    """

    root: Path
    feature_dir: Path
    annotation_file: Path
    class_names: tuple[str, ...]


def generate_synthetic_features(
    out_dir: str | os.PathLike[str], spec: SyntheticFeatureSpec | None = None
) -> SyntheticFeatures:
    """Write (or reuse) a synthetic feature dataset under ``out_dir``.

    Args:
        out_dir: output folder; ``features/`` and ``annotations.json`` are created in it.
        spec: what to draw (default :class:`SyntheticFeatureSpec`).

    Returns:
        The paths of the dataset.

    Raises:
        ValueError: ``out_dir`` holds a synthetic dataset drawn with other settings.
    """
    spec = spec if spec is not None else SyntheticFeatureSpec()
    root = Path(out_dir)
    files = SyntheticFeatures(root, root / "features", root / "annotations.json", spec.class_names)
    spec_path = root / _SPEC_FILE
    if spec_path.is_file():
        if json.loads(spec_path.read_text(encoding="utf-8")) != spec.to_json():
            raise ValueError(
                f"{root} holds synthetic features drawn with other settings ({spec_path}); "
                "choose another folder or delete it"
            )
        if files.annotation_file.is_file():
            logger.info("reusing the synthetic features in %s", root)
            return files
    files.feature_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    # orthonormal class directions: the Q factor of a Gaussian matrix, (C, K)
    directions, _ = np.linalg.qr(rng.standard_normal((spec.feature_dim, spec.num_classes)))
    database: dict[str, dict[str, Any]] = {}
    deck: list[int] = []
    for subset, count in spec.splits:
        for i in range(count):
            video_id = f"{subset}_{i:04d}"
            feats, annotations = _draw_video(rng, spec, directions, deck)
            np.save(files.feature_dir / f"{video_id}.npy", feats)
            database[video_id] = {
                "subset": subset,
                "duration": _grid_to_sec(feats.shape[0] - 0.5, spec),
                "fps": spec.fps,
                "annotations": annotations,
            }
    payload = {"version": "tadapt-synthetic-features", "database": database}
    write_text_atomic(files.annotation_file, json.dumps(payload, indent=1))
    # written last: its presence says the folder is complete
    write_text_atomic(spec_path, json.dumps(spec.to_json(), indent=1))
    logger.info("wrote %d synthetic feature files to %s", len(database), files.feature_dir)
    return files


def _grid_to_sec(position: float, spec: SyntheticFeatureSpec) -> float:
    """ActionFormer's grid -> seconds: ``(i * feat_stride + 0.5 * num_frames) / fps``."""
    return float((position * spec.feat_stride + 0.5 * spec.num_frames) / spec.fps)


def _draw_video(
    rng: np.random.Generator, spec: SyntheticFeatureSpec, directions: np.ndarray, deck: list[int]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """One video's ``(T, C)`` features and its annotation list; labels come off ``deck``."""
    length = int(rng.integers(spec.num_steps[0], spec.num_steps[1] + 1))
    feats = rng.standard_normal((length, spec.feature_dim))
    count = int(rng.integers(spec.instances_per_video[0], spec.instances_per_video[1] + 1))
    lengths = rng.integers(spec.instance_steps[0], spec.instance_steps[1] + 1, size=count)
    # spread the free steps over the count + 1 gaps (each at least min_gap_steps)
    free = length - int(lengths.sum()) - (count + 1) * spec.min_gap_steps
    cuts = np.sort(rng.integers(0, free + 1, size=count))
    annotations = []
    start = spec.min_gap_steps
    previous_cut = 0
    for k in range(count):
        start += int(cuts[k]) - previous_cut
        previous_cut = int(cuts[k])
        stop = start + int(lengths[k])
        if not deck:
            deck.extend(int(k) for k in rng.permutation(spec.num_classes))
        label = deck.pop()
        envelope = _envelope(stop - start, spec.ramp_steps)  # (L,)
        feats[start:stop] += spec.signal * envelope[:, None] * directions[:, label][None, :]
        annotations.append(
            {
                "label": spec.class_names[label],
                "label_id": label,
                "segment": [_grid_to_sec(start - 0.5, spec), _grid_to_sec(stop - 0.5, spec)],
            }
        )
        start = stop + spec.min_gap_steps
    return feats.astype(np.float32), annotations


def _envelope(length: int, ramp: int) -> np.ndarray:
    """``(length,)`` weights: 1 inside, rising and falling linearly over ``ramp`` end steps."""
    position = np.arange(length, dtype=np.float64)
    distance_to_edge = np.minimum(position + 0.5, length - 0.5 - position)  # >= 0.5
    if ramp == 0:
        return np.ones(length)
    return np.clip(distance_to_edge / ramp, 0.0, 1.0)
