"""AdaTAD's Temporal-Informative Adapter (TIA).

Liu et al., "End-to-End Temporal Action Detection with 1B Parameters Across 1000 Frames"
(CVPR 2024). Semantics follow the ``Adapter`` class of ``opentad/models/backbones/
vit_adapter.py`` in sming256/OpenTAD; the code is written anew for tadapt's chunked ViT.

TIA sits in series after a ViT block (``Block.adapter``), after both residual sub-layers::

    h = GELU(down(x))                      # (B * n, N, c), c = C * ratio
    h = h + pw(dw(h))                      # over each spatial position's whole timeline
    out = x + gamma * up(h)                # up zero-initialised -> identity at init

``dw`` is a depthwise Conv1d over time (kernel 3, padding 1) and ``pw`` a pointwise (1x1)
Conv1d. The convolution runs on the input *window's* token timeline of ``n * t`` positions
(the window's ``n`` 16-frame chunks re-concatenated, :meth:`TokenLayout.to_timeline`), so it crosses
chunk boundaries, while attention inside the blocks stays within one chunk.
:meth:`TemporalInformativeAdapter.branch` is the residual branch alone (``gamma * up(h)``),
which AdaTAD's side variant (:mod:`tadapt.adapters.ladder`) applies to detached taps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tadapt.adapters.plain import bottleneck_width, init_bottleneck
from tadapt.backbones.tokens import TokenLayout

__all__ = ["TemporalInformativeAdapter"]


class TemporalInformativeAdapter(nn.Module):
    """Bottleneck adapter with a depthwise temporal convolution across chunks.

    Args:
        dim: token width ``C``.
        ratio: bottleneck width over ``C``: 1/4 in AdaTAD, 1/8 for its side variant.
        kernel_size: temporal kernel of the depthwise convolution (odd; 3 in AdaTAD).

    Shapes:
        ``x``: ``(B * n, N, C)`` tokens with ``N = t * h * w``, laid out as ``layout`` says
        -> ``(B * n, N, C)``. Inside, the bottleneck runs on ``(B * h * w, c, n * t)``.
    """

    def __init__(self, dim: int, *, ratio: float = 0.25, kernel_size: int = 3):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"TIA kernel_size must be odd and positive, got {kernel_size}")
        hidden = bottleneck_width(dim, ratio)
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.dwconv = nn.Conv1d(
            hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden
        )
        self.pwconv = nn.Conv1d(hidden, hidden, 1)
        self.up = nn.Linear(hidden, dim)
        # learnable scalar scale of the adapter branch, initialised to 1 (vit_adapter.py)
        self.gamma = nn.Parameter(torch.ones(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """AdaTAD's init (OpenTAD ``vit_adapter.py``), up-projection zero so TIA = identity.

        Down: trunc-normal std 0.02. Convolutions: normal with std ``sqrt(2 / fan_out)``
        (fan_out = kernel * out_channels / groups: ``kernel_size`` for the depthwise conv,
        ``c`` for the pointwise one). All biases zero; gamma one.
        """
        init_bottleneck(self.down, self.up, self.gamma)
        for conv in (self.dwconv, self.pwconv):
            fan_out = conv.kernel_size[0] * conv.out_channels // conv.groups
            nn.init.normal_(conv.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            assert conv.bias is not None
            nn.init.zeros_(conv.bias)

    def adapter_params(self) -> list[str]:
        """Names (relative to this module) of the parameters that train: all of them."""
        return [name for name, _ in self.named_parameters()]

    def branch(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """The adapter's residual branch ``gamma * up(h)``, without the identity.

        The in-backbone adapter adds it to its input (:meth:`forward`); AdaTAD's side variant
        (:class:`~tadapt.adapters.ladder.TemporalInformativeLadder`) adds it, computed on a
        detached tapped block, to the last block's output instead.

        Args:
            x: ``(B * n, N, C)`` tokens of the videos described by ``layout``.
            layout: where the tokens sit in the videos (the conv runs over each timeline).

        Returns:
            ``(B * n, N, C)``; zero at init (zero up-projection).
        """
        h = self.act(self.down(x))  # (B * n, N, c)
        seq = layout.to_timeline(h)  # (B, n * t, h, w, c)
        batch, length, height, width, hidden = seq.shape
        # (B, n * t, h, w, c) -> (B, h, w, c, n * t) -> (B * h * w, c, n * t)
        seq = seq.permute(0, 2, 3, 4, 1).reshape(batch * height * width, hidden, length)
        seq = seq + self.pwconv(self.dwconv(seq))  # inner residual around the temporal conv
        # (B * h * w, c, n * t) -> (B, n * t, h, w, c) -> (B * n, N, c)
        seq = seq.reshape(batch, height, width, hidden, length).permute(0, 4, 1, 2, 3)
        h = layout.from_timeline(seq)
        out: torch.Tensor = self.gamma * self.up(h)  # (B * n, N, C)
        return out

    def forward(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """Adapt tokens ``(B * n, N, C)`` of the videos described by ``layout``: ``x + branch``."""
        return x + self.branch(x, layout)
