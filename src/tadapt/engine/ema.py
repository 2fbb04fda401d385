"""Exponential moving average of a model's weights (ActionFormer ``ModelEma``, timm ``ModelEmaV2``).

After every optimizer step each floating-point entry of the state dict (parameters and
buffers) becomes ``decay * ema + (1 - decay) * current``; integer buffers are copied. The
averaged copy usually evaluates better than the last weights (ActionFormer evaluates it, with
``decay = 0.999``), so evaluation uses it by default.

Parameters that do not train (a frozen backbone, the frozen weights under adapters) are never
averaged: the copy *shares* them with the model instead of duplicating them, so the EMA of a
1B-parameter backbone with adapters costs the adapters' memory, not another 4 GB.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ModelEMA"]


class ModelEMA:
    """An averaged copy of a model, in evaluation mode and without gradients.

    Args:
        model: the model to follow (unwrapped from DDP); it is deep-copied, except for the
            parameters with ``requires_grad=False``, which the copy shares.
        decay: weight of the past in every update, in ``(0, 1)``.

    Attributes:
        module: the averaged model.
        decay: the decay.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        frozen = {id(p): p for p in model.parameters() if not p.requires_grad}
        self.module = copy.deepcopy(model, memo=frozen).eval()
        self.module.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average.

        Raises:
            ValueError: ``model`` has other state-dict entries than the averaged copy.
        """
        current = model.state_dict()
        averaged = self.module.state_dict()
        if current.keys() != averaged.keys():
            raise ValueError("ModelEMA.update: the model's state dict does not match the EMA's")
        for key, ema_value in averaged.items():
            value = current[key].detach()
            if ema_value.data_ptr() == value.data_ptr():
                continue  # a shared frozen parameter
            if ema_value.is_floating_point():
                # the order of ActionFormer's ModelEma: decay * ema + (1 - decay) * value
                ema_value.mul_(self.decay).add_(value.to(ema_value.dtype), alpha=1.0 - self.decay)
            else:
                ema_value.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights (a model state dict)."""
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.module.load_state_dict(state)
