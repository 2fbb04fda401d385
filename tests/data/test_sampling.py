"""Windowing math: coverage of sliding windows, truncation rules, uniform indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tadapt.data.sampling import (
    RandomTruncation,
    Resize,
    SlidingWindows,
    Window,
    num_grid_positions,
    overlapping,
    random_truncation,
    sliding_windows,
    uniform_frame_indices,
    window_frame_indices,
)


def test_num_grid_positions_is_ceil() -> None:
    assert num_grid_positions(3072, 4) == 768
    assert num_grid_positions(3073, 4) == 769
    assert num_grid_positions(1, 4) == 1
    with pytest.raises(ValueError, match="num_frames"):
        num_grid_positions(0, 4)


@pytest.mark.parametrize("last", ["align", "pad"])
@pytest.mark.parametrize(("window", "overlap"), [(8, 0.5), (7, 0.25), (16, 0.0), (5, 0.9)])
def test_sliding_windows_cover_every_position(window: int, overlap: float, last: str) -> None:
    config = SlidingWindows(window, overlap, last)  # type: ignore[arg-type]
    step = max(1, round(window * (1 - overlap)))
    for length in range(1, 80):
        windows = sliding_windows(length, config)
        covered = torch.zeros(length, dtype=torch.bool)
        for w in windows:
            assert w.size == window
            assert 1 <= w.length <= window
            assert w.stop <= length
            covered[w.start : w.stop] = True
        assert covered.all(), (length, windows)
        starts = [w.start for w in windows]
        assert starts == sorted(starts)
        assert len(set(starts)) == len(starts)
        if length <= window:
            assert windows == [Window(0, length, window)]
            continue
        # regular stride except (align) the last window, which ends at the video's end
        regular = windows[:-1] if last == "align" else windows
        assert [w.start for w in regular] == [i * step for i in range(len(regular))]
        if last == "align":
            assert windows[-1].stop == length
            assert windows[-1].length == window
        else:
            assert all(w.length == window for w in windows[:-1])
            assert windows[-1].stop == length


def test_sliding_windows_thumos_setting() -> None:
    # a 1000-position video, AdaTAD test: windows of 768 every 384, the last aligned to the end
    windows = sliding_windows(1000, SlidingWindows(768, 0.5))
    assert [(w.start, w.stop) for w in windows] == [(0, 768), (232, 1000)]
    padded = sliding_windows(1000, SlidingWindows(768, 0.5, "pad"))
    assert [(w.start, w.length, w.size) for w in padded] == [(0, 768, 768), (384, 616, 768)]
    assert padded[1].mask().sum() == 616


@pytest.mark.parametrize(
    "kwargs",
    [{"window": 0}, {"window": 4, "overlap": 1.0}, {"window": 4, "last": "wrap"}],
)
def test_sliding_windows_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="SlidingWindows"):
        SlidingWindows(**kwargs)  # type: ignore[arg-type]


def _ratio_inside(segments: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    inter = (segments[:, 1].clamp(max=stop) - segments[:, 0].clamp(min=start)).clamp(min=0)
    return inter / (segments[:, 1] - segments[:, 0])


def test_truncation_respects_thresh() -> None:
    rng = np.random.default_rng(0)
    config = RandomTruncation(64, thresh=0.75)
    for trial in range(200):
        length = int(rng.integers(65, 400))
        starts = rng.uniform(0, length - 5, size=int(rng.integers(1, 8)))
        ends = np.minimum(starts + rng.uniform(1, 40, size=len(starts)), length)
        segs = np.stack([starts, ends], axis=1)
        segments = torch.tensor(segs)
        cut = random_truncation(
            length, segments, config, generator=torch.Generator().manual_seed(trial)
        )
        w = cut.window
        assert w.size == 64
        assert w.length == 64
        assert 0 <= w.start <= length - 64
        ratios = _ratio_inside(segments, w.start, w.stop)
        # kept = exactly the instances with >= thresh inside
        assert torch.equal(cut.keep, ratios >= 0.75)
        # kept instances are clipped to the window and shifted to its start
        expected = segments[cut.keep].clamp(min=w.start, max=w.stop) - w.start
        torch.testing.assert_close(cut.segments, expected)
        assert (cut.segments >= 0).all()
        assert (cut.segments <= 64).all()
        # every instance lies inside the video and is shorter than the window, so a
        # qualifying window exists and 200 draws find it
        assert cut.keep.any()


def test_truncation_uses_last_draw_when_nothing_qualifies() -> None:
    # one instance of 200 positions can never have 75 % inside a window of 64
    segments = torch.tensor([[10.0, 210.0]])
    cut = random_truncation(
        300, segments, RandomTruncation(64, 0.75, max_trials=5), generator=torch.Generator()
    )
    assert not cut.keep.any()
    assert cut.segments.shape == (0, 2)
    assert cut.window.length == 64


def test_truncation_short_video_is_untouched_without_crop_ratio() -> None:
    segments = torch.tensor([[2.0, 5.0], [40.0, 55.0]])  # the second extends past the end
    cut = random_truncation(50, segments, RandomTruncation(64, 0.75))
    assert cut.window == Window(0, 50, 64)
    assert cut.keep.all()
    torch.testing.assert_close(cut.segments, segments)
    assert cut.window.mask().sum() == 50


def test_truncation_crop_ratio_shortens_short_videos_only() -> None:
    config = RandomTruncation(64, 0.5, crop_ratio=(0.9, 1.0))
    lengths = set()
    for seed in range(100):
        cut = random_truncation(
            50, torch.tensor([[10.0, 20.0]]), config, generator=torch.Generator().manual_seed(seed)
        )
        lengths.add(cut.window.length)
        assert cut.window.size == 64
        if cut.window.length < 50:
            assert cut.keep.all()  # the instance is always found inside
    assert lengths == set(range(45, 51))  # randint(round(0.9 * 50), 50)
    # videos longer than the window are never shortened (the reference's rule)
    for seed in range(20):
        cut = random_truncation(
            500, torch.tensor([[10.0, 20.0]]), config, generator=torch.Generator().manual_seed(seed)
        )
        assert cut.window.length == 64


def test_truncation_is_reproducible_and_varies() -> None:
    segments = torch.tensor([[100.0, 110.0], [300.0, 320.0], [600.0, 650.0]])
    config = RandomTruncation(128, 0.75)

    def start(seed: int) -> int:
        g = torch.Generator().manual_seed(seed)
        return random_truncation(1000, segments, config, generator=g).window.start

    assert start(3) == start(3)
    assert len({start(s) for s in range(30)}) > 10


def test_truncation_without_instances_draws_once() -> None:
    cut = random_truncation(
        300, torch.zeros(0, 2), RandomTruncation(64, 0.75), generator=torch.Generator()
    )
    assert cut.segments.shape == (0, 2)
    assert cut.keep.shape == (0,)
    assert 0 <= cut.window.start <= 236


@pytest.mark.parametrize(
    "kwargs",
    [{"length": 0}, {"length": 8, "thresh": 1.5}, {"length": 8, "crop_ratio": (0.0, 1.0)}],
)
def test_truncation_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="RandomTruncation"):
        RandomTruncation(**kwargs)  # type: ignore[arg-type]


def test_resize_config_errors() -> None:
    with pytest.raises(ValueError, match="min_gt_fraction"):
        Resize(768, min_gt_fraction=1.0)


def test_overlapping_excludes_touching_segments() -> None:
    segments = torch.tensor([[0.0, 10.0], [10.0, 12.0], [19.0, 30.0], [30.0, 31.0]])
    assert overlapping(segments, 10.0, 30.0).tolist() == [False, True, True, False]


def test_window_frame_indices_pad_with_last_frame() -> None:
    indices, mask = window_frame_indices(Window(5, 3, 6), frame_stride=4, num_frames=100)
    assert indices.tolist() == [20, 24, 28, 28, 28, 28]
    assert mask.tolist() == [True, True, True, False, False, False]
    # grid positions past the last frame are clamped to it
    indices, _ = window_frame_indices(Window(0, 3, 3), frame_stride=4, num_frames=9)
    assert indices.tolist() == [0, 4, 8]
    indices, _ = window_frame_indices(Window(0, 3, 3), frame_stride=4, num_frames=7)
    assert indices.tolist() == [0, 4, 6]


@pytest.mark.parametrize(("num_frames", "count"), [(3000, 768), (768, 768), (100, 768), (7, 3)])
def test_uniform_frame_indices_match_opentad_formula(num_frames: int, count: int) -> None:
    # OpenTAD LoadFrames(method="resize"): np.arange(s / 2 - 0.5, total + s / 2 - 0.5, s)
    stride = num_frames / count
    reference = np.arange(stride / 2 - 0.5, num_frames + stride / 2 - 0.5, stride)[:count]
    reference = np.clip(reference, 0, num_frames - 1).round().astype(np.int64)
    got = uniform_frame_indices(num_frames, count)
    assert got.shape == (count,)
    np.testing.assert_array_equal(got.numpy(), reference)
    assert (got.diff() >= 0).all()
