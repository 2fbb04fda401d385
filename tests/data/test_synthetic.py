"""The synthetic action-video generator: files, annotations, motion and no single-frame cues."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from tadapt.cli import synth as synth_cli
from tadapt.data import synthetic
from tadapt.data.synthetic import (
    MOTION_CLASSES,
    SyntheticConfig,
    SyntheticVideoSpec,
    ensure_synthetic_dataset,
    generate_synthetic_dataset,
    plan_dataset,
    preview_sheet,
    render_action_mask,
    render_video,
    write_png,
    write_video,
)
from tadapt.data.synthetic_render import SHAPES, object_tracks
from tadapt.io import load_annotations

# A dataset that renders in well under a second: 8 videos of 6 s at 10 fps, 48 px.
TINY = SyntheticConfig(
    num_videos=8,
    num_classes=4,
    duration_sec=6.0,
    fps=10.0,
    size=48,
    seed=3,
    actions_per_video=(2, 3),
    action_duration_sec=(0.5, 2.0),
    overlap_prob=0.5,
    distractors_per_video=(1, 2),
    test_fraction=0.25,
)
# The default dataset's layout (planned only, nothing rendered): 50 videos, the first 10 classes.
DEFAULT_PLAN = plan_dataset(SyntheticConfig())
# Classes chosen by name, in an order unlike MOTION_CLASSES': one of each kind of motion.
NAMED = ("blink", "move_down", "rotate_ccw", "shrink", "oscillate", "move_left")
NAMED_PLAN = plan_dataset(SyntheticConfig(classes=NAMED))
DIAGONALS = ("move_up_right", "move_up_left", "move_down_right", "move_down_left")
PLANS = {
    "default": (MOTION_CLASSES[:10], DEFAULT_PLAN),
    "named": (NAMED, NAMED_PLAN),
    "diagonal": (DIAGONALS, plan_dataset(SyntheticConfig(classes=DIAGONALS))),
}


def motion_cases(*motions: str) -> list[object]:
    """``(motion, plan name)`` for every plan whose classes include the motion."""
    return [
        pytest.param(m, name, id=f"{m}-{name}")
        for name, (classes, _) in PLANS.items()
        for m in motions
        if m in classes
    ]


def decode(path: Path) -> tuple[np.ndarray, float]:
    """All frames of a video as (T, H, W, 3) uint8 and its frame rate, via PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return np.stack(frames), float(stream.average_rate)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_synthetic_dataset(out, TINY, workers=1, progress=False)
    return out


# --------------------------------------------------------------------------- files


def test_annotations_load_as_actionformer(tiny_dataset: Path) -> None:
    annotations = load_annotations(tiny_dataset / "annotations.json")
    plan = plan_dataset(TINY)
    assert annotations.format == "actionformer"
    assert annotations.class_names == MOTION_CLASSES[:4]
    assert annotations.report.clipped_past_duration == 0
    assert annotations.num_instances == sum(len(s.actions) for s in plan)
    train, test = annotations.split("train"), annotations.split("test")
    assert len(test.videos) == TINY.num_test_videos == 2
    assert len(train.videos) == 6
    for spec in plan:
        gt = annotations.videos[spec.video_id]
        assert gt.subset == spec.subset
        assert gt.duration_sec == pytest.approx(6.0)
        assert gt.fps == 10.0
        expected = [[a.start_frame / 10, a.end_frame / 10] for a in spec.actions]
        np.testing.assert_allclose(gt.segments.tensor.numpy(), expected)
        assert gt.labels.tolist() == [a.label_id for a in spec.actions]
    # the class list and frame indices written beside the seconds agree
    assert (tiny_dataset / "classes.txt").read_text().split() == list(MOTION_CLASSES[:4])
    raw = json.loads((tiny_dataset / "annotations.json").read_text())
    for entry in raw["database"].values():
        for ann in entry["annotations"]:
            assert [f / 10 for f in ann["segment(frames)"]] == ann["segment"]
            assert MOTION_CLASSES[ann["label_id"]] == ann["label"]
    assert json.loads((tiny_dataset / "config.json").read_text())["seed"] == 3


def test_videos_decode_to_the_rendered_frames(tiny_dataset: Path) -> None:
    spec = plan_dataset(TINY)[0]
    frames, fps = decode(tiny_dataset / "videos" / f"{spec.video_id}.mp4")
    assert frames.shape == (60, 48, 48, 3)  # duration * fps frames of size x size
    assert fps == 10.0
    rendered = render_video(spec)
    error = np.abs(frames.astype(np.int16) - rendered).mean(axis=(1, 2, 3))
    # H.264 at crf 23 of noisy frames: a few grey levels per pixel, never a wrong frame
    assert error.max() < 8.0
    shifted = np.abs(frames[1:].astype(np.int16) - rendered[:-1]).mean()
    assert shifted > error.mean()
    assert not list((tiny_dataset / "videos").glob(".*"))  # no temporary files left


@pytest.mark.slow  # starting worker processes imports tadapt (and torch) in each
def test_deterministic_and_independent_of_workers(tiny_dataset: Path, tmp_path: Path) -> None:
    generate_synthetic_dataset(tmp_path, TINY, workers=2, progress=False)
    assert (tmp_path / "annotations.json").read_bytes() == (
        tiny_dataset / "annotations.json"
    ).read_bytes()
    for name in ("synth_0000.mp4", "synth_0005.mp4"):
        again, _ = decode(tmp_path / "videos" / name)
        first, _ = decode(tiny_dataset / "videos" / name)
        np.testing.assert_array_equal(again, first)
    other = plan_dataset(dataclasses.replace(TINY, seed=4))
    assert [s.actions for s in other] != [s.actions for s in plan_dataset(TINY)]


def test_existing_dataset_needs_overwrite(tiny_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="overwrite"):
        generate_synthetic_dataset(tiny_dataset, TINY, progress=False)
    small = dataclasses.replace(TINY, num_videos=5, num_classes=2, size=32)
    out = tmp_path / "d"
    generate_synthetic_dataset(out, TINY, progress=False)
    generate_synthetic_dataset(out, small, progress=False, overwrite=True)
    assert sorted(p.name for p in (out / "videos").iterdir()) == [
        f"synth_000{i}.mp4" for i in range(5)
    ]
    assert len(load_annotations(out / "annotations.json").videos) == 5


def test_ensure_reuses_the_same_settings_and_refuses_others(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    video = tiny_dataset / "videos" / "synth_0000.mp4"
    written = video.stat().st_mtime_ns
    assert ensure_synthetic_dataset(tiny_dataset, TINY, progress=False) == (
        tiny_dataset / "annotations.json"
    )
    assert video.stat().st_mtime_ns == written  # reused, not rendered again
    with pytest.raises(ValueError, match="generated with other settings"):
        ensure_synthetic_dataset(tiny_dataset, dataclasses.replace(TINY, seed=4), progress=False)
    small = dataclasses.replace(TINY, num_videos=2, num_classes=2, test_fraction=0.0)
    ensure_synthetic_dataset(tmp_path / "new", small, progress=False)  # missing: written
    assert len(load_annotations(tmp_path / "new" / "annotations.json").videos) == 2


def test_named_classes_write_contiguous_labels(tmp_path: Path) -> None:
    named = dataclasses.replace(TINY, num_classes=3, classes=("oscillate", "move_up", "blink"))
    path = generate_synthetic_dataset(tmp_path, named, progress=False)
    annotations = load_annotations(path)
    assert annotations.format == "actionformer"
    assert annotations.class_names == ("oscillate", "move_up", "blink")
    train = annotations.split("train").videos.values()
    assert {int(label) for gt in train for label in gt.labels} == {0, 1, 2}
    raw = json.loads(path.read_text())
    for entry in raw["database"].values():
        for ann in entry["annotations"]:
            assert named.class_names[ann["label_id"]] == ann["label"]
    assert (tmp_path / "classes.txt").read_text().split() == ["oscillate", "move_up", "blink"]
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["classes"], saved["num_classes"]) == (["oscillate", "move_up", "blink"], 3)
    # config.json records the names: the same ones are reused, another order is refused
    assert ensure_synthetic_dataset(tmp_path, named, progress=False) == path
    reordered = dataclasses.replace(named, classes=("move_up", "oscillate", "blink"))
    with pytest.raises(ValueError, match="generated with other settings"):
        ensure_synthetic_dataset(tmp_path, reordered, progress=False)


def test_naming_the_first_k_classes_changes_nothing(tiny_dataset: Path) -> None:
    first_four = dataclasses.replace(TINY, classes=MOTION_CLASSES[:4])
    assert first_four.class_names == TINY.class_names
    assert plan_dataset(first_four) == plan_dataset(TINY)
    # unset, classes stays out of config.json: folders written before it existed are reused
    assert "classes" not in json.loads((tiny_dataset / "config.json").read_text())


def test_interrupted_run_leaves_no_annotation_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(path: Path, frames: object, fps: float, **kwargs: object) -> int:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write_video(path, frames, fps, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(synthetic, "write_video", failing)
    with pytest.raises(KeyboardInterrupt):
        generate_synthetic_dataset(tmp_path, TINY, progress=False)
    assert not (tmp_path / "annotations.json").exists()
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == [
        "synth_0000.mp4",
        "synth_0001.mp4",
    ]


def test_write_video_is_bit_exact(tmp_path: Path) -> None:
    frames = render_video(plan_dataset(TINY)[1])
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        assert write_video(tmp_path / name, frames, 10.0) == len(frames)
    data = {(tmp_path / name).read_bytes() for name in ("a.mp4", "b.mp4", "c.mp4")}
    assert len(data) == 1


def test_write_video_is_atomic_on_error(tmp_path: Path) -> None:
    def frames():
        yield np.zeros((16, 16, 3), np.uint8)
        raise RuntimeError("renderer failed")

    with pytest.raises(RuntimeError, match="renderer failed"):
        write_video(tmp_path / "v.mp4", frames(), 10.0)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- layout


def test_layout_over_the_default_dataset() -> None:
    config = SyntheticConfig()
    lengths, labels, overlapping = [], Counter(), 0
    for spec in DEFAULT_PLAN:
        assert 2 <= len(spec.actions) <= 5
        starts = [a.start_frame for a in spec.actions]
        assert starts == sorted(starts)
        for i, a in enumerate(spec.actions):
            assert 0 <= a.start_frame < a.end_frame <= config.num_frames - 1
            assert a.motion == MOTION_CLASSES[a.label_id]
            lengths.append((a.end_frame - a.start_frame) / config.fps)
            labels[a.label_id, spec.subset] += 1
            for b in spec.actions[i + 1 :]:
                if b.start_frame < a.end_frame:  # overlapping pair: different classes
                    overlapping += 1
                    assert b.label_id != a.label_id
    assert min(lengths) >= 1.0 - 1 / 15
    assert max(lengths) <= 12.0 + 1 / 15
    assert sum(n < 2.0 for n in lengths) >= 20
    assert sum(n > 8.0 for n in lengths) >= 5
    assert overlapping >= 10  # overlap_prob 0.25 over ~175 instances
    # labels dealt from a deck: every class in both subsets, counts within 2 of each other
    for subset in ("train", "test"):
        counts = [labels[c, subset] for c in range(10)]
        assert min(counts) >= 1, (subset, counts)
        assert max(counts) - min(counts) <= 2, (subset, counts)


def test_named_classes_label_the_plan() -> None:
    config = SyntheticConfig(classes=NAMED)
    assert (config.num_classes, config.class_names) == (6, NAMED)
    labels = Counter()
    for spec in NAMED_PLAN:
        for a in spec.actions:
            assert a.motion == NAMED[a.label_id]  # label: index in NAMED, not MOTION_CLASSES
            labels[a.label_id, spec.subset] += 1
    for subset in ("train", "test"):
        counts = [labels[c, subset] for c in range(6)]
        assert min(counts) >= 1, (subset, counts)
        assert max(counts) - min(counts) <= 2, (subset, counts)
    assert sum(labels.values()) == sum(len(s.actions) for s in NAMED_PLAN)


def test_no_overlap_when_disabled() -> None:
    for spec in plan_dataset(SyntheticConfig(num_videos=20, overlap_prob=0.0)):
        ends = [a.end_frame for a in spec.actions[:-1]]
        starts = [a.start_frame for a in spec.actions[1:]]
        assert all(s > e for s, e in zip(starts, ends, strict=True))


def test_every_class_reaches_the_training_split_at_the_minimum() -> None:
    # 5 training videos x 2 actions = 10 = num_classes: the tightest allowed case
    config = SyntheticConfig(num_videos=5, test_fraction=0.0, actions_per_video=(2, 2))
    plan = plan_dataset(config)
    assert sorted(a.label_id for s in plan for a in s.actions) == list(range(10))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"num_classes": len(MOTION_CLASSES) + 1}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_videos": 0}, "num_videos"),
        ({"duration_sec": 0.0}, "duration_sec"),
        ({"duration_sec": -5.0}, "duration_sec"),
        ({"fps": 0.0}, "fps"),
        ({"size": 111}, "size"),
        ({"actions_per_video": (0, 2)}, "actions_per_video"),
        ({"actions_per_video": (4, 3)}, "actions_per_video"),
        ({"actions_per_video": (2, 25)}, "actions_per_video"),  # 25 x 1 s + gaps > 30 s
        ({"action_duration_sec": (3.0, 2.0)}, "action_duration_sec"),
        ({"action_duration_sec": (0.1, 2.0)}, "action_duration_sec"),  # < 4 frames
        ({"action_duration_sec": (1.0, 40.0)}, "action_duration_sec"),
        ({"overlap_prob": 1.5}, "overlap_prob"),
        ({"distractors_per_video": (-1, 2)}, "distractors_per_video"),
        ({"object_radius": (0.0, 0.1)}, "object_radius"),
        ({"object_radius": (0.2, 0.1)}, "object_radius"),
        ({"object_radius": (0.15, 0.4)}, "object_radius"),  # over 0.3 of the frame
        ({"object_radius": (0.1, 0.2)}, "object_radius"),  # grow / shrink need max >= 2.5 min
        ({"noise_std": (-1.0, 2.0)}, "noise_std"),
        ({"background_detail": (10.0, 300.0)}, "background_detail"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"crf": 60}, "crf"),
        ({"preset": "turbo"}, "preset"),
        ({"num_videos": 3}, "num_classes"),  # 2 training videos cannot hold 10 classes
        ({"classes": ("grow", "jump")}, "classes"),
        ({"classes": ("grow", "blink", "grow")}, "classes"),
        ({"classes": ()}, "classes"),
        ({"classes": "grow"}, "classes"),  # a string, not a sequence of names
        ({"classes": ("grow", "blink"), "num_classes": 3}, "num_classes"),
        ({"classes": ("grow", "blink", "shrink"), "num_videos": 2}, "num_classes"),
    ],
)
def test_bad_config_raises(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"SyntheticConfig\.{field}="):
        SyntheticConfig(**changes)  # type: ignore[arg-type]


def test_unknown_class_name_lists_the_known_ones() -> None:
    known = ", ".join(MOTION_CLASSES)
    with pytest.raises(ValueError, match=rf"unknown motion class 'jump'; known: {known}$"):
        SyntheticConfig(classes=("grow", "jump"))
    # num_classes may stay at its default or agree
    assert SyntheticConfig(num_classes=2, classes=("grow", "blink")).num_classes == 2


# --------------------------------------------------------------------------- motion


def _instance(motion: str, plan: str = "default") -> tuple[SyntheticVideoSpec, int]:
    """The longest instance labelled as ``motion`` in one of :data:`PLANS`."""
    classes, specs = PLANS[plan]
    label = classes.index(motion)
    return max(
        ((s, k) for s in specs for k, a in enumerate(s.actions) if a.label_id == label),
        key=lambda sk: sk[0].actions[sk[1]].end_frame - sk[0].actions[sk[1]].start_frame,
    )


def _circular_centroids(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame centroid (x, y) of non-empty (T, S, S) masks on the torus, unwrapped in time."""
    size = masks.shape[-1]
    angles = 2 * np.pi * np.arange(size) / size
    x_profile, y_profile = masks.sum(axis=1), masks.sum(axis=2)  # (T, S) each
    assert (x_profile.sum(axis=1) > 0).all(), "the object is invisible in some frame"
    return tuple(  # type: ignore[return-value]
        np.unwrap(np.arctan2(p @ np.sin(angles), p @ np.cos(angles))) * size / (2 * np.pi)
        for p in (x_profile, y_profile)
    )


# Unit direction (x right, y down) of each move class, as the class names say.
_HALF = 0.5**0.5
MOVE_DIRECTIONS = {
    "move_right": (1.0, 0.0),
    "move_left": (-1.0, 0.0),
    "move_up": (0.0, -1.0),
    "move_down": (0.0, 1.0),
    "move_up_right": (_HALF, -_HALF),
    "move_up_left": (-_HALF, -_HALF),
    "move_down_right": (_HALF, _HALF),
    "move_down_left": (-_HALF, _HALF),
}


def test_the_diagonal_moves_come_after_the_default_classes() -> None:
    assert set(MOVE_DIRECTIONS) <= set(MOTION_CLASSES)
    assert MOTION_CLASSES[10:] == DIAGONALS  # a default dataset is drawn as before they existed
    assert SyntheticConfig().class_names == MOTION_CLASSES[:10]
    assert SyntheticConfig(num_classes=14).class_names == MOTION_CLASSES


@pytest.mark.parametrize(("motion", "plan"), motion_cases(*MOVE_DIRECTIONS))
def test_moving_objects_move_in_their_direction(motion: str, plan: str) -> None:
    spec, k = _instance(motion, plan)
    action = spec.actions[k]
    s, e = action.start_frame, action.end_frame
    first = max(action.body.appear_frame, s - 8)  # up to 8 idle frames before the action
    x, y = _circular_centroids(render_action_mask(spec, k)[first : e + 1])
    expected = action.magnitude * (e - s) / spec.fps
    dx, dy = MOVE_DIRECTIONS[motion]
    along, across = x * dx + y * dy, y * dx - x * dy  # (T,) each: along the move and across it
    moved = along[e - first] - along[s - first]
    assert moved == pytest.approx(expected, rel=0.2, abs=3.0)
    assert abs(across[e - first] - across[s - first]) < 0.2 * expected + 3.0
    # outside the action it only idles: much slower than during it
    if s - first >= 4:
        idle_speed = np.mean(np.abs(np.diff(along[: s - first + 1])))
        assert idle_speed < 0.5 * expected / (e - s)


@pytest.mark.parametrize(("motion", "plan"), motion_cases("rotate_cw", "rotate_ccw"))
def test_rotating_objects_turn_their_way(motion: str, plan: str) -> None:
    spec, k = _instance(motion, plan)
    action = spec.actions[k]
    # an ellipse shows its orientation in the mask's second moments
    look = dataclasses.replace(action.body.appearance, shape="ellipse", radius_px=14.0)
    action = dataclasses.replace(action, body=dataclasses.replace(action.body, appearance=look))
    spec = dataclasses.replace(spec, actions=(*spec.actions[:k], action, *spec.actions[k + 1 :]))
    masks = render_action_mask(spec, k)[action.start_frame : action.end_frame + 1]
    orientation = []
    for m in masks:  # angle of the major axis from +x towards +y (clockwise on screen)
        ys, xs = np.nonzero(m)
        dx, dy = xs - xs.mean(), ys - ys.mean()
        orientation.append(0.5 * np.arctan2(2 * np.mean(dx * dy), np.mean(dx**2 - dy**2)))
    turned = np.degrees(np.unwrap(np.array(orientation), period=np.pi)[-1] - orientation[0])
    expected = action.magnitude * (action.end_frame - action.start_frame) / spec.fps
    sign = 1 if motion == "rotate_cw" else -1
    assert sign * turned == pytest.approx(expected, rel=0.1, abs=15.0)


@pytest.mark.parametrize(("motion", "plan"), motion_cases("grow", "shrink"))
def test_growing_and_shrinking_change_the_area(motion: str, plan: str) -> None:
    spec, k = _instance(motion, plan)
    action = spec.actions[k]
    area = render_action_mask(spec, k).sum(axis=(1, 2)).astype(float)
    ratio = area[action.end_frame] / area[action.start_frame]
    expected = action.magnitude ** (2 if motion == "grow" else -2)  # area ~ radius^2
    assert ratio == pytest.approx(expected, rel=0.25)
    # monotone up to the idle wobble
    inside = area[action.start_frame : action.end_frame + 1]
    assert (np.diff(inside) * (1 if motion == "grow" else -1) > -0.1 * inside[:-1]).all()


@pytest.mark.parametrize(("motion", "plan"), motion_cases("oscillate"))
def test_oscillating_objects_swing_and_return(motion: str, plan: str) -> None:
    spec, k = _instance(motion, plan)
    action = spec.actions[k]
    s, e = action.start_frame, action.end_frame
    x, _ = _circular_centroids(render_action_mask(spec, k)[s : e + 1])
    t = np.arange(e - s + 1) / spec.fps
    assert 2 * action.frequency_hz * t[-1] == pytest.approx(round(2 * action.frequency_hz * t[-1]))
    # x = A sin(2 pi f t) + slow drift; fit A with a linear trend for the drift
    design = np.stack([np.sin(2 * np.pi * action.frequency_hz * t), t, np.ones_like(t)], 1)
    coef, residual, *_ = np.linalg.lstsq(design, x, rcond=None)
    assert coef[0] == pytest.approx(action.magnitude, rel=0.15)
    assert residual[0] / np.sum((x - x.mean()) ** 2) < 0.2  # the sine explains the motion


@pytest.mark.parametrize(("motion", "plan"), motion_cases("blink"))
def test_blinking_objects_disappear_periodically(motion: str, plan: str) -> None:
    spec, k = _instance(motion, plan)
    action = spec.actions[k]
    visible = render_action_mask(spec, k).any(axis=(1, 2))
    inside = visible[action.start_frame : action.end_frame + 1]
    periods = round(action.frequency_hz * (action.end_frame - action.start_frame) / spec.fps)
    assert inside[0]
    assert inside[-1]
    assert np.sum(np.diff(inside.astype(int)) == -1) == periods  # one off-phase per period
    assert 0.3 < 1 - inside.mean() < 0.6


def test_frames_show_the_object_where_the_mask_is() -> None:
    spec, k = _instance("move_right")
    action = spec.actions[k]
    hidden = dataclasses.replace(
        action, body=dataclasses.replace(action.body, appear_frame=spec.num_frames)
    )
    without = dataclasses.replace(spec, actions=(*spec.actions[:k], hidden, *spec.actions[k + 1 :]))
    frames = list(range(action.start_frame, action.end_frame + 1, 10))
    with_obj = render_video(spec)[frames].astype(int)
    without_obj = render_video(without)[frames].astype(int)
    changed = np.abs(with_obj - without_obj).max(axis=-1) > 0
    mask = render_action_mask(spec, k)[frames]
    assert changed[mask].mean() > 0.95  # drawn (bar the odd pixel of identical colour) ...
    near = np.zeros_like(mask)  # the mask grown by one pixel (3 x 3), for the anti-aliased rim
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= np.roll(mask, (dy, dx), axis=(1, 2))
    assert not (changed & ~near).any()  # ... and nowhere else


# --------------------------------------------------------------------------- no shortcuts


def test_appearance_does_not_depend_on_the_class() -> None:
    shapes_of = {c: set() for c in range(10)}
    twins = 0
    for spec in DEFAULT_PLAN:
        actor_looks = [a.body.appearance for a in spec.actions]
        twins += any(d.appearance in actor_looks for d in spec.distractors)
        for a in spec.actions:
            shapes_of[a.label_id].add(a.body.appearance.shape)
    for c, shapes in shapes_of.items():
        assert len(shapes) >= 5, (MOTION_CLASSES[c], shapes)
    assert set().union(*shapes_of.values()) == set(SHAPES)
    assert twins >= 0.3 * len(DEFAULT_PLAN)  # exact look-alikes of actors that never act


def test_actor_sizes_stay_within_the_distractor_range() -> None:
    config = SyntheticConfig()
    radii = [d.appearance.radius_px for s in DEFAULT_PLAN for d in s.distractors]
    lo, hi = min(radii), max(radii)
    for spec in DEFAULT_PLAN[:12]:
        tracks = object_tracks(spec)[len(spec.distractors) :]
        for action, track in zip(spec.actions, tracks, strict=True):
            r = track.radius[action.start_frame : action.end_frame + 1]
            assert 0.9 * lo <= r.min(), action.motion
            assert r.max() <= 1.1 * hi, action.motion
    assert lo < 0.06 * config.size
    assert hi > 0.15 * config.size


def test_object_radius_sets_every_object_size() -> None:
    motions = ("move_right", "move_left", "rotate_cw", "rotate_ccw")  # no grow / shrink
    config = SyntheticConfig(num_videos=8, classes=motions, object_radius=(0.15, 0.2))
    assert SyntheticConfig(num_videos=8, classes=motions, object_radius=(0.1, 0.2))  # allowed
    plan = plan_dataset(config)
    bodies = [o for s in plan for o in (*s.distractors, *(a.body for a in s.actions))]
    radii = [o.appearance.radius_px for o in bodies]
    assert len(radii) > 20
    assert 0.15 * config.size <= min(radii)
    assert max(radii) <= 0.2 * config.size


def test_noise_and_detail_ranges_reach_the_backgrounds() -> None:
    quiet = dataclasses.replace(TINY, noise_std=(0.0, 0.0), background_detail=(1.0, 2.0))
    backgrounds = [spec.background for spec in plan_dataset(quiet)]
    assert all(b.noise_std == 0.0 and 1.0 <= b.detail <= 2.0 for b in backgrounds)
    frames = render_video(plan_dataset(quiet)[0])
    noisy = render_video(plan_dataset(dataclasses.replace(quiet, noise_std=(20.0, 20.0)))[0])
    # temporal differences of a still background: noise alone makes frames differ a lot more
    assert (
        np.abs(np.diff(noisy.astype(float), axis=0)).mean()
        > 3 * np.abs(np.diff(frames.astype(float), axis=0)).mean()
    )


def test_new_appearance_fields_stay_out_of_config_json_at_their_defaults(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    saved = json.loads((tiny_dataset / "config.json").read_text())
    assert not {"object_radius", "noise_std", "background_detail"} & set(saved)
    easy = dataclasses.replace(TINY, object_radius=(0.1, 0.25), noise_std=(1.0, 2.0))
    generate_synthetic_dataset(tmp_path, easy, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["object_radius"], saved["noise_std"]) == ([0.1, 0.25], [1.0, 2.0])
    assert "background_detail" not in saved
    with pytest.raises(ValueError, match="generated with other settings"):
        ensure_synthetic_dataset(tmp_path, TINY, progress=False)


def test_actors_idle_in_view_before_and_after_acting() -> None:
    last = SyntheticConfig().num_frames - 1
    for spec in DEFAULT_PLAN:
        for a in spec.actions:
            # appearing or vanishing never marks a boundary (0.5-3 s of idling around it)
            assert a.body.appear_frame <= max(0, a.start_frame - 7)
            assert a.body.vanish_frame >= min(last, a.end_frame + 7)


# --------------------------------------------------------------------------- preview, CLI


def test_preview_sheet_rows_and_png_round_trip(tmp_path: Path) -> None:
    plan = plan_dataset(TINY)
    sheet = preview_sheet(plan, 6, frames=3)  # classes 4 and 5 do not occur: blank rows
    tile = TINY.size + 2
    assert sheet.shape == (6 * tile, 4 * tile + 2, 3)
    assert (sheet[4 * tile :] == 255).all()
    assert sheet[: TINY.size, : TINY.size].std() > 10  # a real frame in row 0
    write_png(tmp_path / "rgb.png", sheet)
    back, _ = decode(tmp_path / "rgb.png")
    np.testing.assert_array_equal(back[0], sheet)
    write_png(tmp_path / "pal.png", sheet, colors=32)
    back, _ = decode(tmp_path / "pal.png")
    assert len(np.unique(back[0].reshape(-1, 3), axis=0)) <= 32
    assert np.abs(back[0].astype(int) - sheet).mean() < 12
    with pytest.raises(ValueError, match="colors"):
        write_png(tmp_path / "x.png", sheet, colors=1)


def test_cli_writes_a_dataset_and_summarises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    synth_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        [
            "synth", str(tmp_path / "out"), "--videos", "4", "--classes", "2", "--seed", "1",
            "--duration", "4", "--size", "32", "--fps", "8", "--actions", "1", "2",
            "--action-duration", "0.5", "1.5", "--workers", "1", "--preview", "--no-progress",
            "--distractors", "0", "1", "--object-radius", "0.1", "0.25", "--noise", "1", "2",
            "--detail", "3", "4",
        ]
    )  # fmt: skip
    assert args.handler(args) == 0
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["distractors_per_video"] == [0, 1]
    assert (saved["object_radius"], saved["noise_std"]) == ([0.1, 0.25], [1.0, 2.0])
    assert saved["background_detail"] == [3.0, 4.0]
    out = capsys.readouterr().out
    annotations = load_annotations(tmp_path / "out" / "annotations.json")
    assert f"{annotations.num_instances} action instances of 2 classes" in out
    assert "wrote 4 videos (3 train, 1 test), 32 frames each" in out
    assert str(tmp_path / "out" / "annotations.json") in out
    assert (tmp_path / "out" / "preview.png").stat().st_size > 0
    frames, fps = decode(tmp_path / "out" / "videos" / "synth_0000.mp4")
    assert frames.shape == (32, 32, 32, 3)
    assert fps == 8.0
