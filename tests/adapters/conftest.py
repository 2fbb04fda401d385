"""Tiny random backbones and clips shared by the adapter tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from tadapt.adapters import get_adapter_params
from tadapt.backbones import VisionTransformer, create_backbone


@pytest.fixture
def make_backbone() -> Callable[..., VisionTransformer]:
    """Factory: ``make_backbone(seed=0)`` -> a random 4-block ``videomae_tiny_patch16``."""

    def make(seed: int = 0) -> VisionTransformer:
        model = create_backbone("videomae_tiny_patch16")
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for param in model.parameters():  # every tensor random, norms and biases too
                param.copy_(0.1 * torch.randn(param.shape, generator=generator))
        return model.eval()

    return make


@pytest.fixture
def clip() -> torch.Tensor:
    """Two videos of 32 frames (two 16-frame chunks) at 32 x 32 px: ``(2, 3, 32, 32, 32)``."""
    return torch.randn(2, 3, 32, 32, 32, generator=torch.Generator().manual_seed(1))


def _perturb(model: torch.nn.Module, seed: int = 2) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in get_adapter_params(model).values():
            param.copy_(0.2 * torch.randn(param.shape, generator=generator))


@pytest.fixture
def perturb() -> Callable[..., None]:
    """``perturb(model, seed=2)``: random values in every adapter parameter (up-projections too)."""
    return _perturb
