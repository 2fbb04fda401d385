"""Rendering of synthetic action videos: the scene description and the numpy renderer.

A video is described by a :class:`SyntheticVideoSpec` (background, distractor objects, action
instances, a seed); :func:`iter_frames` / :func:`render_video` turn it into RGB frames. Nothing
here samples a dataset: :mod:`tadapt.data.synthetic` draws the specs and writes the files.

Every object (actor or distractor) follows the same *idle* motion: a slow random-walk drift,
per-frame jitter, a small wobble of angle and size, and a lifetime during which it is visible.
An actor adds its class's motion (:data:`MOTION_CLASSES`) during ``[start_frame, end_frame]``
and is visible for a while before and after, so neither its appearance nor its arrival marks
the action. Positions wrap around the frame edges (a torus), so a moving object never leaves.

Coordinates: pixel ``(x, y)`` with ``y`` pointing down; angles in degrees, positive =
clockwise on screen. Rendering is vectorised over each object's bounding box; the only Python
loops are over frames and objects.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_NUM_CLASSES",
    "MIRRORED_CLASSES",
    "MOTION_CLASSES",
    "SHAPES",
    "TEXTURES",
    "ActionSpec",
    "BackgroundSpec",
    "ObjectAppearance",
    "ObjectSpec",
    "ObjectTrack",
    "SyntheticVideoSpec",
    "iter_frames",
    "object_tracks",
    "render_action_mask",
    "render_video",
]

MOTION_CLASSES: tuple[str, ...] = (
    "move_right",
    "move_left",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
    "oscillate",
    "blink",
    "move_up",
    "move_down",
    "move_up_right",
    "move_up_left",
    "move_down_right",
    "move_down_left",
)
"""The motion classes; a dataset with ``K`` classes uses the first ``K`` unless it names its own.

Ordered so that small ``K`` still needs temporal direction: with ``K = 2`` the two classes
are the same motion in opposite directions. The four diagonal moves come last and only by
name or ``K > 10`` (:data:`DEFAULT_NUM_CLASSES`), so a dataset made before they existed is
drawn the same. What ``ActionSpec.magnitude`` means per class:

===============  ==================================================  =====================
class            motion during the action                            ``magnitude``
===============  ==================================================  =====================
move_right       constant velocity to the right (wraps at the edge)  speed, px/s
move_left        constant velocity to the left                       speed, px/s
rotate_cw        constant clockwise spin                             deg/s
rotate_ccw       constant counter-clockwise spin                     deg/s
grow             radius grows geometrically by a factor              factor (> 1)
shrink           radius shrinks geometrically by 1 / factor          factor (> 1)
oscillate        horizontal sine, whole half-cycles (ends at start)  amplitude, px
blink            visible / invisible square wave, whole periods      (unused, 0)
move_up          constant velocity upwards                           speed, px/s
move_down        constant velocity downwards                         speed, px/s
move_up_right    constant velocity up and to the right (45 deg)      speed, px/s
move_up_left     the same, up and to the left                        speed, px/s
move_down_right  the same, down and to the right                     speed, px/s
move_down_left   the same, down and to the left                      speed, px/s
===============  ==================================================  =====================
"""

DEFAULT_NUM_CLASSES = 10
"""Classes of a dataset that names none: the first 10, move_right to move_down."""

MIRRORED_CLASSES: dict[str, str] = {
    "move_right": "move_left",
    "move_left": "move_right",
    "rotate_cw": "rotate_ccw",
    "rotate_ccw": "rotate_cw",
    "move_up_right": "move_up_left",
    "move_up_left": "move_up_right",
    "move_down_right": "move_down_left",
    "move_down_left": "move_down_right",
}
"""What a horizontal flip turns each direction-sensitive class into (the others keep theirs)."""

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "diamond",
    "cross",
    "ring",
    "ellipse",
    "star",
)
"""Object outlines; each fits in the unit disc, so an object of radius ``R`` fits in 2R x 2R."""

TEXTURES: tuple[str, ...] = ("stripes", "checker", "split")
"""Two-colour fills drawn in the object's own frame, so that rotation is visible."""

_DIAGONAL = 2**-0.5
_MOVE_DIRECTIONS: dict[str, tuple[float, float]] = {
    "move_right": (1.0, 0.0),
    "move_left": (-1.0, 0.0),
    "move_up": (0.0, -1.0),
    "move_down": (0.0, 1.0),
    "move_up_right": (_DIAGONAL, -_DIAGONAL),
    "move_up_left": (-_DIAGONAL, -_DIAGONAL),
    "move_down_right": (_DIAGONAL, _DIAGONAL),
    "move_down_left": (-_DIAGONAL, _DIAGONAL),
}
"""Unit velocity ``(dx, dy)`` of each move class, in image axes (y grows downwards)."""

# Idle-motion constants shared by actors and distractors (in pixels, seconds, degrees).
_DRIFT_SMOOTH_SEC = 1.0  # correlation time of the random-walk velocity
_WOBBLE_SMOOTH_SEC = 0.7  # correlation time of the angle / size wobble
_ANGLE_WOBBLE_DEG = 5.0
_SIZE_WOBBLE = 0.03  # relative radius wobble (std)


@dataclass(frozen=True)
class ObjectAppearance:
    """How an object looks; drawn independently of any class.

    Attributes:
        shape: one of :data:`SHAPES`.
        texture: one of :data:`TEXTURES`.
        color: RGB fill colour, 0-255.
        color2: RGB second texture colour, 0-255.
        texture_freq: stripes / checker cells across the object's diameter.
        radius_px: radius at the object's first visible frame (grow / shrink change it).
    """

    shape: str
    texture: str
    color: tuple[int, int, int]
    color2: tuple[int, int, int]
    texture_freq: float
    radius_px: float


@dataclass(frozen=True)
class ObjectSpec:
    """An object with its idle motion: what every distractor is, and every actor's body.

    Attributes:
        appearance: its look.
        x0: x of the centre at frame 0 (px; before drift).
        y0: y of the centre at frame 0 (px).
        angle0_deg: orientation at frame 0 (degrees, clockwise).
        appear_frame: first frame on which it is drawn.
        vanish_frame: last frame on which it is drawn (inclusive).
        drift_px_s: standard deviation of its random-walk velocity (px/s); 0 = static.
        jitter_px: standard deviation of its per-frame position jitter (px).
    """

    appearance: ObjectAppearance
    x0: float
    y0: float
    angle0_deg: float
    appear_frame: int
    vanish_frame: int
    drift_px_s: float
    jitter_px: float


@dataclass(frozen=True)
class ActionSpec:
    """One action instance: an object performing a motion class during a frame interval.

    The segment in seconds is ``[start_frame / fps, end_frame / fps]``: at ``start_frame``
    the object is still at rest, at ``end_frame`` the motion has just finished.

    Attributes:
        label_id: the dataset's label, an index into its class list (``0..K-1``).
        motion: what the object does, one of :data:`MOTION_CLASSES`; the class name.
        start_frame: first frame of the motion.
        end_frame: last frame of the motion (inclusive, > ``start_frame``).
        body: the acting object (visible before and after the motion).
        magnitude: class-specific strength (table in :data:`MOTION_CLASSES`).
        frequency_hz: oscillation / blink frequency (0 for other classes).
    """

    label_id: int
    motion: str
    start_frame: int
    end_frame: int
    body: ObjectSpec
    magnitude: float
    frequency_hz: float = 0.0

    def __post_init__(self) -> None:
        if self.motion not in MOTION_CLASSES:
            raise ValueError(
                f"ActionSpec: motion {self.motion!r} is not one of {', '.join(MOTION_CLASSES)}"
            )
        if self.label_id < 0:
            raise ValueError(f"ActionSpec: label_id {self.label_id} must be >= 0")
        if self.end_frame <= self.start_frame:
            raise ValueError(
                f"ActionSpec: end_frame {self.end_frame} must exceed start_frame {self.start_frame}"
            )


@dataclass(frozen=True)
class BackgroundSpec:
    """The textured, slowly panning, noisy, flickering background.

    Attributes:
        color_a: RGB of the first colour region.
        color_b: RGB of the second colour region.
        detail: amplitude of the fine luminance texture (0-255 units).
        pan_px_s: ``(vx, vy)`` panning velocity of the texture (px/s).
        noise_std: per-pixel Gaussian noise of every frame (0-255 units).
        flicker: relative amplitude of a slow global brightness oscillation.
        flicker_period_sec: its period.
    """

    color_a: tuple[int, int, int]
    color_b: tuple[int, int, int]
    detail: float
    pan_px_s: tuple[float, float]
    noise_std: float
    flicker: float
    flicker_period_sec: float


@dataclass(frozen=True)
class SyntheticVideoSpec:
    """Everything that determines one synthetic video's frames.

    Attributes:
        video_id: the name of the video (file stem, annotation key).
        subset: ``"train"`` or ``"test"``.
        num_frames: ``T``.
        fps: frames per second.
        size: frame height and width (square, even).
        background: the background.
        distractors: objects that never perform an action.
        actions: the action instances, sorted by start.
        seed: seed of the random streams used while rendering (jitter, noise, texture).
    """

    video_id: str
    subset: str
    num_frames: int
    fps: float
    size: int
    background: BackgroundSpec
    distractors: tuple[ObjectSpec, ...]
    actions: tuple[ActionSpec, ...]
    seed: int

    @property
    def duration_sec(self) -> float:
        """``num_frames / fps``."""
        return self.num_frames / self.fps


@dataclass(frozen=True)
class ObjectTrack:
    """Per-frame state of one object, each field of shape ``(T,)`` float64.

    Attributes:
        x: centre x in px, unwrapped (the renderer draws it modulo the frame size).
        y: centre y in px, unwrapped.
        angle_deg: orientation, degrees clockwise.
        radius: radius in px.
        visibility: opacity in [0, 1]; 0 outside the object's lifetime and in blink-off frames.
    """

    x: np.ndarray
    y: np.ndarray
    angle_deg: np.ndarray
    radius: np.ndarray
    visibility: np.ndarray


# --------------------------------------------------------------------------- motion


def _smooth_noise(rng: np.random.Generator, n: int, sigma_frames: float) -> np.ndarray:
    """``(n,)`` Gaussian-smoothed white noise with unit standard deviation."""
    half = max(1, int(3 * sigma_frames))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / max(sigma_frames, 1e-6)) ** 2)
    kernel /= np.sqrt(np.sum(kernel**2))  # unit variance for unit-variance white noise
    return np.convolve(rng.standard_normal(n + 2 * half), kernel, mode="valid")


def _idle_track(
    body: ObjectSpec, spec: SyntheticVideoSpec, rng: np.random.Generator
) -> ObjectTrack:
    """The object's motion without any action: drift, jitter, wobble and lifetime."""
    n, fps = spec.num_frames, spec.fps
    velocity = body.drift_px_s * np.stack(
        [_smooth_noise(rng, n, _DRIFT_SMOOTH_SEC * fps) for _ in range(2)]
    )
    drift = np.cumsum(velocity, axis=1) / fps  # (2, T) px
    jitter = body.jitter_px * rng.standard_normal((2, n))
    wobble = _WOBBLE_SMOOTH_SEC * fps
    frames = np.arange(n)
    alive = (frames >= body.appear_frame) & (frames <= body.vanish_frame)
    return ObjectTrack(
        x=body.x0 + drift[0] + jitter[0],
        y=body.y0 + drift[1] + jitter[1],
        angle_deg=body.angle0_deg + _ANGLE_WOBBLE_DEG * _smooth_noise(rng, n, wobble),
        radius=body.appearance.radius_px * (1.0 + _SIZE_WOBBLE * _smooth_noise(rng, n, wobble)),
        visibility=alive.astype(np.float64),
    )


def _action_track(action: ActionSpec, spec: SyntheticVideoSpec, idle: ObjectTrack) -> ObjectTrack:
    """``idle`` plus the class motion of ``action`` (continuous at both ends)."""
    t = np.arange(spec.num_frames) / spec.fps
    start, end = action.start_frame / spec.fps, action.end_frame / spec.fps
    elapsed = np.clip(t - start, 0.0, end - start)  # 0 before, duration after the action
    progress = elapsed / (end - start)
    x, y, angle = idle.x.copy(), idle.y.copy(), idle.angle_deg.copy()
    radius, visibility = idle.radius.copy(), idle.visibility.copy()
    m, motion = action.magnitude, action.motion
    if motion.startswith("move"):
        dx, dy = _MOVE_DIRECTIONS[motion]
        x += dx * m * elapsed
        y += dy * m * elapsed
    elif motion in ("rotate_cw", "rotate_ccw"):
        angle += (1.0 if motion == "rotate_cw" else -1.0) * m * elapsed
    elif motion in ("grow", "shrink"):
        radius *= m ** (progress if motion == "grow" else -progress)
    elif motion == "oscillate":
        x += m * np.sin(2 * np.pi * action.frequency_hz * elapsed)
    elif motion == "blink":
        phase = np.mod(action.frequency_hz * elapsed, 1.0)
        visibility[(elapsed > 0) & (elapsed < end - start) & (phase >= 0.5)] = 0.0
    else:  # pragma: no cover - ActionSpec.__post_init__ only admits MOTION_CLASSES
        raise AssertionError(motion)
    return ObjectTrack(x, y, angle, radius, visibility)


def object_tracks(spec: SyntheticVideoSpec) -> tuple[ObjectTrack, ...]:
    """Per-frame state of every object, in drawing order.

    Returns:
        The distractors' tracks, then the actions' (action ``k`` is at index
        ``len(spec.distractors) + k``).
    """
    tracks = [
        _idle_track(body, spec, np.random.default_rng([spec.seed, 0, i]))
        for i, body in enumerate(spec.distractors)
    ]
    for k, action in enumerate(spec.actions):
        idle = _idle_track(action.body, spec, np.random.default_rng([spec.seed, 1, k]))
        tracks.append(_action_track(action, spec, idle))
    return tuple(tracks)


# --------------------------------------------------------------------------- drawing


def _shape_level(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A level function of the shape in unit coordinates: inside where it is <= 1."""
    au, av = np.abs(u), np.abs(v)
    level: np.ndarray
    if shape == "circle":
        level = np.hypot(u, v)
    elif shape == "square":
        level = np.maximum(au, av) / 0.7
    elif shape == "diamond":
        level = au + av
    elif shape == "triangle":  # equilateral, vertices on the unit circle, one pointing up
        level = np.maximum(np.maximum(v, 0.866 * u - 0.5 * v), -0.866 * u - 0.5 * v) / 0.5
    elif shape == "cross":
        level = np.minimum(np.maximum(au / 0.92, av / 0.32), np.maximum(au / 0.32, av / 0.92))
    elif shape == "ring":
        r = np.hypot(u, v)
        level = np.maximum(r, 1.6 - r)  # inner radius 0.6
    elif shape == "ellipse":
        level = np.hypot(u, v / 0.45)
    elif shape == "star":
        level = np.hypot(u, v) / (0.6 + 0.4 * np.cos(5 * np.arctan2(v, u)))
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    return level


def _texture_mask(texture: str, freq: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Where the second colour is used, in the object's own (rotating) coordinates."""
    k = 0.5 * np.pi * freq  # ``freq`` cells across the diameter (u in [-1, 1])
    second: np.ndarray
    if texture == "stripes":
        second = np.sin(k * u) >= 0
    elif texture == "checker":
        second = np.sin(k * u) * np.sin(k * v) >= 0
    elif texture == "split":
        second = u >= 0
    else:
        raise ValueError(f"unknown texture {texture!r}; expected one of {TEXTURES}")
    return second


def _wrapped(c: float, reach: float, size: int) -> list[float]:
    """Positions of a centre ``c`` (already in ``[0, size)``) whose reach shows in the frame."""
    return [c] + [c - size] * (c + reach > size) + [c + size] * (c - reach < 0)


def _placements(
    x: float, y: float, reach: float, size: int
) -> Iterator[tuple[slice, slice, float, float]]:
    """Pixel windows covering an object at ``(x, y)`` on the torus, with its local centre."""
    for px in _wrapped(x % size, reach, size):
        x0, x1 = max(math.floor(px - reach), 0), min(math.ceil(px + reach) + 1, size)
        for py in _wrapped(y % size, reach, size):
            y0, y1 = max(math.floor(py - reach), 0), min(math.ceil(py + reach) + 1, size)
            yield slice(y0, y1), slice(x0, x1), px - x0, py - y0


def _coverage(
    look: ObjectAppearance, track: ObjectTrack, i: int, size: int
) -> Iterator[tuple[slice, slice, np.ndarray, np.ndarray]]:
    """For each window the object covers at frame ``i``: ``(rows, cols, alpha, second)``.

    ``alpha`` is the anti-aliased opacity ``(h, w)``; ``second`` marks second-colour pixels.
    """
    radius = float(track.radius[i])
    theta = np.deg2rad(track.angle_deg[i])
    cos, sin = np.cos(theta), np.sin(theta)
    for rows, cols, lx, ly in _placements(float(track.x[i]), float(track.y[i]), radius + 1.5, size):
        dy = (np.arange(rows.stop - rows.start) - ly)[:, None]
        dx = (np.arange(cols.stop - cols.start) - lx)[None, :]
        # rotate the pixel offsets into the object's frame (positive angle = clockwise)
        u = (dx * cos + dy * sin) / radius
        v = (dy * cos - dx * sin) / radius
        level = _shape_level(look.shape, u, v)
        alpha = np.clip((1.0 - level) * radius + 0.5, 0.0, 1.0) * track.visibility[i]
        yield rows, cols, alpha, _texture_mask(look.texture, look.texture_freq, u, v)


def _background_texture(bg: BackgroundSpec, size: int, rng: np.random.Generator) -> np.ndarray:
    """A periodic ``(2S, 2S, 3)`` float32 texture, tiled to ``(4S, 4S, 3)`` for panning crops."""
    n = 2 * size
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")) * n

    def band(low_cycles: float, high_cycles: float) -> np.ndarray:
        # FFT-filtered noise is periodic, so the texture tiles seamlessly while panning
        spectrum = np.fft.fft2(rng.standard_normal((n, n)))
        spectrum *= (freq >= low_cycles) & (freq <= high_cycles)
        field = np.asarray(np.real(np.fft.ifft2(spectrum)), dtype=np.float64)
        field /= np.abs(field).max() + 1e-9
        return field

    regions = np.clip(0.5 + 0.9 * band(1, 4), 0.0, 1.0)[..., None]  # (2S, 2S, 1) in [0, 1]
    a = np.asarray(bg.color_a, np.float64)
    b = np.asarray(bg.color_b, np.float64)
    texture = a + regions * (b - a) + bg.detail * band(12, 40)[..., None]
    return np.tile(texture.astype(np.float32), (2, 2, 1))


def iter_frames(spec: SyntheticVideoSpec) -> Iterator[np.ndarray]:
    """Render ``spec`` frame by frame.

    Yields:
        ``(H, W, 3)`` uint8 RGB frames, ``spec.num_frames`` of them.
    """
    size, fps, bg = spec.size, spec.fps, spec.background
    tracks = object_tracks(spec)
    looks = [d.appearance for d in spec.distractors] + [a.body.appearance for a in spec.actions]
    colors = [
        (np.asarray(look.color, np.float32), np.asarray(look.color2, np.float32)) for look in looks
    ]
    texture = _background_texture(bg, size, np.random.default_rng([spec.seed, 2, 0]))
    noise_rng = np.random.default_rng([spec.seed, 2, 1])
    # Per-frame noise = a random crop of one (2S, 2S) noise field: 4 frames' worth of
    # Gaussian draws instead of T (the draws dominated rendering time); crops at different
    # offsets are independent pixel by pixel.
    noise = noise_rng.standard_normal((2 * size, 2 * size, 3), dtype=np.float32)
    noise *= np.float32(bg.noise_std)
    noise_at = noise_rng.integers(0, size + 1, (spec.num_frames, 2))
    period = 2 * size
    t = np.arange(spec.num_frames) / fps
    gain = 1.0 + bg.flicker * np.sin(2 * np.pi * t / bg.flicker_period_sec)
    pan_x = np.round(bg.pan_px_s[0] * t).astype(np.int64) % period
    pan_y = np.round(bg.pan_px_s[1] * t).astype(np.int64) % period
    for i in range(spec.num_frames):
        frame = texture[pan_y[i] : pan_y[i] + size, pan_x[i] : pan_x[i] + size].copy()
        for track, look, (c1, c2) in zip(tracks, looks, colors, strict=True):
            if track.visibility[i] <= 0.0:
                continue
            for rows, cols, alpha, second in _coverage(look, track, i, size):
                fill = np.where(second[..., None], c2, c1)  # (h, w, 3)
                patch = frame[rows, cols]
                patch += alpha[..., None].astype(np.float32) * (fill - patch)
        frame *= np.float32(gain[i])
        ny, nx = noise_at[i]
        frame += noise[ny : ny + size, nx : nx + size]
        yield np.clip(frame, 0.0, 255.0, out=frame).astype(np.uint8)


def render_video(spec: SyntheticVideoSpec) -> np.ndarray:
    """All frames of ``spec`` at once.

    Returns:
        ``(T, H, W, 3)`` uint8 RGB frames (``T = spec.num_frames``, ``H = W = spec.size``).
    """
    return np.stack(list(iter_frames(spec)))


def render_action_mask(spec: SyntheticVideoSpec, index: int) -> np.ndarray:
    """Where the object of action ``index`` is drawn, ignoring occlusion by later objects.

    Returns:
        ``(T, H, W)`` bool, True where the object's opacity is at least 0.5.
    """
    track = object_tracks(spec)[len(spec.distractors) + index]
    look = spec.actions[index].body.appearance
    masks = np.zeros((spec.num_frames, spec.size, spec.size), dtype=bool)
    for i in np.flatnonzero(track.visibility > 0):
        for rows, cols, alpha, _ in _coverage(look, track, int(i), spec.size):
            masks[i, rows, cols] |= alpha >= 0.5
    return masks
