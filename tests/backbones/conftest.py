"""Tiny random backbones shared by the backbone tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from tadapt.backbones import VisionTransformer, create_backbone


def _randomize(model: VisionTransformer, seed: int) -> VisionTransformer:
    # every tensor random (q/v biases and norms included), so a dropped key cannot hide
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


@pytest.fixture
def make_tiny() -> Callable[..., VisionTransformer]:
    """Factory: ``make_tiny(seed=0, **overrides)`` -> a random ``videomae_tiny_patch16``."""

    def make(seed: int = 0, **overrides: Any) -> VisionTransformer:
        overrides = {"depth": 2, **overrides}
        return _randomize(create_backbone("videomae_tiny_patch16", **overrides), seed)

    return make
