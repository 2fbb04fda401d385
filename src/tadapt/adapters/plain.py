"""Plain bottleneck adapter: down-projection, GELU, zero-initialised up-projection, scale.

This is the ``PlainAdapter`` ablation of AdaTAD (Liu et al., "End-to-End Temporal Action
Detection with 1B Parameters Across 1000 Frames", CVPR 2024), whose reference code is
``opentad/models/backbones/vit_adapter.py`` in sming256/OpenTAD; written anew here. It mixes
nothing over time, so each 16-frame chunk is adapted on its own. It sits in series after a
ViT block (``Block.adapter``) and starts as the identity.
"""

from __future__ import annotations

import torch
from torch import nn

from tadapt.backbones.tokens import TokenLayout

__all__ = ["PlainAdapter", "bottleneck_width", "init_bottleneck"]


def bottleneck_width(dim: int, ratio: float) -> int:
    """Hidden width ``int(dim * ratio)`` of a bottleneck adapter, validated.

    Args:
        dim: token width ``C``.
        ratio: hidden width over ``C`` (AdaTAD uses 1/4; 1/8 for its side variant).

    Raises:
        ValueError: if the ratio is not positive or gives an empty bottleneck.
    """
    hidden = int(dim * ratio)
    if ratio <= 0 or hidden < 1:
        raise ValueError(
            f"adapter ratio {ratio} gives a bottleneck of {hidden} channels for width {dim}; "
            "use a ratio in (0, 1], e.g. 0.25"
        )
    return hidden


def init_bottleneck(down: nn.Linear, up: nn.Linear, gamma: nn.Parameter) -> None:
    """AdaTAD's bottleneck init: down trunc-normal std 0.02, zero biases, zero up, gamma 1.

    The zero up-projection makes the adapter start as the identity.
    """
    nn.init.trunc_normal_(down.weight, std=0.02)  # std 0.02: OpenTAD vit_adapter.py
    nn.init.zeros_(down.bias)
    nn.init.zeros_(up.weight)
    nn.init.zeros_(up.bias)
    nn.init.ones_(gamma)


class PlainAdapter(nn.Module):
    """``out = x + gamma * up(GELU(down(x)))`` on every token independently.

    Args:
        dim: token width ``C``.
        ratio: bottleneck width over ``C`` (hidden ``c = int(C * ratio)``).

    Shapes:
        ``x``: ``(B * n, N, C)`` tokens -> ``(B * n, N, C)``.
    """

    def __init__(self, dim: int, *, ratio: float = 0.25):
        super().__init__()
        hidden = bottleneck_width(dim, ratio)
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden, dim)
        # learnable scalar scale of the adapter branch, initialised to 1 (AdaTAD vit_adapter.py)
        self.gamma = nn.Parameter(torch.ones(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """AdaTAD's init: see :func:`init_bottleneck`."""
        init_bottleneck(self.down, self.up, self.gamma)

    def adapter_params(self) -> list[str]:
        """Names (relative to this module) of the parameters that train: all of them."""
        return [name for name, _ in self.named_parameters()]

    def forward(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """Adapt tokens ``(B * n, N, C)``; ``layout`` is unused (no temporal mixing)."""
        del layout  # the per-token adapter needs no knowledge of the chunk layout
        branch: torch.Tensor = self.up(self.act(self.down(x)))  # (B * n, N, C)
        return x + self.gamma * branch
