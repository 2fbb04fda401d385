"""Masked multi-head attention over time, global or in a local window.

:func:`masked_attention` is scaled dot-product attention (Vaswani et al., "Attention Is All You
Need", NeurIPS 2017) in which padded keys are never attended to; with a ``window_radius`` each
query only sees the keys within that many steps of it (the sliding-window attention of
Beltagy et al., "Longformer", 2020). :class:`MaskedConvAttention` is ActionFormer's
multi-head *convolutional* attention (Zhang et al., ECCV 2022; ``MaskedMHCA`` and
``LocalMaskedMHCA`` in ``libs/modeling/blocks.py`` of happyharrycn/actionformer_release): a
depth-wise convolution and a LayerNorm before each of the query / key / value projections,
which also downsamples the sequence when the block is strided.

The local window is computed in blocks instead of ActionFormer's Longformer chunking: queries
are cut into blocks of ``Q`` steps, each block attends to the ``Q + 2r`` keys around it with a
band mask. This gives exactly the band-limited attention (tested against a naive global
attention with a band mask), has no constraint on ``T`` beyond the stride, and runs as one
batched :func:`torch.nn.functional.scaled_dot_product_attention` call. Padded keys are excluded
with a boolean mask rather than ActionFormer's additive ``-1e4``; both give them zero weight.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.layers.masked_conv import MaskedConv1d
from tadapt.layers.norm import LayerNorm1d

__all__ = ["MaskedConvAttention", "masked_attention"]

# Queries per block of the local attention, at least: large enough for efficient batched matrix
# products, small enough that the wasted band corners stay cheap. A speed knob, not a result.
_MIN_BLOCK = 32


def masked_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    key_mask: Tensor,
    *,
    window_radius: int | None = None,
    dropout_p: float = 0.0,
) -> Tensor:
    """Scaled dot-product attention that ignores padded keys, optionally in a local window.

    Query ``i`` attends to key ``j`` when ``key_mask[b, j]`` and, with a window,
    ``|i - j| <= window_radius``. A query with no such key (e.g. a padded one in an all-padded
    row) gets an arbitrary finite output; callers zero outputs at padded positions.

    Args:
        q: ``(B, H, T, D)`` queries.
        k: ``(B, H, T, D)`` keys (same ``T``: queries and keys share the temporal grid).
        v: ``(B, H, T, D)`` values.
        key_mask: ``(B, T)`` bool, ``True`` at valid keys.
        window_radius: ``r >= 0`` for a window of ``2r + 1`` keys; ``None`` for global attention.
        dropout_p: dropout on the attention weights (pass ``0`` in evaluation).

    Returns:
        ``(B, H, T, D)``.
    """
    if window_radius is None:
        allowed = key_mask[:, None, None, :]  # (B, 1, 1, T)
        # an all-padded sample would give NaN rows; let it attend anywhere (output is masked)
        allowed = allowed | ~key_mask.any(dim=-1)[:, None, None, None]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)
    if window_radius < 0:
        raise ValueError(f"window_radius must be >= 0 or None, got {window_radius}")
    return _local_attention(q, k, v, key_mask, window_radius, dropout_p)


def _local_attention(
    q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor, radius: int, dropout_p: float
) -> Tensor:
    """Band-limited attention computed block by block (see the module docstring)."""
    b, h, t, d = q.shape
    block = max(_MIN_BLOCK, radius)
    num_blocks = -(-t // block)
    tail = num_blocks * block - t  # queries padded at the end so that blocks tile T
    span = block + 2 * radius  # keys seen by one block: r before it, r after it
    # keys / values / mask padded with r in front and r + tail behind: (B, H, n*Q + 2r, D)
    k = F.pad(k, (0, 0, radius, radius + tail))
    v = F.pad(v, (0, 0, radius, radius + tail))
    kmask = F.pad(key_mask, (radius, radius + tail), value=False)  # (B, n*Q + 2r)
    q_blocks = F.pad(q, (0, 0, 0, tail)).view(b, h, num_blocks, block, d)  # (B, H, n, Q, D)
    # overlapping windows of `span` keys every `block` steps: (B, H, n, span, D)
    k_blocks = k.unfold(2, span, block).transpose(-1, -2)
    v_blocks = v.unfold(2, span, block).transpose(-1, -2)
    mask_blocks = kmask.unfold(1, span, block)  # (B, n, span)
    # query i of a block sits at key index i + r of its window: |j - (i + r)| <= r
    rows = torch.arange(block, device=q.device)[:, None]
    cols = torch.arange(span, device=q.device)[None, :]
    band = (cols >= rows) & (cols <= rows + 2 * radius)  # (Q, span)
    allowed = band & mask_blocks[:, :, None, :]  # (B, n, Q, span)
    allowed = allowed | ~allowed.any(dim=-1, keepdim=True)  # rows without keys: see above
    out = F.scaled_dot_product_attention(
        q_blocks, k_blocks, v_blocks, attn_mask=allowed[:, None], dropout_p=dropout_p
    )  # (B, H, n, Q, D)
    return out.reshape(b, h, num_blocks * block, d)[:, :, :t]


class MaskedConvAttention(nn.Module):
    """ActionFormer's multi-head convolutional self-attention over a masked sequence.

    ``x -> depth-wise conv (stride s) -> LayerNorm -> 1x1 projection`` gives each of ``q``,
    ``k``, ``v``; attention runs over the downsampled grid; the output projection is zeroed at
    padded positions.

    Args:
        dim: channels ``C`` (input and output).
        num_heads: ``H``; ``C`` must be divisible by it.
        stride: ``1``, or an even downsampling factor (the depth-wise kernel is ``stride + 1``).
        window_size: odd number of keys per query for local attention; ``<= 1`` (e.g. ``-1``)
            for global attention.
        attn_drop: dropout on the attention weights.
        proj_drop: dropout after the output projection.

    Raises:
        ValueError: inconsistent ``dim``/``num_heads``, an odd stride above 1, or an even window.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        stride: int = 1,
        window_size: int = -1,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads != 0:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads} >= 1")
        if stride != 1 and (stride < 1 or stride % 2 != 0):
            raise ValueError(f"stride must be 1 or even (kernel stride + 1 is odd), got {stride}")
        if window_size > 1 and window_size % 2 == 0:
            raise ValueError(f"window_size must be odd (a centred window), got {window_size}")
        self.num_heads = num_heads
        self.window_radius = window_size // 2 if window_size > 1 else None
        self.attn_drop = attn_drop
        kernel = stride + 1 if stride > 1 else 3  # ActionFormer MaskedMHCA
        self.query_conv = MaskedConv1d(dim, dim, kernel, stride=stride, groups=dim, bias=False)
        self.key_conv = MaskedConv1d(dim, dim, kernel, stride=stride, groups=dim, bias=False)
        self.value_conv = MaskedConv1d(dim, dim, kernel, stride=stride, groups=dim, bias=False)
        self.query_norm = LayerNorm1d(dim)
        self.key_norm = LayerNorm1d(dim)
        self.value_norm = LayerNorm1d(dim)
        self.query = nn.Conv1d(dim, dim, 1)
        self.key = nn.Conv1d(dim, dim, 1)
        self.value = nn.Conv1d(dim, dim, 1)
        self.proj = nn.Conv1d(dim, dim, 1)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Attend over the valid positions of ``x``.

        Args:
            x: ``(B, C, T)`` features.
            mask: ``(B, T)`` bool validity.

        Returns:
            ``(B, C, T')`` features, zero at padded positions, and their ``(B, T')`` mask, with
            ``T' = T / stride``.
        """
        q, out_mask = self.query_conv(x, mask)
        k, _ = self.key_conv(x, mask)
        v, _ = self.value_conv(x, mask)
        q = self.query(self.query_norm(q))  # (B, C, T')
        k = self.key(self.key_norm(k))
        v = self.value(self.value_norm(v))

        b, c, t = q.shape
        # (B, C, T') -> (B, H, D, T') -> (B, H, T', D) with D = C / H
        q, k, v = (
            y.view(b, self.num_heads, c // self.num_heads, t).transpose(2, 3) for y in (q, k, v)
        )
        out = masked_attention(
            q,
            k,
            v,
            out_mask,
            window_radius=self.window_radius,
            dropout_p=self.attn_drop if self.training else 0.0,
        )  # (B, H, T', D)
        out = out.transpose(2, 3).reshape(b, c, t)  # (B, C, T')
        out = self.proj_drop(self.proj(out)) * out_mask[:, None, :].to(out.dtype)
        return out, out_mask
