"""Temporal windowing on a video's grid: sliding windows, random truncation, uniform resize.

Everything here is index arithmetic on a *grid* of ``L`` positions (sampled frames at a fixed
stride, or feature vectors), free of decoding, so that it is exhaustively unit-tested and shared
by the frame and the feature datasets.

* :func:`sliding_windows` cuts the grid into overlapping windows that cover every position
  (THUMOS-14 test in AdaTAD / OpenTAD ``SlidingWindowDataset``: 768 positions, overlap 0.5).
* :func:`random_truncation` picks one random window per epoch with ActionFormer's
  ``truncate_feats`` semantics (``libs/datasets/data_utils.py``; OpenTAD ``LoadFrames`` method
  ``random_trunc`` is the same): retry until at least one instance keeps ``trunc_thresh`` of its
  length inside the window; keep those instances, clipped to the window.
* :func:`uniform_frame_indices` spreads ``N`` frames over a whole video at bin centres
  (ActivityNet "resize" mode, OpenTAD ``LoadFrames`` method ``resize``).

The three frozen dataclasses :class:`SlidingWindows`, :class:`RandomTruncation` and
:class:`Resize` are the typed settings a dataset takes to choose one of these modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "RandomTruncation",
    "Resize",
    "SlidingWindows",
    "Truncation",
    "Window",
    "num_grid_positions",
    "overlapping",
    "random_truncation",
    "sliding_windows",
    "uniform_frame_indices",
    "window_frame_indices",
]


@dataclass(frozen=True)
class SlidingWindows:
    """Cut every video into overlapping windows (one dataset item per window).

    Attributes:
        window: grid positions per window (AdaTAD THUMOS: 768).
        overlap: fraction of a window shared with the next one, in ``[0, 1)`` (AdaTAD test:
            0.5, validation: 0.25).
        last: ``"align"`` ends the last window at the video's end (it overlaps its predecessor
            more, OpenTAD's choice); ``"pad"`` keeps the regular stride and pads the last
            window past the end with masked positions.
    """

    window: int
    overlap: float = 0.5
    last: Literal["align", "pad"] = "align"

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"SlidingWindows.window must be >= 1, got {self.window}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"SlidingWindows.overlap must be in [0, 1), got {self.overlap}")
        if self.last not in ("align", "pad"):
            raise ValueError(f"SlidingWindows.last must be 'align' or 'pad', got {self.last!r}")


@dataclass(frozen=True)
class RandomTruncation:
    """One random window per video and epoch (training), ActionFormer ``truncate_feats``.

    Attributes:
        length: grid positions per window (``trunc_len``; AdaTAD THUMOS: 768, ActionFormer
            THUMOS features: 2304). Shorter videos are padded with masked positions.
        thresh: an instance is kept when at least this fraction of its length lies inside the
            window (AdaTAD: 0.75, ActionFormer: 0.5); windows are re-drawn until one instance
            qualifies, at most ``max_trials`` times.
        crop_ratio: ``(low, high)``; when the whole video fits in ``length``, it is randomly
            shortened to ``randint(round(low * L), round(high * L))`` positions (the reference
            applies it only then; AdaTAD and ActionFormer: ``(0.9, 1.0)``). ``None``: never.
        max_trials: re-draws before the last drawn window is used as it is (reference: 200).
    """

    length: int
    thresh: float = 0.5
    crop_ratio: tuple[float, float] | None = None
    max_trials: int = 200

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"RandomTruncation.length must be >= 1, got {self.length}")
        if not 0.0 <= self.thresh <= 1.0:
            raise ValueError(f"RandomTruncation.thresh must be in [0, 1], got {self.thresh}")
        if self.crop_ratio is not None:
            low, high = self.crop_ratio
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(
                    f"RandomTruncation.crop_ratio must satisfy 0 < low <= high <= 1, "
                    f"got {self.crop_ratio}"
                )
        if self.max_trials < 1:
            raise ValueError(f"RandomTruncation.max_trials must be >= 1, got {self.max_trials}")


@dataclass(frozen=True)
class Resize:
    """``length`` frames uniformly over the whole video (ActivityNet; frames mode only).

    Attributes:
        length: frames per video (AdaTAD ANet: 192 x 4 = 768).
        min_gt_fraction: drop instances shorter than this fraction of the video from the
            targets (AdaTAD training: 0.01, OpenTAD ``filter_gt``); set 0 to keep all.
    """

    length: int
    min_gt_fraction: float = 0.01

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"Resize.length must be >= 1, got {self.length}")
        if not 0.0 <= self.min_gt_fraction < 1.0:
            raise ValueError(
                f"Resize.min_gt_fraction must be in [0, 1), got {self.min_gt_fraction}"
            )


@dataclass(frozen=True)
class Window:
    """A window on a video's grid.

    Attributes:
        start: first grid position of the window on the video's grid.
        length: valid positions, ``start .. start + length - 1``.
        size: positions in the sample, ``>= length``; positions past ``length`` are padding
            (their mask is ``False``).
    """

    start: int
    length: int
    size: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.length < 1 or self.size < self.length:
            raise ValueError(f"invalid window {self}: need start >= 0, 1 <= length <= size")

    @property
    def stop(self) -> int:
        """One past the last valid grid position."""
        return self.start + self.length

    def mask(self) -> torch.Tensor:
        """``(size,)`` bool, ``True`` on the valid positions."""
        return torch.arange(self.size) < self.length


@dataclass(frozen=True)
class Truncation:
    """The result of :func:`random_truncation`.

    Attributes:
        window: the chosen window.
        keep: ``(N,)`` bool, which input instances are targets of this window.
        segments: ``(K, 2)`` the kept instances in grid units relative to ``window.start``
            (clipped to the window unless the whole video was kept untouched).
    """

    window: Window
    keep: torch.Tensor
    segments: torch.Tensor


def num_grid_positions(num_frames: int, stride: int) -> int:
    """Grid positions for frames ``0, stride, 2 * stride, ...`` below ``num_frames``."""
    if num_frames < 1 or stride < 1:
        raise ValueError(f"need num_frames >= 1 and stride >= 1, got {num_frames}, {stride}")
    return -(-num_frames // stride)


def sliding_windows(num_positions: int, config: SlidingWindows) -> list[Window]:
    """Overlapping windows covering every one of ``num_positions`` grid positions.

    Windows start every ``max(1, round(window * (1 - overlap)))`` positions. A video no longer
    than one window gives a single window, padded to ``config.window``.

    Args:
        num_positions: ``L``, the video's grid length.
        config: window size, overlap and the handling of the last window.

    Returns:
        Windows in time order; their valid ranges cover ``[0, L)``.
    """
    if num_positions < 1:
        raise ValueError(f"num_positions must be >= 1, got {num_positions}")
    size = config.window
    if num_positions <= size:
        return [Window(0, num_positions, size)]
    step = max(1, round(size * (1.0 - config.overlap)))
    starts = list(range(0, num_positions - size + 1, step))
    windows = [Window(s, size, size) for s in starts]
    if windows[-1].stop < num_positions:
        if config.last == "align":
            windows.append(Window(num_positions - size, size, size))
        else:
            start = starts[-1] + step
            windows.append(Window(start, num_positions - start, size))
    return windows


def overlapping(segments: torch.Tensor, start: float, stop: float) -> torch.Tensor:
    """``(N,)`` bool: which ``(N, 2)`` segments overlap ``(start, stop)`` with positive length."""
    return (segments[:, 1] > start) & (segments[:, 0] < stop)


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in ``[low, high]`` (both inclusive, as Python's ``random.randint``)."""
    return int(torch.randint(low, high + 1, (1,), generator=generator).item())


def random_truncation(
    num_positions: int,
    segments: torch.Tensor,
    config: RandomTruncation,
    *,
    generator: torch.Generator | None = None,
) -> Truncation:
    """Draw a training window with ActionFormer's ``truncate_feats`` rules.

    1. ``L <= length`` and no ``crop_ratio``: the whole video, all instances, unclipped.
    2. ``L <= length`` with ``crop_ratio``: the window length becomes a random
       ``l`` in ``[max(round(low * L), 1), min(round(high * L), L)]`` (``l == L``: as 1.).
    3. Otherwise (``l = length``): draw ``start`` uniformly in ``[0, L - l]``; the instances
       with ``|inst ∩ window| / |inst| >= thresh`` are kept, clipped to the window. Re-draw
       until at least one is kept, at most ``max_trials`` times; the last draw is used even
       when none qualifies (a video without instances takes its first draw).

    Args:
        num_positions: ``L``, the video's grid length.
        segments: ``(N, 2)`` instances on the video's grid (any float dtype).
        config: window length, threshold, crop ratio and trial count.
        generator: the source of randomness, for reproducible epochs.

    Returns:
        The window (its ``size`` is ``config.length``) and the kept, shifted segments.
    """
    if num_positions < 1:
        raise ValueError(f"num_positions must be >= 1, got {num_positions}")
    segments = segments.reshape(-1, 2)
    length = config.length
    if num_positions <= length:
        if config.crop_ratio is None:
            return _untouched(num_positions, segments, length)
        low, high = config.crop_ratio
        length = _randint(
            max(round(low * num_positions), 1),
            min(round(high * num_positions), num_positions),
            generator,
        )
        if length == num_positions:
            return _untouched(num_positions, segments, config.length)
    seg_len = (segments[:, 1] - segments[:, 0]).abs().clamp(min=1e-12)
    trials = config.max_trials if len(segments) else 1
    for _ in range(trials):
        start = _randint(0, num_positions - length, generator)
        left = segments[:, 0].clamp(min=start)
        right = segments[:, 1].clamp(max=start + length)
        keep = (right - left).clamp(min=0) / seg_len >= config.thresh
        if keep.any():
            break
    clipped = torch.stack([left[keep], right[keep]], dim=1) - start
    return Truncation(Window(start, length, config.length), keep, clipped)


def _untouched(num_positions: int, segments: torch.Tensor, size: int) -> Truncation:
    keep = torch.ones(len(segments), dtype=torch.bool)
    return Truncation(Window(0, num_positions, size), keep, segments.clone())


def window_frame_indices(
    window: Window, frame_stride: int, num_frames: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame indices of a window's grid positions, padded by repeating the last valid frame.

    Grid position ``p`` is frame ``p * frame_stride``; padded positions (and any index past the
    video's last frame) repeat the last valid frame, as OpenTAD pads with ``mode="edge"``.

    Returns:
        ``(size,)`` int64 frame indices and ``(size,)`` bool mask.
    """
    positions = torch.arange(window.start, window.start + window.size)
    positions = positions.clamp(max=window.stop - 1)
    indices = (positions * frame_stride).clamp(max=num_frames - 1)
    return indices, window.mask()


def uniform_frame_indices(num_frames: int, count: int) -> torch.Tensor:
    """``count`` frame indices at the centres of equal bins over ``num_frames`` frames.

    Bin ``i`` spans frames ``[i * s, (i + 1) * s)`` with ``s = num_frames / count``; its centre
    ``(i + 0.5) * s - 0.5`` is rounded half-to-even (numpy's rule, as OpenTAD ``LoadFrames``).
    With ``count > num_frames`` frames repeat.

    Returns:
        ``(count,)`` int64 indices in ``[0, num_frames - 1]``, non-decreasing.
    """
    if num_frames < 1 or count < 1:
        raise ValueError(f"need num_frames >= 1 and count >= 1, got {num_frames}, {count}")
    step = num_frames / count
    centres = (torch.arange(count, dtype=torch.float64) + 0.5) * step - 0.5
    return centres.round().clamp(0, num_frames - 1).to(torch.int64)
