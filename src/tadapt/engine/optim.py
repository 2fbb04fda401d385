"""AdamW with parameter groups: weight decay only where it belongs, learning rates per module.

**Weight decay** (ActionFormer ``make_optimizer`` in ``libs/utils/train_utils.py``; timm
``param_groups_weight_decay``): a trainable parameter is decayed unless

* it has at most one dimension (biases, norm weights, scalar ``Scale`` factors),
* it belongs to a normalisation layer, a :class:`~tadapt.layers.Scale` or an
  :class:`~tadapt.layers.AffineDropPath` (the ``(1, C, 1)`` LayerScale), or
* a module names it in ``no_weight_decay()`` (the backbone contract: position embeddings,
  class tokens), the names being relative to that module,

and it lies under none of the ``full_decay_prefixes``: there every trainable parameter is
decayed, biases, norms and scales included. OpenTAD's AdaTAD configs do this for the adapters
(``optimizer.backbone.custom=[dict(name="adapter", weight_decay=0.05)]`` puts every parameter
whose name holds ``adapter`` in one decayed group, TIA's ``gamma`` among them).

**Learning rates**: ``module_lrs`` maps a parameter-name prefix to a learning rate; the longest
prefix that matches at a module boundary wins (``backbone`` matches ``backbone.blocks.0.x``,
not ``backbone2.x``); the rest use ``lr``. AdaTAD trains the detector at 1e-4 and the adapters
at 1e-4 or 2e-4 with the backbone frozen.

**Layer-wise learning-rate decay** (``layer_decay``, for full fine-tuning): inside every
submodule with a ``group_matcher()`` (the backbone contract), a parameter of layer ``i`` out
of ``L + 2`` (the stem is layer 0, block ``k`` is layer ``k + 1``, anything else inside the
module is the last layer ``L + 1``, for ``L`` blocks) gets its learning rate multiplied by
``layer_decay ** (L + 1 - i)``; parameters outside such modules (the detection head) are not
scaled. The factor multiplies the ``module_lrs`` rate, so ``module_lrs={"backbone": 5e-5}``
with ``layer_decay=0.75`` gives the backbone's last block 5e-5 * 0.75 and its stem
5e-5 * 0.75 ** (L + 1).

Groups hold every parameter with the same (learning rate, weight decay), so layer decay adds
at most two groups per layer. Frozen parameters (``requires_grad=False``) are left out of the
optimizer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
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


def _layer_ids(model: nn.Module) -> dict[str, tuple[int, int]]:
    """``{parameter name: (layer id, number of layers)}`` inside ``group_matcher()`` modules.

    A parameter inside nested matcher modules belongs to the innermost one. The number of
    layers of a module is its block count + 2, counting every parameter (frozen ones too), so
    the ids do not depend on what trains.
    """
    ids: dict[str, tuple[int, int]] = {}
    matchers = [
        (prefix, module)
        for prefix, module in model.named_modules()
        if callable(getattr(module, "group_matcher", None))
    ]
    for prefix, module in sorted(matchers, key=lambda pm: len(pm[0])):  # innermost last wins
        patterns = module.group_matcher()
        stem, blocks = re.compile(patterns["stem"]), re.compile(patterns["blocks"])
        names = [name for name, _ in module.named_parameters()]
        block_ids = {name: int(m.group(1)) for name in names if (m := blocks.match(name))}
        num_layers = max(block_ids.values(), default=-1) + 3  # stem, blocks, the rest
        for name in names:
            if stem.match(name):
                layer = 0
            elif name in block_ids:
                layer = block_ids[name] + 1
            else:
                layer = num_layers - 1
            ids[f"{prefix}.{name}" if prefix else name] = (layer, num_layers)
    return ids


def _describe(members: dict[str, set[int]]) -> str:
    """``default`` / ``backbone@layer3`` / ``backbone@layers0-13`` joined by ``+``."""
    parts = []
    for label, layers in members.items():
        if -1 in layers:  # outside any group_matcher() module
            parts.append(label)
        layers = layers - {-1}
        if len(layers) == 1:
            parts.append(f"{label}@layer{min(layers)}")
        elif layers:
            low, high = min(layers), max(layers)
            span = (
                f"{low}-{high}"
                if len(layers) == high - low + 1
                else ",".join(map(str, sorted(layers)))
            )
            parts.append(f"{label}@layers{span}")
    return "+".join(parts)


def param_groups(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    module_lrs: Mapping[str, float] | None = None,
    layer_decay: float | None = None,
    full_decay_prefixes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Split the trainable parameters into (learning rate, weight decay) groups.

    Args:
        model: the model (unwrapped from DDP).
        lr: learning rate of parameters no ``module_lrs`` prefix matches.
        weight_decay: decay of the decayed groups (the others get 0).
        module_lrs: parameter-name prefix -> learning rate.
        layer_decay: layer-wise decay factor in ``(0, 1]`` for parameters inside
            ``group_matcher()`` modules (see the module docstring); ``None`` for none.
        full_decay_prefixes: parameter-name prefixes under which every trainable parameter
            is decayed (biases, norms, scales and ``no_weight_decay()`` names too).

    Returns:
        One group per distinct (learning rate, weight decay), with keys ``params``, ``lr``,
        ``weight_decay`` and ``name`` (e.g. ``"default/decay"``, ``"backbone/no_decay"``,
        ``"default@layer3/decay"`` under layer decay); the base-rate groups come first, then
        by prefix and layer.

    Raises:
        ValueError: a ``module_lrs`` or ``full_decay_prefixes`` prefix matches no trainable
            parameter, ``layer_decay`` is out of range, or it is set but no trainable
            parameter is layer-decayed.
    """
    if layer_decay is not None and not 0.0 < layer_decay <= 1.0:
        raise ValueError(f"optim.layer_decay must be in (0, 1], got {layer_decay}")
    module_lrs = dict(module_lrs or {})
    prefixes = sorted(module_lrs, key=len, reverse=True)
    full_decay = sorted(full_decay_prefixes, key=len, reverse=True)
    excluded = no_weight_decay_names(model)
    modules = dict(model.named_modules())
    layer_ids = _layer_ids(model) if layer_decay is not None else {}
    # per (lr, weight decay): its parameters, {label: layer ids} and smallest sort key
    params_of: dict[tuple[float, float], list[nn.Parameter]] = {}
    members_of: dict[tuple[float, float], dict[str, set[int]]] = {}
    order_of: dict[tuple[float, float], tuple[str, int, bool]] = {}
    used: set[str] = set()
    used_full: set[str] = set()
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        owner = modules[name.rpartition(".")[0]]
        prefix = _matching_prefix(name, prefixes)
        if prefix is not None:
            used.add(prefix)
        group_lr = module_lrs[prefix] if prefix is not None else lr
        layer, num_layers = layer_ids.get(name, (-1, 0))  # -1: no group_matcher() module
        if layer >= 0:
            assert layer_decay is not None
            # BEiT (microsoft/unilm beit/optim_factory.py) and timm param_groups_layer_decay:
            # scale layer_decay ** (num_layers - 1 - layer), 1 for the last layer
            group_lr *= layer_decay ** (num_layers - 1 - layer)
        full = _matching_prefix(name, full_decay)
        if full is not None:
            used_full.add(full)
        decay = full is not None or _decays(name, param, owner, excluded)
        key = (group_lr, weight_decay if decay else 0.0)
        params_of.setdefault(key, []).append(param)
        members_of.setdefault(key, {}).setdefault(prefix or "default", set()).add(layer)
        order = (prefix or "", layer, not decay)  # base-rate groups first, then prefix, layer
        order_of[key] = min(order_of.get(key, order), order)
    top = sorted({n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad})
    for option, unused in (
        ("module_lrs", sorted(set(prefixes) - used)),
        ("full_decay_prefixes", sorted(set(full_decay) - used_full)),
    ):
        if unused:
            raise ValueError(
                f"optim.{option}: {unused} match no trainable parameter; top-level modules "
                f"with trainable parameters: {top}"
            )
    if layer_decay is not None and not any(
        layer_ids.get(n, (-1, 0))[0] >= 0 for n, p in model.named_parameters() if p.requires_grad
    ):
        raise ValueError(
            "optim.layer_decay is set, but no trainable parameter lies in a module with "
            "group_matcher() (a backbone); unset it, or train the backbone (strategy full)"
        )
    return [
        {
            "params": params_of[key],
            "lr": key[0],
            "weight_decay": key[1],
            "name": f"{_describe(members_of[key])}/{'decay' if key[1] > 0 else 'no_decay'}",
        }
        for key in sorted(params_of, key=order_of.__getitem__)
    ]


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    module_lrs: Mapping[str, float] | None = None,
    layer_decay: float | None = None,
    full_decay_prefixes: Sequence[str] = (),
) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; logs the groups' sizes and learning rates.

    Raises:
        ValueError: no trainable parameter, an unmatched ``module_lrs`` or
            ``full_decay_prefixes`` prefix, or a bad ``layer_decay`` (see :func:`param_groups`).
    """
    groups = param_groups(
        model,
        lr=lr,
        weight_decay=weight_decay,
        module_lrs=module_lrs,
        layer_decay=layer_decay,
        full_decay_prefixes=full_decay_prefixes,
    )
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
