"""Token bookkeeping shared by the video ViT and the adapters placed inside and beside it.

A long untrimmed input ``(B, C, T, H, W)`` is cut into ``n = T / chunk_frames`` chunks that
are flattened into the batch, so every block sees ``(B * n, t * h * w, C)`` tokens and attends
within one chunk only. :class:`TokenLayout` records how those tokens map back onto the video:
an adapter that mixes information over the *whole* timeline (AdaTAD's TIA convolves over
``n * t`` temporal positions) calls :meth:`TokenLayout.to_timeline`, works on
``(B, n * t, h, w, C)`` and returns with :meth:`TokenLayout.from_timeline`.

The fixed 1D sinusoid position table follows VideoMAE (Tong et al., 2022) and the
"Attention is all you need" formula; it is interpolated for other grids as VideoMAE's
``run_class_finetuning.py`` does (bicubic per time slice, ``align_corners=False``), plus a
linear interpolation over time for chunk lengths other than the pretraining one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["TokenLayout", "interpolate_pos_table", "sinusoid_table"]


@dataclass(frozen=True)
class TokenLayout:
    """Where the ``(B * n, N, C)`` tokens of a chunked forward pass sit in the videos.

    Chunks are ordered video-major: rows ``b * n .. b * n + n - 1`` are the ``n`` consecutive
    chunks of video ``b``. Inside a chunk, tokens are in ``t``-major, then ``h``, then ``w``
    order (the patch embedding's flatten order), so ``N = t * h * w``.

    Attributes:
        batch: number of videos ``B``.
        num_chunks: chunks per video ``n``.
        grid: token grid ``(t, h, w)`` of one chunk.
    """

    batch: int
    num_chunks: int
    grid: tuple[int, int, int]

    @property
    def num_tokens(self) -> int:
        """Tokens per chunk, ``N = t * h * w``."""
        t, h, w = self.grid
        return t * h * w

    @property
    def timeline_length(self) -> int:
        """Temporal token positions per video, ``n * t`` (``T / tubelet``)."""
        return self.num_chunks * self.grid[0]

    def to_timeline(self, x: torch.Tensor) -> torch.Tensor:
        """Regroup chunked tokens onto each video's whole timeline.

        Args:
            x: ``(B * n, N, C)`` tokens, as blocks see them.

        Returns:
            ``(B, n * t, h, w, C)``: the chunks of each video concatenated in time.
        """
        t, h, w = self.grid
        # (B * n, t * h * w, C) -> (B, n, t, h, w, C) -> (B, n * t, h, w, C)
        return x.reshape(self.batch, self.num_chunks * t, h, w, x.shape[-1])

    def from_timeline(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_timeline`.

        Args:
            y: ``(B, n * t, h, w, C)``.

        Returns:
            ``(B * n, N, C)`` tokens in the blocks' layout.
        """
        return y.reshape(self.batch * self.num_chunks, self.num_tokens, y.shape[-1])

    def spatial_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Average each chunk's tokens over space.

        Args:
            x: ``(M, N, C)`` tokens of ``M`` chunks with this layout's grid (any ``M``, so a
                group of chunks works too).

        Returns:
            ``(M, t, C)``.
        """
        t, h, w = self.grid
        return x.reshape(x.shape[0], t, h * w, x.shape[-1]).mean(dim=2)

    def to_sequence(self, y: torch.Tensor) -> torch.Tensor:
        """Concatenate per-chunk temporal features into one sequence per video.

        Args:
            y: ``(B * n, t, C)``, e.g. from :meth:`spatial_mean`.

        Returns:
            ``(B, C, n * t)``.
        """
        return y.reshape(self.batch, self.timeline_length, y.shape[-1]).transpose(1, 2)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial mean of chunked tokens, chunks re-concatenated in time.

        Args:
            x: ``(B * n, N, C)`` tokens.

        Returns:
            ``(B, C, n * t)``.
        """
        return self.to_sequence(self.spatial_mean(x))


def sinusoid_table(num_positions: int, dim: int) -> torch.Tensor:
    """The fixed 1D sine-cosine position table of VideoMAE.

    ``table[p, 2i] = sin(p / 10000^(2i / dim))`` and ``table[p, 2i + 1] = cos(...)`` with the
    same angle, computed in float64 (as the reference's numpy code) and returned as float32.

    Args:
        num_positions: number of token positions ``N`` (``t * h * w``, t-major order).
        dim: embedding width ``C``.

    Returns:
        ``(N, C)`` float32 table on the CPU.
    """
    position = torch.arange(num_positions, dtype=torch.float64, device="cpu").unsqueeze(1)
    pair_index = torch.div(torch.arange(dim, device="cpu"), 2, rounding_mode="floor")
    angle = position / torch.pow(10000.0, 2.0 * pair_index.to(torch.float64) / dim)
    table = torch.empty_like(angle)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.to(torch.float32)


def interpolate_pos_table(
    table: torch.Tensor, src_grid: tuple[int, int, int], dst_grid: tuple[int, int, int]
) -> torch.Tensor:
    """Resize a position table from one token grid to another.

    Spatially each time slice is resized bicubically (``align_corners=False``), as VideoMAE
    fine-tuning does for other resolutions (160 px: 14 x 14 -> 10 x 10); then each spatial
    position is resized linearly over time when the number of temporal tokens differs.

    Args:
        table: ``(t0 * h0 * w0, C)`` table for ``src_grid``.
        src_grid: ``(t0, h0, w0)``.
        dst_grid: ``(t, h, w)``.

    Returns:
        ``(t * h * w, C)`` table for ``dst_grid``, in ``table``'s dtype.
    """
    t0, h0, w0 = src_grid
    t, h, w = dst_grid
    dim = table.shape[-1]
    if table.shape[0] != t0 * h0 * w0:
        raise ValueError(f"position table has {table.shape[0]} rows, grid {src_grid} needs more")
    x = table.float().reshape(t0, h0, w0, dim).permute(0, 3, 1, 2)  # (t0, C, h0, w0)
    if (h, w) != (h0, w0):
        x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    if t != t0:
        # (t0, C, h, w) -> (h * w, C, t0) -> linear over time -> (t, C, h, w)
        x = x.permute(2, 3, 1, 0).reshape(h * w, dim, t0)
        x = F.interpolate(x, size=t, mode="linear", align_corners=False)
        x = x.reshape(h, w, dim, t).permute(3, 2, 0, 1)
    return x.permute(0, 2, 3, 1).reshape(t * h * w, dim).to(table.dtype)
