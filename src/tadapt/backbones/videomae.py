"""VideoMAE / VideoMAEv2 video vision transformers: ViT-S/B/L/H (patch 16) and ViT-g (patch 14).

Papers: Tong et al., "VideoMAE: Masked Autoencoders are Data-Efficient Learners for
Self-Supervised Video Pre-Training" (NeurIPS 2022); Wang et al., "VideoMAE V2: Scaling Video
Masked Autoencoders with Dual Masking" (CVPR 2023). The architecture and parameter names
follow OpenGVLab/VideoMAEv2 ``models/modeling_finetune.py`` (MCG-NJU/VideoMAE uses the same
names), so their checkpoints load without renaming; the chunked long-video forward follows
OpenTAD's ``vit_adapter.py`` (AdaTAD, Liu et al., CVPR 2024). Written in plain torch.

The backbone contract (timm-like):

* ``forward_features(x)``: ``(B, C_in, T, H, W)`` frames -> ``(B, C, T / tubelet)`` temporal
  features, the spatial mean of the last block's tokens (no final norm: the classification
  head's ``fc_norm`` / ``norm`` is not part of the backbone).
* ``forward_intermediates(x, indices)``: the chosen blocks' outputs, pooled like
  ``forward_features`` or as raw ``(B * n, N, C)`` tokens; stops after the last needed block.
* ``set_grad_checkpointing``, ``no_weight_decay``, ``group_matcher``.

Adapters go inside blocks through :attr:`Block.adapter` (after the MLP residual, as AdaTAD's
TIA) or beside them on ``forward_intermediates`` outputs (AdaTAD's side variant, LoSA).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tadapt.backbones.checkpointing import CheckpointPolicy, CheckpointScheme, run_in_groups
from tadapt.backbones.registry import PretrainedCfg, register_backbone
from tadapt.backbones.tokens import TokenLayout, interpolate_pos_table, sinusoid_table

__all__ = [
    "Attention",
    "Block",
    "Mlp",
    "PatchEmbed",
    "VisionTransformer",
    "videomae_base_patch16",
    "videomae_huge_patch16",
    "videomae_large_patch16",
    "videomae_small_patch16",
    "videomae_tiny_patch16",
    "videomaev2_giant_patch14",
    "videomaev2_tiny_patch14",
]

IntermediateOutput = Literal["pooled", "tokens"]


class PatchEmbed(nn.Module):
    """Tubelet embedding: a Conv3d with kernel = stride = ``(tubelet, patch, patch)``."""

    def __init__(self, *, in_chans: int, embed_dim: int, patch_size: int, tubelet_size: int):
        super().__init__()
        size = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=size, stride=size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed clips ``(B', C_in, T_c, H, W)`` into tokens ``(B', t * h * w, C)``, t-major."""
        grid: torch.Tensor = self.proj(x)  # (B', C, t, h, w)
        return grid.flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with VideoMAE's biases: ``q_bias`` and ``v_bias``, no k bias."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over the ``N`` tokens of each row of ``x`` ``(B', N, C)``."""
        batch, num_tokens, dim = x.shape
        # call the module (not F.linear on its weight) so a LoRA layer in its place takes part
        qkv = self.qkv(x)  # (B', N, 3C)
        if self.q_bias is not None and self.v_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
            qkv = qkv + bias.to(qkv.dtype)  # cast: an fp32 bias must not promote autocast output
        # (B', N, 3C) -> (3, B', heads, N, C / heads)
        qkv = qkv.reshape(batch, num_tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # scale head_dim ** -0.5, as VideoMAE
        projected: torch.Tensor = self.proj(out.transpose(1, 2).reshape(batch, num_tokens, dim))
        return projected


class Mlp(nn.Module):
    """Two linear layers with a GELU between them."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., C) -> (..., C)``."""
        out: torch.Tensor = self.fc2(self.act(self.fc1(x)))
        return out


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch per row (per chunk) with probability ``p``."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero whole rows of ``x`` at random in training, rescaling the kept ones."""
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    """Pre-norm transformer block, plus an optional adapter after the MLP residual.

    ``x = x + attn(norm1(x)); x = x + mlp(norm2(x)); x = adapter(x, layout)``.

    Attributes:
        adapter: ``None`` or a module called as ``adapter(x, layout)`` on ``(B * n, N, C)``
            tokens with the pass's :class:`TokenLayout`, returning the block output of the
            same shape (the adapter owns its residual, as AdaTAD's TIA ``x + gamma * f(x)``).
            Assign it after construction; it runs inside the block's activation checkpoint.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.adapter: nn.Module | None = None

    def forward(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """``(B * n, N, C) -> (B * n, N, C)``; ``layout`` is only read by the adapter."""
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        if self.adapter is not None:
            x = self.adapter(x, layout)
        return x


class VisionTransformer(nn.Module):
    """VideoMAE ViT encoder over long videos, processed as fixed-length chunks.

    An input of ``T`` frames is cut into ``n = T / chunk_frames`` chunks, flattened into the
    batch (attention stays within a chunk) and re-joined on output. The fixed sinusoid
    position table is built for the pretraining grid (``num_frames`` x ``img_size``) and
    interpolated for other resolutions or chunk lengths, once per grid and device.

    Args:
        img_size: pretraining resolution; other input sizes interpolate the position table.
        patch_size: spatial patch size (16, or 14 for ViT-g).
        in_chans: input channels.
        num_frames: frames per clip in pretraining (the position table's temporal extent).
        tubelet_size: frames per temporal patch.
        embed_dim: token width ``C``.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``embed_dim``.
        qkv_bias: learn ``q_bias`` and ``v_bias``.
        drop_path_rate: stochastic depth of the last block (linear from 0 at the first).
        norm_eps: LayerNorm epsilon (1e-6 in the original code; Hugging Face uses 1e-12).
        chunk_frames: frames per chunk at run time (default ``num_frames``).
        grad_checkpointing: checkpoint the blocks that take part in the backward pass.
        checkpoint_scheme: ``"reentrant"`` or ``"non_reentrant"`` (see
            :class:`~tadapt.backbones.checkpointing.CheckpointPolicy`).
        checkpoint_skip_first: checkpoint only blocks whose input requires grad (OpenTAD).
        pretrained_cfg: where the weights come from (set by ``create_backbone``).
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_frames: int = 16,
        tubelet_size: int = 2,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
        chunk_frames: int | None = None,
        grad_checkpointing: bool = False,
        checkpoint_scheme: CheckpointScheme = "non_reentrant",
        checkpoint_skip_first: bool = False,
        pretrained_cfg: PretrainedCfg | None = None,
    ):
        super().__init__()
        chunk_frames = num_frames if chunk_frames is None else chunk_frames
        if num_frames % tubelet_size or chunk_frames % tubelet_size:
            raise ValueError(
                f"num_frames ({num_frames}) and chunk_frames ({chunk_frames}) must be "
                f"multiples of tubelet_size ({tubelet_size})"
            )
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.patch_size = patch_size
        self.tubelet_size = tubelet_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.norm_eps = norm_eps
        self.chunk_frames = chunk_frames
        self.pretrained_cfg = pretrained_cfg
        # token grid (t, h, w) of the position table the weights were trained with
        self.pos_grid = (num_frames // tubelet_size, img_size // patch_size, img_size // patch_size)
        self.grad_checkpointing = grad_checkpointing
        self.checkpoint_policy = CheckpointPolicy(checkpoint_scheme, checkpoint_skip_first)
        self._pos_cache: dict[tuple[tuple[int, int, int], torch.device], torch.Tensor] = {}

        self.patch_embed = PatchEmbed(
            in_chans=in_chans, embed_dim=embed_dim, patch_size=patch_size, tubelet_size=tubelet_size
        )
        rates = torch.linspace(0.0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_path=rate,
                norm_eps=norm_eps,
            )
            for rate in rates
        )
        self.apply(_init_weights)

    # ---- inputs and position table -------------------------------------------------------

    def token_layout(self, input_shape: Sequence[int]) -> TokenLayout:
        """The :class:`TokenLayout` of a forward pass on frames of ``input_shape``.

        Args:
            input_shape: ``(B, C_in, T, H, W)``; ``T`` must be a multiple of ``chunk_frames``.
        """
        if len(input_shape) != 5:
            raise ValueError(f"expected frames (B, C, T, H, W), got shape {tuple(input_shape)}")
        batch, _, frames, height, width = input_shape
        if frames == 0 or frames % self.chunk_frames:
            raise ValueError(
                f"{frames} frames is not a positive multiple of the chunk length "
                f"{self.chunk_frames}; pad or trim the clip"
            )
        if height < self.patch_size or width < self.patch_size:
            raise ValueError(f"frames of {height}x{width} px are smaller than one patch")
        patch = self.patch_size
        grid = (self.chunk_frames // self.tubelet_size, height // patch, width // patch)
        return TokenLayout(batch=batch, num_chunks=frames // self.chunk_frames, grid=grid)

    def pos_table(self, grid: tuple[int, int, int], device: torch.device) -> torch.Tensor:
        """Position table ``(t * h * w, C)`` for a token grid, interpolated and cached."""
        key = (grid, device)
        if key not in self._pos_cache:
            t0, h0, w0 = self.pos_grid
            table = sinusoid_table(t0 * h0 * w0, self.embed_dim)
            if grid != self.pos_grid:
                table = interpolate_pos_table(table, self.pos_grid, grid)
            self._pos_cache[key] = table.to(device)
        return self._pos_cache[key]

    def _chunk(self, x: torch.Tensor) -> tuple[torch.Tensor, TokenLayout]:
        layout = self.token_layout(x.shape)
        batch, chans, _, height, width = x.shape
        n, length = layout.num_chunks, self.chunk_frames
        # (B, C_in, n * T_c, H, W) -> (B, n, C_in, T_c, H, W) -> (B * n, C_in, T_c, H, W)
        clips = x.reshape(batch, chans, n, length, height, width).transpose(1, 2)
        return clips.reshape(batch * n, chans, length, height, width), layout

    # ---- forward -------------------------------------------------------------------------

    def _forward_clips(
        self,
        clips: torch.Tensor,
        layout: TokenLayout,
        taps: Sequence[int],
        pooled: bool,
        checkpoint_blocks: bool,
    ) -> list[torch.Tensor]:
        """Blocks ``0..max(taps)`` on clips; per tap ``(B', t, C)`` if pooled else tokens."""
        x = self.patch_embed(clips)  # (B * n, N, C)
        x = x + self.pos_table(layout.grid, x.device).to(x.dtype)
        outputs: dict[int, torch.Tensor] = {}
        for index in range(max(taps) + 1):
            block = self.blocks[index]
            policy = self.checkpoint_policy
            if checkpoint_blocks and self.grad_checkpointing and policy.applies(block, x):
                x = policy.call(block, x, layout)
            else:
                x = block(x, layout)
            if index in taps:
                outputs[index] = layout.spatial_mean(x) if pooled else x
        return [outputs[index] for index in taps]

    def _forward(
        self,
        x: torch.Tensor,
        taps: Sequence[int],
        pooled: bool,
        clips_per_pass: int | None,
    ) -> list[torch.Tensor]:
        clips, layout = self._chunk(x)
        if clips_per_pass is None or clips_per_pass >= clips.shape[0]:
            outputs = self._forward_clips(clips, layout, taps, pooled, checkpoint_blocks=True)
        else:
            if any(block.adapter is not None for block in self.blocks):
                raise ValueError(
                    "clips_per_pass runs groups of chunks separately, but blocks carry adapters "
                    "that may mix chunks of one video; use clips_per_pass=None"
                )

            def run_group(part: torch.Tensor) -> list[torch.Tensor]:
                # chunk-independent blocks: each group is a batch of one-chunk videos
                part_layout = TokenLayout(part.shape[0], 1, layout.grid)
                return self._forward_clips(part, part_layout, taps, pooled, False)

            outputs = run_in_groups(run_group, clips, clips_per_pass, module=self)
        return [layout.to_sequence(out) for out in outputs] if pooled else outputs

    def forward_features(
        self, x: torch.Tensor, *, clips_per_pass: int | None = None
    ) -> torch.Tensor:
        """Temporal features of whole videos.

        Args:
            x: frames ``(B, C_in, T, H, W)``, normalised, ``T`` a multiple of
                ``chunk_frames``. ``H`` and ``W`` need not be multiples of the patch size: the
                patch convolution drops the remainder (ViT-g at 160 px sees 11 x 11 patches).
            clips_per_pass: run the ``B * n`` chunks in groups of this many, to bound
                activation memory (temporal checkpointing under grad). Only for blocks
                without adapters.

        Returns:
            ``(B, C, T / tubelet)``: spatial mean of the last block's tokens, chunks
            re-concatenated in time, in the compute dtype (bf16 under bf16 autocast).
        """
        return self._forward(x, [self.depth - 1], True, clips_per_pass)[0]

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        *,
        output: IntermediateOutput = "pooled",
        clips_per_pass: int | None = None,
    ) -> list[torch.Tensor]:
        """Outputs of chosen blocks; blocks after the last chosen one are not run.

        Args:
            x: frames ``(B, C_in, T, H, W)`` as for :meth:`forward_features`.
            indices: block indices (negative count from the end), an int ``k`` for the last
                ``k`` blocks, or ``None`` for all blocks.
            output: ``"pooled"`` gives ``(B, C, T / tubelet)`` per block (as
                :meth:`forward_features`); ``"tokens"`` gives the raw ``(B * n, N, C)``
                tokens, laid out as ``self.token_layout(x.shape)`` describes.
            clips_per_pass: as for :meth:`forward_features`.

        Returns:
            One tensor per requested index, in the order requested.
        """
        if output not in ("pooled", "tokens"):
            raise ValueError(f"output must be 'pooled' or 'tokens', got {output!r}")
        taps = self._resolve_indices(indices)
        return self._forward(x, taps, output == "pooled", clips_per_pass)

    def _resolve_indices(self, indices: int | Sequence[int] | None) -> list[int]:
        if indices is None:
            return list(range(self.depth))
        if isinstance(indices, int):
            if not 0 < indices <= self.depth:
                raise ValueError(f"cannot take the last {indices} of {self.depth} blocks")
            return list(range(self.depth - indices, self.depth))
        resolved = [i + self.depth if i < 0 else i for i in indices]
        if not resolved or any(not 0 <= i < self.depth for i in resolved):
            raise ValueError(f"block indices {list(indices)} out of range for depth {self.depth}")
        return resolved

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x)

    # ---- training helpers ----------------------------------------------------------------

    def set_grad_checkpointing(
        self,
        enable: bool = True,
        *,
        scheme: CheckpointScheme | None = None,
        skip_first: bool | None = None,
    ) -> None:
        """Checkpoint each block that takes part in the backward pass (see ``needs_grad``).

        Args:
            enable: checkpointing on or off.
            scheme: ``"reentrant"`` or ``"non_reentrant"``; ``None`` keeps the current one.
            skip_first: checkpoint only blocks whose input requires grad (OpenTAD's rule: the
                first adapted block behind a frozen stem runs plainly); ``None`` keeps it.
        """
        current = self.checkpoint_policy
        self.checkpoint_policy = CheckpointPolicy(
            scheme=current.scheme if scheme is None else scheme,
            skip_first=current.skip_first if skip_first is None else skip_first,
        )
        self.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        """Names of parameters exempt from weight decay: biases and LayerNorm affines.

        These are the 0-d / 1-d parameters (``q_bias`` / ``v_bias`` included); the position
        table is fixed and not a parameter.
        """
        return {name for name, p in self.named_parameters() if p.dim() <= 1}

    def group_matcher(self) -> dict[str, str]:
        """Regexes grouping parameter names for layer-wise learning-rate decay (timm style).

        ``"stem"`` matches the patch embedding (layer 0); ``"blocks"`` captures the block
        index ``i`` (layer ``i + 1``). Names matching neither (e.g. a head or adapters
        outside the blocks) belong to the last layer; adapters inside block ``i`` match it.
        """
        return {"stem": r"^patch_embed", "blocks": r"^blocks\.(\d+)"}


def _init_weights(module: nn.Module) -> None:
    # truncated normal std 0.02 for linears, as VideoMAE's _init_weights (random init only)
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# ---- named variants ------------------------------------------------------------------------
# Shapes from OpenGVLab/VideoMAEv2 models/modeling_finetune.py (vit_{small,base,large,huge}_
# patch16_224, vit_giant_patch14_224); tags name the released weights they load.

_DISTILLED = PretrainedCfg(
    tag="k710_distill",
    source="OpenGVLab/VideoMAEv2",
    description="distilled from ViT-g on K710, K400 fine-tuned (mmaction2 also ships it as "
    "vit-*-p16_videomaev2-vit-g-dist-k710-pre_16x4x1_kinetics-400)",
)


def _k400(size: str) -> PretrainedCfg:
    return PretrainedCfg(
        tag="k400_ft",
        source="MCG-NJU/VideoMAE",
        description="K400 self-supervised pretraining, K400 fine-tuned",
        hf_hub_id=f"MCG-NJU/videomae-{size}-finetuned-kinetics",
    )


def _build(defaults: Mapping[str, object], overrides: Mapping[str, object]) -> VisionTransformer:
    return VisionTransformer(**{**defaults, **overrides})  # type: ignore[arg-type]


_SYNTH = PretrainedCfg(
    tag="synth",
    source="tadapt",
    description="tadapt pretrain on 600 synthetic videos of 10 motion classes (grow, shrink, "
    "oscillate, blink, move_up, move_down and the four diagonal moves; disjoint from the "
    "benchmark's): VideoMAE with "
    "raw-pixel targets, then clip classification; 64 px, 16 frames every 2nd (commands in "
    "tadapt/weights/"
    "videomae_tiny_patch16_synth.json)",
    img_size=64,
    license="Apache-2.0",
    bundled_file="videomae_tiny_patch16_synth.pth",
    bundled_sha256="a915c45bb684703150ce42a2a17266a6995dfc9e1ceb4de4386b69b68abae962",
)


@register_backbone(_SYNTH)
def videomae_tiny_patch16(**overrides: object) -> VisionTransformer:
    """A 4-block, 96-wide ViT (patch 16) for tests and CPU demos; tadapt ships ``.synth``."""
    return _build({"embed_dim": 96, "depth": 4, "num_heads": 3}, overrides)


@register_backbone()
def videomaev2_tiny_patch14(**overrides: object) -> VisionTransformer:
    """ViT-g's shape rules (patch 14, MLP ratio 48/11) at tiny size; no released weights."""
    shape = {"patch_size": 14, "embed_dim": 96, "depth": 4, "num_heads": 3, "mlp_ratio": 48 / 11}
    return _build(shape, overrides)


@register_backbone(_k400("small"), _DISTILLED)
def videomae_small_patch16(**overrides: object) -> VisionTransformer:
    """ViT-S/16: 384 wide, 12 blocks, 6 heads (about 22M parameters)."""
    return _build({"embed_dim": 384, "depth": 12, "num_heads": 6}, overrides)


@register_backbone(_k400("base"), _DISTILLED)
def videomae_base_patch16(**overrides: object) -> VisionTransformer:
    """ViT-B/16: 768 wide, 12 blocks, 12 heads (about 86M parameters)."""
    return _build({"embed_dim": 768, "depth": 12, "num_heads": 12}, overrides)


@register_backbone(_k400("large"))
def videomae_large_patch16(**overrides: object) -> VisionTransformer:
    """ViT-L/16: 1024 wide, 24 blocks, 16 heads (about 304M parameters)."""
    return _build({"embed_dim": 1024, "depth": 24, "num_heads": 16}, overrides)


@register_backbone(_k400("huge"))
def videomae_huge_patch16(**overrides: object) -> VisionTransformer:
    """ViT-H/16: 1280 wide, 32 blocks, 16 heads (about 632M parameters)."""
    return _build({"embed_dim": 1280, "depth": 32, "num_heads": 16}, overrides)


@register_backbone(
    PretrainedCfg(
        tag="k710_ft",
        source="OpenGVLab/VideoMAEv2",
        description="UnlabeledHybrid pretraining, K710 fine-tuned (weights behind the "
        "VideoMAE V2 download request form)",
    )
)
def videomaev2_giant_patch14(**overrides: object) -> VisionTransformer:
    """ViT-g/14: 1408 wide, 40 blocks, 16 heads, MLP 6144 (about 1.01B parameters)."""
    # mlp_ratio 48/11 gives int(1408 * 48 / 11) = 6144 hidden units (VideoMAEv2)
    shape = {"patch_size": 14, "embed_dim": 1408, "depth": 40, "num_heads": 16}
    return _build({**shape, "mlp_ratio": 48 / 11}, overrides)
