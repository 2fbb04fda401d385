"""LoSA: long- and short-range adapters beside a no-grad backbone, with gated fusion.

Gupta et al., "LoSA: Long-Short-range Adapter for Scaling End-to-End Temporal Action
Localization" (WACV 2025). No code is public; this is tadapt's reading of the paper, following
``spec/methods.md`` section 2. What the paper states: the backbone is frozen and nothing is
backpropagated through it; intermediate layers are adapted by a *short-range* adapter
(multi-head cross-attention over a local neighbourhood of clips) and a *long-range* adapter
(global temporal dependencies over the untrimmed video); a long-short-range gated fusion adds
their outputs to the last layer's features for the TAL head. Everything else is our choice,
marked ``[R]`` and configurable through :class:`LoSAOptions`.

Per tapped block ``l`` (spatially pooled, detached, ``X_l`` of shape ``(B, T', C)``)::

    S_l = ShortRange_l(X_l)    # down C->d, cross-attention to clips k-w..k+w, up d->C
    L_l = LongRange_l(X_l)     # down C->d, self-attention over all T' steps, up d->C
    F = F_last + sum_l (tanh(a^S_l) * S_l + tanh(a^L_l) * L_l)    # gates a = 0 at init

``F_last`` is the pooled last block, i.e. exactly the head-only feature, and the gates start at
zero (Flamingo's tanh gating), so LoSA equals head-only training at init. A *clip* is one
16-frame chunk, i.e. ``t = layout.grid[0]`` temporal tokens (8 at tubelet 2). Padded steps
(``masks`` False) are never attended to, are excluded from clip means and convolutions, and
get zero adapter outputs, so they cannot leak into valid steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tadapt.adapters.losa_options import LoSAOptions
from tadapt.adapters.plain import bottleneck_width
from tadapt.backbones.tokens import TokenLayout, sinusoid_table
from tadapt.backbones.videomae import IntermediateOutput, VisionTransformer

__all__ = [
    "LoSA",
    "LoSAOptions",
    "LongRangeAdapter",
    "ShortRangeAdapter",
    "build_losa",
    "default_losa_taps",
]

# [R] number of tapped blocks when none are given: the spec's proposal for ViT-g ({10, 20,
# 30, 40} of 40, i.e. every tenth block, the last one included)
DEFAULT_TAP_COUNT = 4


def default_losa_taps(depth: int, count: int = DEFAULT_TAP_COUNT) -> list[int]:
    """``count`` evenly spaced blocks ending with the last one ([R]).

    ``(i + 1) * depth // count - 1`` for ``i < count``: blocks 9, 19, 29, 39 of ViT-g's 40
    (the spec's "{10, 20, 30, 40}"), 2, 5, 8, 11 of a 12-block ViT; every block when
    ``depth <= count``.
    """
    if depth < 1:
        raise ValueError(f"a backbone of depth {depth} has no block to tap")
    count = min(count, depth)
    return [(i + 1) * depth // count - 1 for i in range(count)]


def _attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor
) -> torch.Tensor:
    """Multi-head attention of ``(M, H, Q, D)`` queries to ``(M, H, K, D)`` keys/values.

    ``key_mask`` ``(M, K)`` marks valid keys; a row without any valid key attends to all of
    them (its output is finite and zeroed by the caller), which avoids NaNs.
    """
    allowed = key_mask | ~key_mask.any(dim=-1, keepdim=True)  # (M, K)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None, None, :])


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(M, L, d)`` -> ``(M, H, L, d / H)``."""
    return x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(M, H, L, D)`` -> ``(M, L, H * D)``."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)


def _clip_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """For each clip, its own steps and those of the ``window`` clips either side.

    Args:
        x: ``(B, n, t, E)`` per-clip steps (any dtype; bool masks too).
        window: ``w``; missing clips at the video's ends are zero (False for masks).

    Returns:
        ``(B, n, (2w + 1) * t, E)``: clips ``k - w .. k + w`` of clip ``k``, in time order.
    """
    batch, n, t, e = x.shape
    pad = x.new_zeros(batch, window, t, e)
    padded = torch.cat([pad, x, pad], dim=1)  # (B, n + 2w, t, E)
    # unfold over clips: (B, n, t, E, 2w + 1) -> (B, n, 2w + 1, t, E)
    windows = padded.unfold(1, 2 * window + 1, 1).permute(0, 1, 4, 2, 3)
    return windows.reshape(batch, n, (2 * window + 1) * t, e)


def _position_table(length: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """The ``(T', d)`` sine-cosine table on ``like``'s device and dtype."""
    return sinusoid_table(length, dim).to(device=like.device, dtype=like.dtype)


def _init_linear(layer: nn.Linear) -> None:
    # [R] ViT-style init (VideoMAE _init_weights: trunc-normal std 0.02, zero bias); the
    # up-projection is *not* zero: the zero gates make LoSA start as head-only, and a zero
    # up-projection behind a zero gate would leave both without gradient
    nn.init.trunc_normal_(layer.weight, std=0.02)
    assert layer.bias is not None
    nn.init.zeros_(layer.bias)


class ShortRangeAdapter(nn.Module):
    """Local multi-head cross-attention from each clip to its neighbouring clips' steps.

    ``norm -> down (C -> d) -> attention -> up (d -> C)``, output zero at padded steps. Keys
    and values are the temporal tokens of clips ``k - w .. k + w`` of clip ``k`` (valid ones
    only); the queries are clip ``k``'s steps (``query="token"``) or its masked mean token
    (``query="clip"``). The up-projection also merges the heads (no separate output
    projection: two linears in a row would be one).

    Args:
        dim: feature width ``C``.
        ratio: bottleneck width ``d`` over ``C``.
        options: see :class:`LoSAOptions` (``num_heads``, ``window``, ``query``, ``norm``,
            ``position``).

    Shapes:
        ``x``: ``(B, T', C)``, ``mask``: ``(B, T')`` with ``T' = n * t`` -> ``(B, T', C)``.
    """

    def __init__(self, dim: int, *, ratio: float, options: LoSAOptions) -> None:
        super().__init__()
        hidden = _attention_width(dim, ratio, options.num_heads)
        self.num_heads = options.num_heads
        self.window = options.window
        self.query_mode = options.query
        self.position = options.position
        self.norm: nn.Module = nn.LayerNorm(dim) if options.norm else nn.Identity()
        self.down = nn.Linear(dim, hidden)
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.up = nn.Linear(hidden, dim)
        for layer in (self.down, self.query, self.key, self.value, self.up):
            _init_linear(layer)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, clip_len: int) -> torch.Tensor:
        """Adapt ``(B, T', C)`` steps of clips of ``clip_len`` steps; ``mask`` ``(B, T')``."""
        batch, length, _ = x.shape
        if length % clip_len:
            raise ValueError(f"{length} temporal steps are not whole clips of {clip_len}")
        n, t = length // clip_len, clip_len
        h = self.down(self.norm(x))  # (B, T', d)
        h_qk = h + _position_table(length, h.shape[-1], h) if self.position == "sinusoid" else h
        valid = mask.to(h.dtype)[..., None]  # (B, T', 1)

        # keys / values: the (2w + 1) * t steps around each clip -> (B * n, K, d)
        keys = _clip_windows(self.key(h_qk).reshape(batch, n, t, -1), self.window)
        values = _clip_windows(self.value(h).reshape(batch, n, t, -1), self.window)
        key_mask = _clip_windows(mask.reshape(batch, n, t, 1), self.window)[..., 0]
        keys, values = keys.flatten(0, 1), values.flatten(0, 1)
        key_mask = key_mask.flatten(0, 1)  # (B * n, K)

        queries = self.query(h_qk).reshape(batch * n, t, -1)  # (B * n, t, d)
        if self.query_mode == "clip":
            # masked mean over the clip's valid steps: (B * n, 1, d)
            weights = valid.reshape(batch * n, t, 1)
            count = weights.sum(1, keepdim=True).clamp(min=1.0)  # a padded clip: any query
            queries = (queries * weights).sum(1, keepdim=True) / count
        out = _attend(
            _split_heads(queries, self.num_heads),
            _split_heads(keys, self.num_heads),
            _split_heads(values, self.num_heads),
            key_mask,
        )  # (B * n, H, t or 1, d / H)
        out = _merge_heads(out).expand(batch * n, t, -1)  # "clip": broadcast to the t steps
        result: torch.Tensor = self.up(out.reshape(batch, length, -1)) * valid  # (B, T', C)
        return result


class LongRangeAdapter(nn.Module):
    """Global temporal mixing over the whole input window of one tapped block.

    ``kind="attention"``: ``norm -> down -> multi-head self-attention over all valid steps
    -> up``. ``kind="conv"`` (a deviation from the paper): ``norm -> down -> GELU -> h + pw(dw(h))
    -> up`` with a depthwise temporal kernel of ``conv_kernel``, padded steps zeroed before
    the convolution. Output zero at padded steps.

    Args:
        dim: feature width ``C``.
        ratio: bottleneck width ``d`` over ``C``.
        options: see :class:`LoSAOptions` (``num_heads``, ``long_range``, ``conv_kernel``,
            ``norm``, ``position``).

    Shapes:
        ``x``: ``(B, T', C)``, ``mask``: ``(B, T')`` -> ``(B, T', C)``.
    """

    def __init__(self, dim: int, *, ratio: float, options: LoSAOptions) -> None:
        super().__init__()
        self.kind = options.long_range
        self.num_heads = options.num_heads
        self.position = options.position
        self.norm: nn.Module = nn.LayerNorm(dim) if options.norm else nn.Identity()
        if self.kind == "attention":
            hidden = _attention_width(dim, ratio, options.num_heads)
            self.down = nn.Linear(dim, hidden)
            self.query = nn.Linear(hidden, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)
            linears = [self.down, self.query, self.key, self.value]
        else:
            hidden = bottleneck_width(dim, ratio)
            self.down = nn.Linear(dim, hidden)
            kernel = options.conv_kernel
            self.dwconv = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden)
            self.pwconv = nn.Conv1d(hidden, hidden, 1)
            for conv in (self.dwconv, self.pwconv):
                # TIA's conv init (OpenTAD vit_adapter.py): normal std sqrt(2 / fan_out)
                fan_out = conv.kernel_size[0] * conv.out_channels // conv.groups
                nn.init.normal_(conv.weight, std=math.sqrt(2.0 / fan_out))
                assert conv.bias is not None
                nn.init.zeros_(conv.bias)
            linears = [self.down]
        self.up = nn.Linear(hidden, dim)
        for layer in [*linears, self.up]:
            _init_linear(layer)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Adapt ``(B, T', C)`` with the ``(B, T')`` validity ``mask``."""
        h = self.down(self.norm(x))  # (B, T', d)
        valid = mask.to(h.dtype)[..., None]  # (B, T', 1)
        if self.kind == "attention":
            h_qk = h
            if self.position == "sinusoid":
                h_qk = h + _position_table(h.shape[1], h.shape[-1], h)
            out = _attend(
                _split_heads(self.query(h_qk), self.num_heads),
                _split_heads(self.key(h_qk), self.num_heads),
                _split_heads(self.value(h), self.num_heads),
                mask,
            )  # (B, H, T', d / H)
            h = _merge_heads(out)
        else:
            seq = (F.gelu(h) * valid).transpose(1, 2)  # (B, d, T'), padded steps zero
            seq = seq + self.pwconv(self.dwconv(seq))  # inner residual, as TIA
            h = seq.transpose(1, 2)
        result: torch.Tensor = self.up(h) * valid  # (B, T', C)
        return result


def _attention_width(dim: int, ratio: float, heads: int) -> int:
    hidden = bottleneck_width(dim, ratio)
    if hidden % heads:
        raise ValueError(
            f"LoSA bottleneck of {hidden} channels (width {dim} x ratio {ratio}) is not "
            f"divisible by num_heads={heads}; change the ratio or num_heads"
        )
    return hidden


class LoSA(nn.Module):
    """Short- and long-range adapters on pooled taps, fused onto the last block by gates.

    Args:
        dim: feature width ``C``.
        taps: indices of the tapped blocks (non-negative; one adapter pair each).
        ratio: bottleneck width over ``C`` ([R] default 1/4, see :class:`LoSAOptions`).
        options: the remaining design choices.

    Attributes:
        taps: the tapped block indices, as :class:`~tadapt.adapters.base.SideNetwork` needs.
        tap_output: ``"pooled"``: LoSA adapts spatially pooled features (spec's proposal,
            which keeps one ``(B, C, T')`` tensor per tap instead of a token map).
        short_gates / long_gates: ``(L, 1)`` or ``(L, C)`` gate logits ``a``, zero at init;
            the gates are ``tanh(a)``.

    Shapes:
        ``tapped``: one ``(B, C, T')`` per tap; ``last``: ``(B, C, T')``; ``masks``:
        ``(B, T')`` -> ``(B, C, T')``.
    """

    tap_output: IntermediateOutput = "pooled"

    def __init__(
        self,
        dim: int,
        taps: Sequence[int],
        *,
        ratio: float = 0.25,
        options: LoSAOptions | None = None,
    ) -> None:
        super().__init__()
        options = LoSAOptions() if options is None else options
        self.options = options
        self.taps = list(taps)
        if not self.taps or min(self.taps) < 0:
            raise ValueError(f"losa needs non-negative tapped block indices, got {self.taps}")
        self.short = nn.ModuleList(
            ShortRangeAdapter(dim, ratio=ratio, options=options) for _ in self.taps
        )
        self.long = nn.ModuleList(
            LongRangeAdapter(dim, ratio=ratio, options=options) for _ in self.taps
        )
        width = dim if options.gate == "channel" else 1
        # gate logits at zero: tanh(0) = 0, so F = F_last at init (Flamingo's tanh gating)
        self.short_gates = nn.Parameter(torch.zeros(len(self.taps), width))
        self.long_gates = nn.Parameter(torch.zeros(len(self.taps), width))

    def forward(
        self,
        tapped: list[torch.Tensor],
        last: torch.Tensor,
        layout: TokenLayout,
        masks: torch.Tensor,
    ) -> torch.Tensor:
        """Fuse the adapted taps onto the last block's pooled features.

        Args:
            tapped: ``(B, C, T')`` pooled, detached outputs of the tapped blocks.
            last: ``(B, C, T')`` pooled output of the last block (the head-only feature).
            layout: the pass's token layout (``grid[0]`` steps per clip).
            masks: ``(B, T')`` validity of the steps.

        Returns:
            ``(B, C, T')``: ``F_last + sum_l (g^S_l * S_l + g^L_l * L_l)``.
        """
        if len(tapped) != len(self.taps):
            raise ValueError(f"losa expects {len(self.taps)} taps, got {len(tapped)}")
        clip_len = layout.grid[0]
        fused = last.transpose(1, 2)  # (B, T', C)
        for index, tap in enumerate(tapped):
            x = tap.transpose(1, 2)  # (B, T', C)
            short = self.short[index](x, masks, clip_len)
            long = self.long[index](x, masks)
            fused = fused + torch.tanh(self.short_gates[index]) * short
            fused = fused + torch.tanh(self.long_gates[index]) * long
        return fused.transpose(1, 2)


def build_losa(
    backbone: VisionTransformer,
    blocks: Sequence[int] | None,
    *,
    ratio: float = 0.25,
    **options: Any,
) -> LoSA:
    """Side factory of the ``losa`` strategy (see :data:`~tadapt.adapters.SideFactory`).

    Args:
        backbone: the no-grad backbone whose blocks are tapped.
        blocks: non-negative tapped block indices (:func:`~tadapt.adapters.build_side_network`
            resolves negative ones); ``None``: :func:`default_losa_taps`.
        ratio: bottleneck ratio ([R] 1/4).
        **options: fields of :class:`LoSAOptions`, as plain keywords
            (``build_side_network(backbone, "losa", query="clip", window=2)``).

    Raises:
        ValueError: an unknown option or a value outside its field's domain.
    """
    taps = default_losa_taps(backbone.depth) if blocks is None else list(blocks)
    return LoSA(backbone.embed_dim, taps, ratio=ratio, options=LoSAOptions.from_kwargs(**options))
