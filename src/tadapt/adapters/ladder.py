"""AdaTAD's side variant (AdaTAD†): TIA branches beside a no-grad backbone, a "ladder".

Liu et al., "End-to-End Temporal Action Detection with 1B Parameters Across 1000 Frames"
(CVPR 2024). Semantics follow ``LadderNetwork`` in ``opentad/models/backbones/vit_ladder.py``
of sming256/OpenTAD; written anew for tadapt's chunked ViT and its side-network contract
(:class:`~tadapt.adapters.base.SideNetwork`).

The whole backbone runs under ``torch.no_grad()``; the token maps of the tapped blocks arrive
detached. Each tapped block ``l`` gets one temporal-informative branch (TIA *without* its
identity, :meth:`TemporalInformativeAdapter.branch`), and the branches are summed onto the
last block's output::

    y = last + sum_l gamma_l * up_l(h_l)       # h_l: down, GELU, dw-conv + pw-conv over time
    features = spatial mean of y, chunks re-joined  # (B, C, n * t)

Because every up-projection starts at zero, the features equal the head-only (``frozen``)
ones at init. No gradient reaches the backbone, so training memory does not grow with its
depth, only with the number of tapped blocks (each keeps its full token map, as AdaTAD†
does). Like the in-backbone ``tia``, the temporal convolution runs over the input window's
token timeline (not the whole video) and ignores the padding mask (padded steps are masked
by the detector).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from tadapt.adapters.tia import TemporalInformativeAdapter
from tadapt.backbones.checkpointing import checkpoint_call, needs_grad
from tadapt.backbones.tokens import TokenLayout
from tadapt.backbones.videomae import IntermediateOutput, VisionTransformer

__all__ = ["TemporalInformativeLadder", "build_tia_ladder", "default_ladder_taps"]


def default_ladder_taps(depth: int) -> list[int]:
    """The second half of the blocks, ``depth // 2 .. depth - 1``.

    AdaTAD† taps blocks 20-39 of ViT-g's 40 (OpenTAD ``e2e_thumos_videomaev2_g_768x2_224_
    side_2e-4.py``) and 6-11 of ViT-S's 12 (``e2e_thumos_videomae_s_768x1_160_side.py``).
    """
    if depth < 1:
        raise ValueError(f"a backbone of depth {depth} has no block to tap")
    return list(range(depth // 2, depth))


class TemporalInformativeLadder(nn.Module):
    """One TIA branch per tapped block, summed onto the last block's tokens, then pooled.

    Args:
        dim: token width ``C``.
        taps: indices of the tapped blocks (non-negative, one branch each).
        ratio: bottleneck width over ``C``; 1/8 for AdaTAD† on ViT-g (the OpenTAD config's
            ``adapter_mlp_ratio``), 1/4 in its ViT-S side config.
        kernel_size: temporal kernel of each branch's depthwise convolution (3 in AdaTAD).
        checkpoint: recompute each branch in the backward pass instead of keeping its
            ``(B * n, N, c)`` activations (OpenTAD's side configs set ``with_cp=True``); the
            tapped token maps themselves are kept either way.

    Attributes:
        taps: the tapped block indices, as :class:`~tadapt.adapters.base.SideNetwork` needs.
        tap_output: ``"tokens"``: the branches need every spatial position.

    Shapes:
        ``tapped``: one ``(B * n, N, C)`` token map per tap; ``last``: ``(B * n, N, C)``
        -> ``(B, C, n * t)``.
    """

    tap_output: IntermediateOutput = "tokens"

    def __init__(
        self,
        dim: int,
        taps: Sequence[int],
        *,
        ratio: float = 0.125,
        kernel_size: int = 3,
        checkpoint: bool = True,
    ) -> None:
        super().__init__()
        self.taps = list(taps)
        if not self.taps or min(self.taps) < 0:
            raise ValueError(f"tia_side needs non-negative tapped block indices, got {self.taps}")
        self.adapters = nn.ModuleList(
            TemporalInformativeAdapter(dim, ratio=ratio, kernel_size=kernel_size) for _ in self.taps
        )
        self.checkpoint = checkpoint

    def forward(
        self,
        tapped: list[torch.Tensor],
        last: torch.Tensor,
        layout: TokenLayout,
        masks: torch.Tensor,
    ) -> torch.Tensor:
        """Detached taps and last-block tokens -> ``(B, C, n * t)`` features.

        Args:
            tapped: ``(B * n, N, C)`` outputs of the tapped blocks, in ``taps`` order.
            last: ``(B * n, N, C)`` output of the last block.
            layout: the pass's token layout.
            masks: ``(B, n * t)`` validity; unused, as in AdaTAD (see the module docstring).

        Returns:
            ``(B, C, n * t)``: spatial mean of ``last`` plus the branches.
        """
        del masks  # AdaTAD's temporal conv runs over padding too; the detector masks it
        if len(tapped) != len(self.adapters):
            raise ValueError(f"tia_side expects {len(self.adapters)} taps, got {len(tapped)}")
        out = last
        for adapter, tap in zip(self.adapters, tapped, strict=True):
            assert isinstance(adapter, TemporalInformativeAdapter)
            if self.checkpoint and needs_grad(adapter, tap):
                out = out + checkpoint_call(adapter.branch, tap, layout)
            else:
                out = out + adapter.branch(tap, layout)  # (B * n, N, C)
        return layout.pool(out)


def build_tia_ladder(
    backbone: VisionTransformer,
    blocks: Sequence[int] | None,
    *,
    ratio: float = 0.125,
    kernel_size: int = 3,
    checkpoint: bool = True,
) -> TemporalInformativeLadder:
    """Side factory of the ``tia_side`` strategy (see :data:`~tadapt.adapters.SideFactory`).

    Args:
        backbone: the no-grad backbone whose blocks are tapped.
        blocks: non-negative tapped block indices (:func:`~tadapt.adapters.build_side_network`
            resolves negative ones); ``None``: :func:`default_ladder_taps`.
        ratio: bottleneck ratio (AdaTAD† on ViT-g: 1/8).
        kernel_size: temporal kernel of the depthwise convolution.
        checkpoint: activation checkpointing of each branch.

    Returns:
        The ladder, on the CPU in float32 (``build_side_network`` moves it).
    """
    taps = default_ladder_taps(backbone.depth) if blocks is None else list(blocks)
    return TemporalInformativeLadder(
        backbone.embed_dim, taps, ratio=ratio, kernel_size=kernel_size, checkpoint=checkpoint
    )
