"""Drawing synthetic datasets: :class:`SyntheticConfig` and :func:`plan_dataset`.

A plan is the list of :class:`~tadapt.data.synthetic_render.SyntheticVideoSpec` that fully
determines every frame; :mod:`tadapt.data.synthetic` renders and writes it.

Layout of a video: ``actions_per_video`` actions with log-uniform durations in
``action_duration_sec`` (1-12 s by default: many short ones and a long tail, as in
THUMOS-14), separated by >= 0.5 s, except that with probability ``overlap_prob`` an action
starts inside the previous one (overlaps come in *pairs*, whose labels differ). Labels are
dealt from a shuffled deck per subset, so classes are balanced and every class occurs in the
training subset. All of it is drawn from one generator seeded by ``config.seed``; rendering
uses per-video seeds, so the output does not depend on how many processes write it.

No paper defines this data; every range below is a design choice stated where it is set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import numpy as np

from tadapt.data.synthetic_render import (
    DEFAULT_NUM_CLASSES,
    MOTION_CLASSES,
    SHAPES,
    TEXTURES,
    ActionSpec,
    BackgroundSpec,
    ObjectAppearance,
    ObjectSpec,
    SyntheticVideoSpec,
)

__all__ = ["X264_PRESETS", "SyntheticConfig", "motion_class_names", "plan_dataset"]

logger = logging.getLogger(__name__)

X264_PRESETS: tuple[str, ...] = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip

# Design ranges. Lengths scale with the frame size and are given for 112 px in comments.
_MIN_GAP_SEC = 0.5  # between actions that do not overlap
_OVERLAP_AT = (0.2, 0.8)  # an overlapping action starts at this fraction of its partner
_LAYOUT_TRIES = 50
_IDLE_ROLL_SEC = (0.5, 3.0)  # actors are visible this long before and after their action
_RADIUS = (0.055, 0.16)  # x size: 6-18 px (SyntheticConfig.object_radius)
_SPEED = (0.15, 0.40)  # x size per second: 17-45 px/s (drift is <= 3.4 px/s)
_SPIN_DEG_S = (90.0, 270.0)
_MAX_SPIN_DEG_PER_FRAME = 20.0  # well below 45 deg, where a 4-fold symmetric object aliases
_SCALE_FACTOR = (1.8, 2.5)
_AMPLITUDE = (0.07, 0.14)  # x size: 8-16 px
_OSCILLATE_HZ = (0.8, 2.0)
_BLINK_HZ = (1.5, 3.0)
_MAX_HZ_PER_FPS = 0.25  # >= 4 frames per oscillation / blink period, or it aliases
_DRIFT = (0.0, 0.03)  # x size per second: random-walk velocity std up to 3.4 px/s
_JITTER = (0.0, 0.0045)  # x size: per-frame jitter std up to 0.5 px
_TWIN_PROB = 0.5  # a distractor copies the look of one of the video's actors
_PAN = (0.02, 0.06)  # x size per second: background panning 2-7 px/s
_NOISE_STD = (3.0, 8.0)  # SyntheticConfig.noise_std
_DETAIL = (10.0, 30.0)  # SyntheticConfig.background_detail
_FLICKER = (0.0, 0.08)
_FLICKER_PERIOD_SEC = (6.0, 20.0)


def motion_class_names(num_classes: int, classes: tuple[str, ...] | None) -> tuple[str, ...]:
    """A dataset's class names: ``classes`` when named, else ``MOTION_CLASSES[:num_classes]``."""
    return classes if classes is not None else MOTION_CLASSES[:num_classes]


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate.

    Attributes:
        num_videos: number of videos.
        num_classes: ``K``; the classes are ``MOTION_CLASSES[:K]`` unless ``classes`` is set
            (default :data:`DEFAULT_NUM_CLASSES`, the ten before the diagonal moves).
        classes: the motion classes by name (each in ``MOTION_CLASSES``, once), in label
            order; ``None``: the first ``num_classes``. When set, ``num_classes`` follows from
            it: leave it at its default or give ``len(classes)``.
        duration_sec: length of every video.
        fps: frame rate. 15 by default: cheap to render and decode, and a temporal stride of
            2 gives 7.5 frames/s, the rate AdaTAD feeds its backbone on THUMOS-14 (30 fps
            videos, every 4th frame: OpenTAD ``configs/_base_/datasets/thumos-14/
            e2e_train_trunc_test_sw_256x224x224.py``, ``feature_stride=4``).
        size: frame height = width in pixels (even, for yuv420p).
        seed: seed of everything drawn.
        actions_per_video: ``(min, max)`` action instances per video, inclusive.
        action_duration_sec: ``(min, max)`` of the log-uniform instance durations.
        overlap_prob: probability that an action starts inside the previous one.
        distractors_per_video: ``(min, max)`` distractor objects per video, inclusive.
        object_radius: ``(min, max)`` radius of every object as a fraction of ``size``
            (log-uniform). With ``grow`` or ``shrink`` among the classes, ``max / min`` must
            be at least 2.5 (their largest scale factor), so both ends of an instance stay
            within the range. Larger objects make the classes easier to learn: at 64 px the
            default is 3.5-10 px, and three objects in four are smaller than a 16 px patch.
        noise_std: ``(min, max)`` per-pixel Gaussian noise of each video (0-255 units).
        background_detail: ``(min, max)`` amplitude of the background's fine luminance
            texture (0-255 units).
        test_fraction: fraction of videos in the ``test`` subset (the rest is ``train``).
        crf: x264 constant rate factor (0 = lossless, 51 = worst).
        preset: x264 speed preset, one of :data:`X264_PRESETS`.
    """

    num_videos: int = 50
    num_classes: int = DEFAULT_NUM_CLASSES
    classes: tuple[str, ...] | None = None
    duration_sec: float = 30.0
    fps: float = 15.0
    size: int = 112
    seed: int = 0
    actions_per_video: tuple[int, int] = (2, 5)
    action_duration_sec: tuple[float, float] = (1.0, 12.0)
    overlap_prob: float = 0.25
    distractors_per_video: tuple[int, int] = (2, 4)
    object_radius: tuple[float, float] = _RADIUS
    noise_std: tuple[float, float] = _NOISE_STD
    background_detail: tuple[float, float] = _DETAIL
    test_fraction: float = 0.3
    crf: int = 23  # half the bytes of crf 20 at the same encoding time (761 vs 402 KB per video)
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        def fail(name: str, why: str) -> NoReturn:
            raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)!r}: {why}")

        if self.num_videos < 1:
            fail("num_videos", "must be >= 1")
        if isinstance(self.classes, str):
            fail("classes", "must be a sequence of names, e.g. ('grow', 'shrink')")
        if self.classes is not None:
            self._set_classes(tuple(self.classes), fail)  # a list from JSON / YAML works too
        if not 1 <= self.num_classes <= len(MOTION_CLASSES):
            fail("num_classes", f"must be in 1..{len(MOTION_CLASSES)} (one per motion class)")
        if not self.duration_sec > 0:
            fail("duration_sec", "must be > 0")
        if not self.fps > 0:
            fail("fps", "must be > 0")
        if self.size < 16 or self.size % 2:
            fail("size", "must be an even number of pixels >= 16 (yuv420p needs even sizes)")
        lo_n, hi_n = self.actions_per_video
        if not 1 <= lo_n <= hi_n:
            fail("actions_per_video", "must be (min, max) with 1 <= min <= max")
        lo_d, hi_d = self.action_duration_sec
        if not 0 < lo_d <= hi_d:
            fail("action_duration_sec", "must be (min, max) with 0 < min <= max")
        if lo_d * self.fps < 4:
            fail("action_duration_sec", f"min must span >= 4 frames at {self.fps} fps")
        if hi_n * lo_d + (hi_n - 1) * _MIN_GAP_SEC > self.duration_sec:
            fail(
                "actions_per_video",
                f"{hi_n} actions of >= {lo_d} s with {_MIN_GAP_SEC} s gaps do not fit in "
                f"duration_sec={self.duration_sec}; lower them or lengthen the videos",
            )
        if hi_d > self.duration_sec:
            fail("action_duration_sec", f"max exceeds duration_sec={self.duration_sec}")
        if not 0.0 <= self.overlap_prob <= 1.0:
            fail("overlap_prob", "must be in [0, 1]")
        lo_x, hi_x = self.distractors_per_video
        if not 0 <= lo_x <= hi_x:
            fail("distractors_per_video", "must be (min, max) with 0 <= min <= max")
        lo_r, hi_r = self.object_radius
        if not 0 < lo_r <= hi_r <= 0.3:
            fail("object_radius", "must be (min, max) with 0 < min <= max <= 0.3 (of the size)")
        scaling = {"grow", "shrink"} & set(self.class_names)
        if scaling and hi_r < _SCALE_FACTOR[1] * lo_r:
            fail(
                "object_radius",
                f"{' and '.join(sorted(scaling))} scale objects by up to {_SCALE_FACTOR[1]}x, "
                f"so max must be >= {_SCALE_FACTOR[1]} x min (e.g. ({lo_r}, "
                f"{_SCALE_FACTOR[1] * lo_r:.3g}))",
            )
        for name in ("noise_std", "background_detail"):
            lo_v, hi_v = getattr(self, name)
            if not 0 <= lo_v <= hi_v <= 255:
                fail(name, "must be (min, max) with 0 <= min <= max <= 255")
        if not 0.0 <= self.test_fraction < 1.0:
            fail("test_fraction", "must be in [0, 1)")
        if not 0 <= self.crf <= 51:
            fail("crf", "must be in 0..51")
        if self.preset not in X264_PRESETS:
            fail("preset", f"must be one of {X264_PRESETS}")
        if self.num_train_videos * lo_n < self.num_classes:
            fail(
                "num_classes",
                f"every class needs a training instance, but {self.num_train_videos} training "
                f"videos with >= {lo_n} actions may hold fewer; add videos or actions",
            )

    def _set_classes(self, names: tuple[str, ...], fail: Callable[[str, str], NoReturn]) -> None:
        """Check the ``classes`` names; ``num_classes`` becomes their count."""
        if not names:
            fail("classes", "name at least one motion class, or leave it unset")
        for name in names:
            if name not in MOTION_CLASSES:
                fail(
                    "classes", f"unknown motion class {name!r}; known: {', '.join(MOTION_CLASSES)}"
                )
            if names.count(name) > 1:
                fail("classes", f"{name!r} is named twice; name each class once")
        if self.num_classes not in (DEFAULT_NUM_CLASSES, len(names)):
            fail(
                "num_classes",
                f"classes names {len(names)} classes; leave num_classes at its default "
                f"(it follows from classes) or set it to {len(names)}",
            )
        # frozen: set once here, so every reader sees the dataset's own K
        object.__setattr__(self, "classes", names)
        object.__setattr__(self, "num_classes", len(names))

    @property
    def num_frames(self) -> int:
        """Frames per video, ``round(duration_sec * fps)``."""
        return max(1, round(self.duration_sec * self.fps))

    @property
    def num_test_videos(self) -> int:
        """Videos in the ``test`` subset: at least one when ``test_fraction > 0``, never all."""
        if self.test_fraction == 0 or self.num_videos < 2:
            return 0
        return min(max(round(self.test_fraction * self.num_videos), 1), self.num_videos - 1)

    @property
    def num_train_videos(self) -> int:
        """Videos in the ``train`` subset."""
        return self.num_videos - self.num_test_videos

    @property
    def class_names(self) -> tuple[str, ...]:
        """``classes``, else ``MOTION_CLASSES[:num_classes]``; label ``i`` is ``class_names[i]``."""
        return motion_class_names(self.num_classes, self.classes)


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Slot:
    """An action's frame interval before it has a label; ``partner``: the one it overlaps."""

    start_frame: int
    end_frame: int
    partner: int | None


def _layout(rng: np.random.Generator, config: SyntheticConfig) -> list[_Slot]:
    """Action intervals of one video, sorted by start (module docstring)."""
    n = int(rng.integers(config.actions_per_video[0], config.actions_per_video[1] + 1))
    lo, hi = config.action_duration_sec
    total = config.duration_sec
    overlap_prob = config.overlap_prob if config.num_classes > 1 else 0.0
    for _ in range(_LAYOUT_TRIES):
        durations = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        offsets = np.zeros(n)  # start relative to the start of the action's group
        groups: list[list[int]] = []
        for k in range(n):
            # only pairs: an action overlaps its predecessor if that one overlaps nothing
            if groups and len(groups[-1]) == 1 and rng.random() < overlap_prob:
                prev = groups[-1][0]
                offsets[k] = offsets[prev] + rng.uniform(*_OVERLAP_AT) * durations[prev]
                groups[-1].append(k)
            else:
                groups.append([k])
        extents = [max(offsets[k] + durations[k] for k in g) for g in groups]
        free = total - sum(extents) - _MIN_GAP_SEC * (len(groups) - 1)
        if free >= 0:
            break
    else:
        # Rare (long actions, many per video): no overlap, durations shrunk towards the
        # minimum until they fit, which SyntheticConfig's validation guarantees.
        logger.debug("action layout did not fit after %d draws; shrinking", _LAYOUT_TRIES)
        room = total - _MIN_GAP_SEC * (n - 1) - n * lo
        durations = lo + (durations - lo) * min(1.0, room / max(np.sum(durations - lo), 1e-9))
        offsets, groups = np.zeros(n), [[k] for k in range(n)]
        extents = list(durations)
        free = max(0.0, total - sum(extents) - _MIN_GAP_SEC * (n - 1))
    gaps = rng.dirichlet(np.ones(len(groups) + 1)) * free
    slots: list[_Slot] = []
    cursor = gaps[0]
    last = config.num_frames - 1
    for g, (group, extent) in enumerate(zip(groups, extents, strict=True)):
        for j, k in enumerate(group):
            start = min(round((cursor + offsets[k]) * config.fps), last - 1)
            end = min(
                max(round((cursor + offsets[k] + durations[k]) * config.fps), start + 1), last
            )
            slots.append(_Slot(start, end, len(slots) - 1 if j else None))
        cursor += extent + _MIN_GAP_SEC + gaps[g + 1]
    return slots


def _deal_labels(
    rng: np.random.Generator, layouts: Sequence[list[_Slot]], num_classes: int
) -> list[list[int]]:
    """Balanced labels for the slots of one subset; partners differ; all classes if possible."""
    deck: list[int] = []
    labels: list[list[int]] = []
    for slots in layouts:
        video: list[int] = []
        for slot in slots:
            taboo = video[slot.partner] if slot.partner is not None else None
            while not any(c != taboo for c in deck):
                deck.extend(int(c) for c in rng.permutation(num_classes))
            video.append(deck.pop(next(j for j, c in enumerate(deck) if c != taboo)))
        labels.append(video)
    # A skipped card may be left in the deck at the end: give the missing class to an
    # instance whose class occurs more than once (its partner cannot hold the missing one).
    flat = [c for video in labels for c in video]
    if len(flat) < num_classes:
        return labels
    for missing in sorted(set(range(num_classes)) - set(flat)):
        counts = np.bincount([c for video in labels for c in video], minlength=num_classes)
        v, k = next(
            (v, k) for v, vid in enumerate(labels) for k, c in enumerate(vid) if counts[c] > 1
        )
        labels[v][k] = missing
    return labels


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], scale: float = 1.0) -> float:
    return float(rng.uniform(bounds[0], bounds[1])) * scale


def _color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rng.integers(lo, hi, 3))
    return r, g, b


def _appearance(rng: np.random.Generator, radius_px: float) -> ObjectAppearance:
    return ObjectAppearance(
        shape=SHAPES[int(rng.integers(len(SHAPES)))],
        texture=TEXTURES[int(rng.integers(len(TEXTURES)))],
        color=_color(rng),
        color2=_color(rng),
        texture_freq=float(rng.uniform(2.0, 5.0)),
        radius_px=radius_px,
    )


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _body(
    rng: np.random.Generator,
    config: SyntheticConfig,
    look: ObjectAppearance,
    lifetime: tuple[int, int],
    margin: float | None,
) -> ObjectSpec:
    """An object at a random place (``margin`` px from the edges; ``None``: anywhere)."""
    size = config.size
    if margin is None or margin >= size / 2:
        lo, hi = (0.0, float(size)) if margin is None else (size / 2, size / 2)
    else:
        lo, hi = margin, size - margin
    return ObjectSpec(
        appearance=look,
        x0=float(rng.uniform(lo, hi)),
        y0=float(rng.uniform(lo, hi)),
        angle0_deg=float(rng.uniform(0.0, 360.0)),
        appear_frame=lifetime[0],
        vanish_frame=lifetime[1],
        drift_px_s=_uniform(rng, _DRIFT, size),
        jitter_px=_uniform(rng, _JITTER, size),
    )


def _action(
    rng: np.random.Generator, config: SyntheticConfig, slot: _Slot, label: int
) -> ActionSpec:
    """An actor for ``slot`` performing class ``label``, with class-consistent geometry."""
    size, fps, motion = config.size, config.fps, config.class_names[label]
    duration = (slot.end_frame - slot.start_frame) / fps
    r_lo, r_hi = config.object_radius[0] * size, config.object_radius[1] * size
    magnitude, frequency, reach = 0.0, 0.0, r_hi
    if motion.startswith("move"):
        magnitude = _uniform(rng, _SPEED, size)
    elif motion.startswith("rotate"):
        magnitude = min(_uniform(rng, _SPIN_DEG_S), _MAX_SPIN_DEG_PER_FRAME * fps)
    elif motion in ("grow", "shrink"):
        # the sizes an instance passes through stay within the distractors' range
        magnitude = _uniform(rng, _SCALE_FACTOR)
        r_lo, r_hi = (r_lo, r_hi / magnitude) if motion == "grow" else (r_lo * magnitude, r_hi)
    elif motion == "oscillate":
        magnitude = _uniform(rng, _AMPLITUDE, size)
        reach += magnitude
        hz = min(_uniform(rng, _OSCILLATE_HZ), _MAX_HZ_PER_FPS * fps)
        half_cycles = max(1, round(2 * hz * duration))
        frequency = half_cycles / (2 * duration)  # ends where it started
    elif motion == "blink":
        hz = min(_uniform(rng, _BLINK_HZ), _MAX_HZ_PER_FPS * fps)
        frequency = max(1, round(hz * duration)) / duration
    look = _appearance(rng, _log_uniform(rng, r_lo, r_hi))
    lifetime = (
        max(0, slot.start_frame - round(_uniform(rng, _IDLE_ROLL_SEC) * fps)),
        min(config.num_frames - 1, slot.end_frame + round(_uniform(rng, _IDLE_ROLL_SEC) * fps)),
    )
    body = _body(rng, config, look, lifetime, None if motion.startswith("move") else reach + 1)
    return ActionSpec(label, motion, slot.start_frame, slot.end_frame, body, magnitude, frequency)


def _video_spec(
    rng: np.random.Generator,
    config: SyntheticConfig,
    video_id: str,
    subset: str,
    slots: list[_Slot],
    labels: list[int],
) -> SyntheticVideoSpec:
    size, last = config.size, config.num_frames - 1
    actions = tuple(_action(rng, config, s, c) for s, c in zip(slots, labels, strict=True))
    distractors = []
    for _ in range(
        int(rng.integers(config.distractors_per_video[0], config.distractors_per_video[1] + 1))
    ):
        if actions and rng.random() < _TWIN_PROB:
            look = actions[int(rng.integers(len(actions)))].body.appearance
        else:
            radius = config.object_radius
            look = _appearance(rng, _log_uniform(rng, radius[0] * size, radius[1] * size))
        lifetime = (0, last)
        if rng.random() < 0.5:  # half of the distractors come and go
            first = int(rng.integers(0, last + 1))
            lifetime = (first, min(last, first + round(rng.uniform(0.2, 1.0) * last)))
        distractors.append(_body(rng, config, look, lifetime, None))
    pan_speed, pan_dir = _uniform(rng, _PAN, size), rng.uniform(0.0, 2 * np.pi)
    background = BackgroundSpec(
        color_a=_color(rng, 40, 216),
        color_b=_color(rng, 40, 216),
        detail=_uniform(rng, config.background_detail),
        pan_px_s=(float(pan_speed * np.cos(pan_dir)), float(pan_speed * np.sin(pan_dir))),
        noise_std=_uniform(rng, config.noise_std),
        flicker=_uniform(rng, _FLICKER),
        flicker_period_sec=_uniform(rng, _FLICKER_PERIOD_SEC),
    )
    return SyntheticVideoSpec(
        video_id=video_id,
        subset=subset,
        num_frames=config.num_frames,
        fps=config.fps,
        size=size,
        background=background,
        distractors=tuple(distractors),
        actions=actions,
        seed=int(rng.integers(2**63)),
    )


def plan_dataset(config: SyntheticConfig) -> tuple[SyntheticVideoSpec, ...]:
    """Draw the description of every video (cheap; no pixels are rendered).

    Returns:
        One spec per video, ids ``synth_0000``, ``synth_0001``, ... in order.
    """
    rng = np.random.default_rng(config.seed)
    n = config.num_videos
    test = {int(i) for i in rng.choice(n, config.num_test_videos, replace=False)}
    subsets = ["test" if i in test else "train" for i in range(n)]
    layouts = [_layout(rng, config) for _ in range(n)]
    labels: list[list[int]] = [[] for _ in range(n)]
    for subset in ("train", "test"):
        members = [i for i in range(n) if subsets[i] == subset]
        dealt = _deal_labels(rng, [layouts[i] for i in members], config.num_classes)
        for i, video_labels in zip(members, dealt, strict=True):
            labels[i] = video_labels
    width = max(4, len(str(n - 1)))
    return tuple(
        _video_spec(rng, config, f"synth_{i:0{width}d}", subsets[i], layouts[i], labels[i])
        for i in range(n)
    )
