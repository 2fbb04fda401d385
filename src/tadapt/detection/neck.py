"""ActionFormer's encoder, which turns a feature sequence into a temporal pyramid, and its neck.

Zhang et al., "ActionFormer: Localizing Moments of Actions with Transformers", ECCV 2022
(``ConvTransformerBackbone`` in ``libs/modeling/backbones.py``, ``TransformerBlock`` in
``libs/modeling/blocks.py`` and ``FPNIdentity`` in ``libs/modeling/necks.py`` of
happyharrycn/actionformer_release; OpenTAD's ``Conv1DTransformerProj`` is the same network, as
AdaTAD uses it). Written anew:

1. **embedding**: masked convolutions (kernel 3) with LayerNorm and ReLU project the input
   features to ``embed_dim`` channels;
2. optional sinusoidal **absolute position encoding** (ActivityNet);
3. **stem**: pre-LN Transformer blocks at stride 1;
4. **branch**: Transformer blocks that each halve ``T`` (strided depth-wise q/k/v convolutions
   and a max-pool skip), so ``arch[2]`` blocks give ``arch[2] + 1`` pyramid levels with strides
   ``1, 2, 4, ...``;
5. **neck**: :class:`IdentityFPN`, a LayerNorm per level.

Deliberate difference from ActionFormer: padded positions never influence valid ones (see
:mod:`tadapt.layers.masked_conv`), so the max-pool skip treats them as ``-inf`` instead of the
zeros ActionFormer's masking leaves there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tadapt.layers import AffineDropPath, LayerNorm1d, MaskedConv1d, MaskedConvAttention

__all__ = [
    "ConvEmbedding",
    "IdentityFPN",
    "PyramidEncoder",
    "TransformerBlock",
    "sinusoid_position_encoding",
]


class ConvEmbedding(nn.Module):
    """``num_layers`` x (masked conv -> LayerNorm -> ReLU), projecting ``C_in`` to ``C``.

    Args:
        in_channels: ``C_in`` of the input features.
        embed_dim: ``C``.
        num_layers: number of convolutions (``arch[0]``).
        kernel_size: odd temporal kernel.
        with_ln: LayerNorm after each convolution (the convolution then has no bias).
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int,
        *,
        num_layers: int = 2,  # ActionFormer backbone_arch[0]
        kernel_size: int = 3,  # ActionFormer embd_kernel_size
        with_ln: bool = True,  # ActionFormer embd_with_ln
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            MaskedConv1d(
                in_channels if i == 0 else embed_dim, embed_dim, kernel_size, bias=not with_ln
            )
            for i in range(num_layers)
        )
        self.norms = nn.ModuleList(
            LayerNorm1d(embed_dim) if with_ln else nn.Identity() for _ in range(num_layers)
        )

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C_in, T)``, ``(B, T)`` -> ``(B, C, T)``, ``(B, T)``."""
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x, mask = conv(x, mask)
            x = F.relu(norm(x))
        return x, mask


class TransformerBlock(nn.Module):
    """Pre-LN Transformer block over a masked sequence, optionally downsampling by ``stride``.

    ``y = skip(x) + DropPath(Attn(LN(x)))``, then ``y + DropPath(MLP(LN(y)))``, where the skip is
    the identity (stride 1) or a max-pool of kernel ``stride + 1`` (strided), and the MLP is two
    1x1 convolutions with GELU. With ``path_drop > 0`` each branch also gets a per-channel
    LayerScale initialised to ``1e-4`` (ActionFormer's ``AffineDropPath``); without it, none.

    Args:
        dim: channels ``C``.
        num_heads: attention heads.
        stride: ``1`` or an even downsampling factor.
        window_size: odd local attention window, or ``<= 1`` for global attention.
        mlp_ratio: hidden channels of the MLP are ``mlp_ratio * C``.
        attn_drop: dropout on attention weights.
        proj_drop: dropout after the attention projection and in the MLP.
        path_drop: stochastic depth probability of each residual branch.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        stride: int = 1,
        window_size: int = -1,
        mlp_ratio: int = 4,  # ActionFormer TransformerBlock n_hidden = 4 * n_embd
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        path_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.stride = stride
        self.ln1 = LayerNorm1d(dim)
        self.ln2 = LayerNorm1d(dim)
        self.attn = MaskedConvAttention(
            dim,
            num_heads,
            stride=stride,
            window_size=window_size,
            attn_drop=attn_drop,
            proj_drop=proj_drop,
        )
        self.mlp = nn.Sequential(
            nn.Conv1d(dim, mlp_ratio * dim, 1),
            nn.GELU(),
            nn.Dropout(proj_drop),
            nn.Conv1d(mlp_ratio * dim, dim, 1),
            nn.Dropout(proj_drop),
        )
        self.drop_path_attn: nn.Module = nn.Identity()
        self.drop_path_mlp: nn.Module = nn.Identity()
        if path_drop > 0.0:
            self.drop_path_attn = AffineDropPath(dim, drop_prob=path_drop)
            self.drop_path_mlp = AffineDropPath(dim, drop_prob=path_drop)

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C, T)``, ``(B, T)`` -> ``(B, C, T / stride)``, ``(B, T / stride)``."""
        attn, out_mask = self.attn(self.ln1(x), mask)  # (B, C, T'), (B, T')
        out = self._skip(x, mask, out_mask) + self.drop_path_attn(attn)
        valid = out_mask[:, None, :].to(out.dtype)  # (B, 1, T')
        out = out + self.drop_path_mlp(self.mlp(self.ln2(out)) * valid)
        return out, out_mask

    def _skip(self, x: Tensor, mask: Tensor, out_mask: Tensor) -> Tensor:
        """The residual path: ``x`` or its max-pool over valid positions, zero where padded."""
        if self.stride == 1:
            return torch.where(mask[:, None, :], x, 0.0)
        kernel = self.stride + 1
        pooled = F.max_pool1d(
            torch.where(mask[:, None, :], x, -math.inf), kernel, self.stride, kernel // 2
        )  # (B, C, T')
        return torch.where(out_mask[:, None, :], pooled, 0.0)


def sinusoid_position_encoding(length: int, dim: int) -> Tensor:
    """The sinusoidal table of Vaswani et al. (2017): ``(dim, length)`` float32.

    Channel ``2i`` holds ``sin(t / 10000^(2i / dim))`` and channel ``2i + 1`` the cosine.
    """
    position = torch.arange(length, dtype=torch.float64)[None, :]  # (1, T)
    channel = torch.arange(dim)
    freq = torch.pow(10000.0, -(2 * (channel // 2)).to(torch.float64) / dim)[:, None]  # (C, 1)
    angle = freq * position  # (C, T)
    table = torch.where((channel % 2 == 0)[:, None], torch.sin(angle), torch.cos(angle))
    return table.to(torch.float32)


class PyramidEncoder(nn.Module):
    """Embedding, stem and strided branch: one sequence in, a temporal pyramid out.

    Args:
        in_channels: ``C_in`` of the input features.
        embed_dim: ``C`` of every pyramid level.
        num_heads: attention heads per block.
        arch: ``(embedding convs, stem blocks, branch blocks)``; ``arch[2] + 1`` levels.
        window_size: local attention window per level (one value for all, or ``arch[2] + 1``
            values: the stem uses the first); ``<= 1`` means global attention.
        scale_factor: downsampling between consecutive levels (even).
        embed_kernel_size: kernel of the embedding convolutions.
        embed_with_ln: LayerNorm in the embedding.
        input_drop: channel dropout on the input features (``nn.Dropout1d``: a dropped
            channel is zero over the whole sequence), before the embedding.
        attn_drop: dropout on attention weights.
        proj_drop: dropout after attention projections and in the MLPs.
        path_drop: stochastic depth probability of every residual branch.
        use_abs_pe: add a sinusoidal position encoding (scaled by ``1 / sqrt(C)``) after the
            embedding.
        max_seq_len: length of the position table; training inputs may not be longer, longer
            evaluation inputs get the table linearly interpolated (as ActionFormer). An input
            at reduced temporal fidelity (``position_step > 1``: one step in ``r_t`` of the
            full-fidelity grid) reads the table at every ``r_t``-th position, so each step keeps
            the encoding of the time it covers instead of a slice's.

    Raises:
        ValueError: a wrong number of window sizes or an odd ``scale_factor``.
    """

    pos_embed: Tensor | None

    def __init__(
        self,
        in_channels: int,
        *,
        embed_dim: int = 512,  # ActionFormer embd_dim (THUMOS); 256 on ActivityNet
        num_heads: int = 4,  # ActionFormer n_head
        arch: tuple[int, int, int] = (2, 2, 5),  # ActionFormer backbone_arch
        window_size: int | Sequence[int] = 19,  # ActionFormer thumos_i3d n_mha_win_size
        scale_factor: int = 2,  # ActionFormer scale_factor
        embed_kernel_size: int = 3,  # ActionFormer embd_kernel_size
        embed_with_ln: bool = True,  # ActionFormer embd_with_ln
        input_drop: float = 0.0,  # OpenTAD Conv1DTransformerProj input_pdrop default
        attn_drop: float = 0.0,  # ActionFormer passes attn_pdrop=0.0
        proj_drop: float = 0.0,  # OpenTAD _base_/models/actionformer.py proj_pdrop
        path_drop: float = 0.1,  # ActionFormer train_cfg droppath
        use_abs_pe: bool = False,  # ActionFormer use_abs_pe (True on ActivityNet)
        max_seq_len: int = 2304,  # ActionFormer thumos_i3d max_seq_len
    ) -> None:
        super().__init__()
        num_levels = arch[2] + 1
        windows = [window_size] * num_levels if isinstance(window_size, int) else list(window_size)
        if len(windows) != num_levels:
            raise ValueError(
                f"window_size needs one value or {num_levels} (one per level), got {windows}"
            )
        if scale_factor < 2 or scale_factor % 2 != 0:
            raise ValueError(f"scale_factor must be an even number >= 2, got {scale_factor}")
        self.embed_dim = embed_dim
        self.scale_factor = scale_factor
        self.strides: tuple[int, ...] = tuple(
            int(scale_factor**level) for level in range(num_levels)
        )
        self.max_seq_len = max_seq_len
        self.input_drop: nn.Module = nn.Dropout1d(input_drop) if input_drop > 0 else nn.Identity()
        self.embed = ConvEmbedding(
            in_channels,
            embed_dim,
            num_layers=arch[0],
            kernel_size=embed_kernel_size,
            with_ln=embed_with_ln,
        )
        table = None
        if use_abs_pe:
            table = sinusoid_position_encoding(max_seq_len, embed_dim)[None] / math.sqrt(embed_dim)
        self.register_buffer("pos_embed", table, persistent=False)  # (1, C, T_max) or None

        def block(stride: int, window: int) -> TransformerBlock:
            return TransformerBlock(
                embed_dim,
                num_heads,
                stride=stride,
                window_size=window,
                attn_drop=attn_drop,
                proj_drop=proj_drop,
                path_drop=path_drop,
            )

        self.stem = nn.ModuleList(block(1, windows[0]) for _ in range(arch[1]))
        self.branch = nn.ModuleList(block(scale_factor, windows[1 + i]) for i in range(arch[2]))
        for module in self.modules():  # ActionFormer zeroes every conv / linear bias here
            if isinstance(module, nn.Conv1d | nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def size_divisor(self) -> int:
        """Input lengths must be multiples of this (the stride of the coarsest level)."""
        return self.strides[-1]

    def forward(
        self, x: Tensor, mask: Tensor, *, position_step: float = 1.0
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Build the pyramid.

        Args:
            x: ``(B, C_in, T)`` features, ``T`` a multiple of :attr:`size_divisor`.
            mask: ``(B, T)`` bool validity.
            position_step: full-fidelity grid steps per input step (LoFi's ``r_t``).

        Returns:
            Per level ``l``: features ``(B, C, T / s_l)`` and masks ``(B, T / s_l)``.
        """
        if x.shape[-1] % self.size_divisor != 0:
            raise ValueError(
                f"PyramidEncoder: T={x.shape[-1]} is not a multiple of {self.size_divisor}; "
                "pad the sequence (TemporalDetector does)"
            )
        x, mask = self.embed(self.input_drop(x), mask)  # (B, C, T)
        if self.pos_embed is not None:
            valid = None
            if position_step != 1:  # steps up to the last valid one need a table entry
                valid = int(mask.any(dim=0).nonzero().max()) + 1 if mask.any() else 0
            table = self._position_encoding(x.shape[-1], position_step, valid)  # (1, C, T)
            x = x + table.to(x.dtype) * mask[:, None, :].to(x.dtype)
        for block in self.stem:
            x, mask = block(x, mask)
        feats, masks = [x], [mask]
        for block in self.branch:
            x, mask = block(x, mask)  # (B, C, T / s_l)
            feats.append(x)
            masks.append(mask)
        return feats, masks

    def _position_encoding(
        self, length: int, step: float = 1.0, valid: int | None = None
    ) -> Tensor:
        """``(1, C, T)`` position table for ``T`` steps, each ``step`` table positions apart.

        ``valid`` (``step > 1``): steps that hold data; later ones are padding, masked out.
        """
        assert self.pos_embed is not None
        if step == 1:
            if length <= self.max_seq_len:
                return self.pos_embed[:, :, :length]
            if self.training:
                raise ValueError(
                    f"training input of {length} steps exceeds max_seq_len={self.max_seq_len} "
                    "of the absolute position encoding"
                )
            # longer evaluation inputs: stretch the table, as ActionFormer
            return F.interpolate(self.pos_embed, size=length, mode="linear", align_corners=False)
        used = length if valid is None else valid
        if self.training and (used - 1) * step + 1 > self.max_seq_len:
            raise ValueError(
                f"training input of {used} steps at a temporal reduction of {step:g} covers "
                f"{(used - 1) * step + 1:g} steps, more than max_seq_len={self.max_seq_len} of "
                "the absolute position encoding"
            )
        # reduced fidelity: step j sits at full-fidelity position j * step (linear in between;
        # positions past the table, padding only, repeat its end)
        position = torch.arange(length, device=self.pos_embed.device) * step
        position = position.clamp(max=self.max_seq_len - 1)
        low = position.floor().long()
        high = (low + 1).clamp(max=self.max_seq_len - 1)
        weight = (position - low).to(self.pos_embed.dtype)
        return self.pos_embed[:, :, low] * (1 - weight) + self.pos_embed[:, :, high] * weight


class IdentityFPN(nn.Module):
    """ActionFormer's ``identity`` neck: a LayerNorm per pyramid level, masks unchanged.

    Args:
        channels: ``C`` of every level.
        num_levels: number of pyramid levels.
        with_ln: apply the LayerNorms (``False``: a true identity).
    """

    def __init__(self, channels: int, num_levels: int, *, with_ln: bool = True) -> None:
        super().__init__()
        self.norms = nn.ModuleList(
            LayerNorm1d(channels) if with_ln else nn.Identity() for _ in range(num_levels)
        )

    def forward(self, feats: Sequence[Tensor], masks: Sequence[Tensor]) -> list[Tensor]:
        """Normalise each level ``(B, C, T_l)``; ``masks`` are accepted for a uniform interface."""
        if len(feats) != len(self.norms) or len(masks) != len(feats):
            raise ValueError(
                f"IdentityFPN has {len(self.norms)} levels, got {len(feats)} features and "
                f"{len(masks)} masks"
            )
        return [norm(x) for norm, x in zip(self.norms, feats, strict=True)]
