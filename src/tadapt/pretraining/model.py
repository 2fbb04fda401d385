"""VideoMAE's masked autoencoder around a registered backbone, in the official parameter layout.

Follows OpenGVLab/VideoMAEv2 ``models/modeling_pretrain.py`` (``PretrainVisionTransformer``):
an asymmetric encoder that embeds the clip, adds the fixed sinusoid position table and runs
its blocks on the *visible* tokens only; a linear ``encoder_to_decoder``; a light decoder that
sees the visible tokens plus a shared learned ``mask_token`` (with position) for every token
to reconstruct, and predicts their ``tubelet x patch x patch x 3`` pixels. Its state dict has
the official names (``encoder.patch_embed.proj.weight``, ``encoder.blocks.0.attn.qkv.weight``,
``encoder.norm.weight``, ``decoder.blocks.*``, ``decoder.norm.*``, ``decoder.head.*``,
``encoder_to_decoder.weight``, ``mask_token``), so a checkpoint saved as ``{"model": state}``
loads like a released VideoMAE pretraining checkpoint through
:func:`tadapt.backbones.load_pretrained`.

Linear layers start from Xavier-uniform weights and zero biases and the mask token from a
truncated normal (std 0.02), as in the official code.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from tadapt.backbones.tokens import TokenLayout, interpolate_pos_table, sinusoid_table
from tadapt.backbones.videomae import Block, PatchEmbed, VisionTransformer

__all__ = ["MAEDecoder", "MAEEncoder", "MaskedAutoencoder"]


@functools.cache
def _table(dim: int, train_grid: tuple[int, int, int], grid: tuple[int, int, int]) -> torch.Tensor:
    """Sinusoid table ``(t * h * w, dim)`` of ``grid``, interpolated from ``train_grid``."""
    t0, h0, w0 = train_grid
    table = sinusoid_table(t0 * h0 * w0, dim)
    return table if grid == train_grid else interpolate_pos_table(table, train_grid, grid)


class MAEEncoder(nn.Module):
    """The backbone's patch embedding and blocks, run on visible tokens, plus a final norm.

    Args:
        backbone: a :class:`VisionTransformer` without adapters; its ``patch_embed`` and
            ``blocks`` are shared (training the encoder trains the backbone).
    """

    def __init__(self, backbone: VisionTransformer):
        super().__init__()
        if any(block.adapter is not None for block in backbone.blocks):
            raise ValueError("pretrain a backbone without adapters")
        self.patch_embed = backbone.patch_embed
        self.blocks = backbone.blocks
        self.norm = nn.LayerNorm(backbone.embed_dim, eps=backbone.norm_eps)
        self.embed_dim = backbone.embed_dim
        self.pos_grid = backbone.pos_grid

    def forward(self, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encode the visible tokens.

        Args:
            clips: ``(B, C_in, T, H, W)`` normalised clips.
            mask: ``(B, N)`` bool, ``True`` for hidden tokens; every row hides as many.

        Returns:
            ``(B, N_vis, C)`` normalised tokens, in their order within the clip.
        """
        x = self.patch_embed(clips)  # (B, N, C)
        batch, _, dim = x.shape
        grid = token_grid(clips.shape, self.patch_embed)
        x = x + _table(dim, self.pos_grid, grid).to(x.device, x.dtype)
        visible = x[~mask].reshape(batch, -1, dim)  # (B, N_vis, C)
        layout = TokenLayout(batch=batch, num_chunks=1, grid=grid)  # read by adapters only
        for block in self.blocks:
            visible = block(visible, layout)
        out: torch.Tensor = self.norm(visible)
        return out


class MAEDecoder(nn.Module):
    """Transformer blocks, a norm and a linear head predicting each token's pixels.

    Args:
        dim: decoder width.
        depth: number of blocks (4 in VideoMAE / VideoMAE V2).
        num_heads: attention heads.
        out_dim: pixels per token, ``3 * tubelet * patch * patch``.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(self, *, dim: int, depth: int, num_heads: int, out_dim: int, norm_eps: float):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim, num_heads, norm_eps=norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, x: torch.Tensor, num_predicted: int, layout: TokenLayout) -> torch.Tensor:
        """``(B, M, dim)`` tokens -> ``(B, num_predicted, out_dim)`` for the last tokens."""
        for block in self.blocks:
            x = block(x, layout)
        out: torch.Tensor = self.head(self.norm(x[:, -num_predicted:]))
        return out


class MaskedAutoencoder(nn.Module):
    """VideoMAE pretraining model (see the module docstring).

    Args:
        backbone: the encoder's :class:`VisionTransformer` (shared, trained in place).
        decoder_dim: decoder width (VideoMAE: half the encoder width for ViT-S/B).
        decoder_depth: decoder blocks.
        decoder_heads: decoder attention heads.
    """

    def __init__(
        self,
        backbone: VisionTransformer,
        *,
        decoder_dim: int,
        decoder_depth: int = 4,
        decoder_heads: int = 3,
    ):
        super().__init__()
        if decoder_dim % decoder_heads:
            raise ValueError(f"decoder_dim {decoder_dim} is not divisible by {decoder_heads} heads")
        self.patch_size = backbone.patch_size
        self.tubelet_size = backbone.tubelet_size
        out_dim = 3 * self.tubelet_size * self.patch_size**2
        self.encoder = MAEEncoder(backbone)
        self.decoder = MAEDecoder(
            dim=decoder_dim,
            depth=decoder_depth,
            num_heads=decoder_heads,
            out_dim=out_dim,
            norm_eps=backbone.norm_eps,
        )
        self.encoder_to_decoder = nn.Linear(backbone.embed_dim, decoder_dim, bias=False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.apply(_xavier_init)
        nn.init.trunc_normal_(self.mask_token, std=0.02, a=-0.02, b=0.02)

    def forward(
        self, clips: torch.Tensor, mask: torch.Tensor, decode: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the pixels of the tokens to reconstruct.

        Args:
            clips: ``(B, C_in, T, H, W)`` normalised clips.
            mask: ``(B, N)`` bool, tokens hidden from the encoder (same count per row).
            decode: ``(B, N)`` bool, tokens the decoder predicts (same count per row);
                ``None``: the hidden ones (VideoMAE). VideoMAE V2's dual masking passes
                ``~running_cell_mask``.

        Returns:
            ``(B, M, 3 * tubelet * patch * patch)``, one row per ``decode`` token, in token
            order; compare with ``patch_targets(clips)[decode]``.
        """
        decode = mask if decode is None else decode
        visible = self.encoder_to_decoder(self.encoder(clips, mask))  # (B, N_vis, D)
        batch, _, dim = visible.shape
        grid = token_grid(clips.shape, self.encoder.patch_embed)
        table = _table(dim, self.encoder.pos_grid, grid).to(visible.device, visible.dtype)
        table = table.expand(batch, -1, -1)  # (B, N, D)
        pos_visible = table[~mask].reshape(batch, -1, dim)
        pos_decoded = table[decode].reshape(batch, -1, dim)
        tokens = torch.cat(
            [visible + pos_visible, self.mask_token.to(visible.dtype) + pos_decoded], dim=1
        )
        layout = TokenLayout(batch=batch, num_chunks=1, grid=grid)
        predictions: torch.Tensor = self.decoder(tokens, pos_decoded.shape[1], layout)
        return predictions


def token_grid(
    shape: torch.Size | tuple[int, ...], patch_embed: PatchEmbed
) -> tuple[int, int, int]:
    """Token grid ``(t, h, w)`` of clips of ``shape`` ``(B, C, T, H, W)``."""
    t, p, q = (int(k) for k in patch_embed.proj.kernel_size)  # (tubelet, patch, patch)
    return (shape[2] // t, shape[3] // p, shape[4] // q)


def _xavier_init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
