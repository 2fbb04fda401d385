"""AdamW with parameter groups: weight decay only where it belongs, learning rates per module.

**Weight decay** (ActionFormer ``make_optimizer`` in ``libs/utils/train_utils.py``; timm
``param_groups_weight_decay``): a trainable parameter is decayed unless

* it has at most one dimension (biases, norm weights, scalar ``Scale`` factors),
* it belongs to a normalisation layer, a :class:`~tadapt.layers.Scale` or an
  :class:`~tadapt.layers.AffineDropPath` (the ``(1, C, 1)`` LayerScale), or
* a module names it in ``no_weight_decay()`` (the backbone contract: position embeddings,
  class tokens), the names being relative to that module.

**Learning rates**: ``module_lrs`` maps a parameter-name prefix to a learning rate; the longest
prefix that matches at a module boundary wins (``backbone`` matches ``backbone.blocks.0.x``,
not ``backbone2.x``); the rest use ``lr``. AdaTAD trains the detector at 1e-4 and the adapters
at 1e-4 or 2e-4 with the backbone frozen.

Frozen parameters (``requires_grad=False``) are left out of the optimizer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from tadapt.layers import AffineDropPath, LayerNorm1d, Scale

__all__ = ["build_optimizer", "no_weight_decay_names", "param_groups"]

logger = logging.getLogger(__name__)

_NO_DECAY_MODULES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    LayerNorm1d,
    Scale,
    AffineDropPath,
)


def no_weight_decay_names(model: nn.Module) -> set[str]:
    """Full parameter names listed by any submodule's ``no_weight_decay()``."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        method = getattr(module, "no_weight_decay", None)
        if callable(method):
            names |= {f"{prefix}.{n}" if prefix else n for n in method()}
    return names


def _decays(name: str, param: nn.Parameter, owner: nn.Module, excluded: set[str]) -> bool:
    return param.ndim > 1 and not isinstance(owner, _NO_DECAY_MODULES) and name not in excluded


def _matching_prefix(name: str, prefixes: list[str]) -> str | None:
    """The longest prefix equal to ``name`` or to one of its leading module paths."""
    for prefix in prefixes:  # sorted longest first
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    module_lrs: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Split the trainable parameters into (learning rate, decay) groups.

    Args:
        model: the model (unwrapped from DDP).
        lr: learning rate of parameters no ``module_lrs`` prefix matches.
        weight_decay: decay of the decayed groups (the others get 0).
        module_lrs: parameter-name prefix -> learning rate.

    Returns:
        Groups with keys ``params``, ``lr``, ``weight_decay`` and ``name`` (``"<prefix or
        default>/decay"`` or ``".../no_decay"``), in a fixed order; empty groups are omitted.

    Raises:
        ValueError: a ``module_lrs`` prefix matches no trainable parameter.
    """
    module_lrs = dict(module_lrs or {})
    prefixes = sorted(module_lrs, key=len, reverse=True)
    excluded = no_weight_decay_names(model)
    modules = dict(model.named_modules())
    groups: dict[tuple[str, bool], list[nn.Parameter]] = {}
    used: set[str] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        owner = modules[name.rpartition(".")[0]]
        prefix = _matching_prefix(name, prefixes)
        if prefix is not None:
            used.add(prefix)
        key = (prefix if prefix is not None else "", _decays(name, param, owner, excluded))
        groups.setdefault(key, []).append(param)
    unused = sorted(set(prefixes) - used)
    if unused:
        top = sorted({n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad})
        raise ValueError(
            f"optim.module_lrs: {unused} match no trainable parameter; top-level modules "
            f"with trainable parameters: {top}"
        )
    out = []
    for (prefix, decay), params in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1])):
        out.append(
            {
                "params": params,
                "lr": module_lrs[prefix] if prefix else lr,
                "weight_decay": weight_decay if decay else 0.0,
                "name": f"{prefix or 'default'}/{'decay' if decay else 'no_decay'}",
            }
        )
    return out


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    module_lrs: Mapping[str, float] | None = None,
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; logs the groups' sizes and learning rates.

    Raises:
        ValueError: no trainable parameter, or an unmatched ``module_lrs`` prefix.
    """
    groups = param_groups(model, lr=lr, weight_decay=weight_decay, module_lrs=module_lrs)
    if not groups:
        raise ValueError("the model has no trainable parameter")
    for group in groups:
        count = sum(p.numel() for p in group["params"])
        logger.info(
            "param group %s: %d tensors, %d values, lr %g, weight decay %g",
            group["name"],
            len(group["params"]),
            count,
            group["lr"],
            group["weight_decay"],
        )
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
