"""Video frames as tensors: :class:`VideoReader` reads by index, window or uniform sampling.

Decoding itself (PyAV, numpy, no torch) lives in :mod:`tadapt.io.decoder`, whose docstring
describes frame numbering, cost, frame counts, resizing and rotation; this module wraps its
``(T, H, W, 3)`` uint8 arrays in tensors for the datasets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tadapt.io.decoder import VideoDecoder, VideoError, VideoInfo, probe_video, stat_video

__all__ = ["VideoError", "VideoInfo", "VideoReader", "probe_video", "stat_video", "uniform_indices"]


def uniform_indices(length: int, num: int) -> torch.Tensor:
    """``num`` frame indices spread over ``length`` frames: bin centres ``floor((k + .5) L / N)``.

    ActivityNet's "resize" sampling: bin ``k`` of ``N`` equal bins contributes its centre frame.
    When ``num > length`` neighbouring bins share frames (indices repeat), so any ``num`` works.

    Returns:
        ``(num,)`` int64 indices in ``[0, length)``, non-decreasing.
    """
    if length < 1 or num < 1:
        raise ValueError(f"uniform_indices needs length >= 1 and num >= 1, got {length}, {num}")
    k = torch.arange(num, dtype=torch.int64)
    return ((2 * k + 1) * length) // (2 * num)  # exact integer form of floor((k + 0.5) * L / N)


class VideoReader(VideoDecoder):
    """A :class:`~tadapt.io.decoder.VideoDecoder` whose reads return tensors (same arguments)."""

    def read_frames(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Frames at ``indices`` (any order, repeats allowed), as ``(T, H, W, 3)`` uint8 RGB.

        Raises:
            VideoError: an index is outside ``[0, num_frames)``, or a frame cannot be decoded.
        """
        if isinstance(indices, torch.Tensor):
            indices = indices.detach().cpu().numpy()
        return torch.from_numpy(self.read_arrays(indices))

    def read_window(
        self, start: int, num_frames: int, stride: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames ``start, start + stride, ...`` (``num_frames`` of them) and their validity.

        Positions past the video's end repeat its last frame and are ``False`` in the mask, so
        a video shorter than the window still yields a full window.

        Returns:
            frames ``(T, H, W, 3)`` uint8 and mask ``(T,)`` bool, ``T = num_frames``.

        Raises:
            VideoError: ``start`` outside ``[0, num_frames)``, ``num_frames < 1`` or
                ``stride < 1``.
        """
        n = self.info.num_frames
        if not 0 <= start < n:
            raise VideoError(self.path, f"window start {start} outside [0, {n})")
        if num_frames < 1 or stride < 1:
            raise VideoError(
                self.path,
                f"window needs num_frames >= 1 and stride >= 1, got {num_frames}, {stride}",
            )
        positions = start + stride * torch.arange(num_frames, dtype=torch.int64)
        mask = positions < n
        return self.read_frames(positions.clamp(max=n - 1)), mask

    def read_uniform(self, num_frames: int) -> torch.Tensor:
        """``num_frames`` frames spread over the whole video (see :func:`uniform_indices`).

        Returns:
            ``(T, H, W, 3)`` uint8, ``T = num_frames``.
        """
        if num_frames < 1:
            raise VideoError(self.path, f"read_uniform needs num_frames >= 1, got {num_frames}")
        return self.read_frames(uniform_indices(self.info.num_frames, num_frames))
