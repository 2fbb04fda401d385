"""Named tuning strategies: ``register_strategy`` / ``get_strategy`` / ``list_strategies``.

A strategy (:class:`~tadapt.adapters.base.TuningStrategy`) is selected by the name users type
(``model.strategy=tia``); :func:`apply_strategy` inserts its adapters into a backbone's
blocks and marks which parameters train. Registered here:

* ``frozen``: head-only training on backbone features computed on the fly under no-grad.
* ``full``: full fine-tuning, every backbone parameter trains.
* ``adapter``: a plain bottleneck adapter after each selected block (no temporal mixing);
  only adapters train, gradients flow back through the frozen backbone.
* ``tia``: AdaTAD's temporal-informative adapter after each selected block (Liu et al.,
  CVPR 2024); trains like ``adapter``. Activation checkpointing keeps its memory low.
* ``lora``: low-rank updates of the attention and MLP linears of each selected block (Hu et
  al., ICLR 2022); only the LoRA factors train, and :func:`~tadapt.adapters.merge_lora` folds
  them into the weights for inference.
* ``tia_side``: AdaTAD's side variant (AdaTAD†): the backbone runs under no-grad and TIA
  branches on detached tapped blocks are summed onto its last block (a side network).
* ``losa``: LoSA's short- and long-range adapters on pooled, detached taps of a no-grad
  backbone, fused onto its last block by zero-initialised gates (Gupta et al., WACV 2025).
"""

from __future__ import annotations

import difflib
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from torch import nn

from tadapt.adapters.base import TuningStrategy, get_adapter_params, mark_trainable
from tadapt.adapters.ladder import build_tia_ladder
from tadapt.adapters.lora import inject_lora
from tadapt.adapters.losa import build_losa
from tadapt.adapters.plain import PlainAdapter
from tadapt.adapters.tia import TemporalInformativeAdapter
from tadapt.backbones.videomae import Block, VisionTransformer

__all__ = [
    "apply_strategy",
    "build_side_network",
    "get_strategy",
    "list_strategies",
    "register_strategy",
]

_logger = logging.getLogger(__name__)

_REGISTRY: dict[str, TuningStrategy] = {}


def register_strategy(strategy: TuningStrategy) -> TuningStrategy:
    """Register ``strategy`` under its name; re-registering a name replaces it with a warning.

    Returns:
        The strategy, unchanged.
    """
    if strategy.name in _REGISTRY:
        warnings.warn(f"strategy {strategy.name!r} is registered again; replacing it", stacklevel=2)
    _REGISTRY[strategy.name] = strategy
    return strategy


def get_strategy(name: str) -> TuningStrategy:
    """The registered strategy called ``name``.

    Raises:
        ValueError: for an unknown name, with the closest known names.
    """
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown tuning strategy {name!r}{hint} (`tadapt list strategies` shows the names)"
        )
    return _REGISTRY[name]


def list_strategies() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(_REGISTRY)


def _resolve_blocks(blocks: Sequence[int] | None, depth: int) -> list[int]:
    if blocks is None:
        return list(range(depth))
    resolved = sorted({i + depth if i < 0 else i for i in blocks})
    if not resolved or any(not 0 <= i < depth for i in resolved):
        raise ValueError(
            f"adapter blocks {list(blocks)} are out of range for a backbone of depth {depth}"
        )
    return resolved


def _is_adapted(block: nn.Module) -> bool:
    """Whether ``block`` holds an adapter or any adapter module (LoRA layers included)."""
    return getattr(block, "adapter", None) is not None or bool(get_adapter_params(block))


def apply_strategy(
    backbone: VisionTransformer,
    name: str,
    *,
    blocks: Sequence[int] | None = None,
    ratio: float = 0.25,
    **options: Any,
) -> VisionTransformer:
    """Insert a strategy's adapters into ``backbone`` and mark which parameters train.

    Args:
        backbone: the ViT to adapt, modified in place; its blocks must carry no adapter yet.
        name: a registered strategy name (see :func:`list_strategies`).
        blocks: indices of the blocks that get an adapter (negative count from the end),
            ``None`` for all blocks (AdaTAD's default; blocks 20-39 of 40 for ViT-g at 224 px).
            For side strategies, the tapped blocks (see :func:`build_side_network`).
        ratio: adapter bottleneck width over the token width (1/4 in AdaTAD, 1/8 for its
            side variant).
        **options: strategy-specific keyword arguments of the adapter factory or injector
            (e.g. ``kernel_size`` for ``tia``; ``rank``, ``alpha``, ``dropout`` and
            ``targets`` for ``lora``, which ignores ``ratio``).

    Returns:
        ``backbone`` itself. New adapters are placed on the device and dtype of the block.

    Raises:
        ValueError: for an unknown name, bad block indices, ``blocks`` given to a strategy
            without adapters, or a block that already holds an adapter or LoRA layers.
    """
    strategy = get_strategy(name)
    if strategy.adapter is not None or strategy.inject is not None:
        indices = _resolve_blocks(blocks, backbone.depth)
        taken = [i for i in indices if _is_adapted(backbone.blocks[i])]
        if taken:
            raise ValueError(
                f"blocks {taken} already hold adapters (or LoRA); build a fresh backbone to "
                f"apply {name!r}"
            )
        for index in indices:
            block = backbone.blocks[index]
            assert isinstance(block, Block)
            if strategy.inject is not None:
                strategy.inject(block, **options)
                continue
            assert strategy.adapter is not None
            reference = block.norm1.weight
            adapter = strategy.adapter(backbone.embed_dim, ratio=ratio, **options)
            block.adapter = adapter.to(device=reference.device, dtype=reference.dtype)
    elif blocks is not None and strategy.side is None:
        raise ValueError(f"strategy {name!r} inserts no adapters; leave blocks unset")
    mark_trainable(backbone, strategy)
    _logger.debug("applied tuning strategy %r", name)
    return backbone


def build_side_network(
    backbone: VisionTransformer,
    name: str,
    *,
    blocks: Sequence[int] | None = None,
    ratio: float = 0.25,
    **options: Any,
) -> nn.Module | None:
    """The side network of a side strategy (``tia_side``, ``losa``), ``None`` for the others.

    Args:
        backbone: the (no-grad) backbone whose blocks the network taps.
        name: a registered strategy name.
        blocks: the tapped block indices (negative count from the end); ``None``: the
            strategy's default.
        ratio: bottleneck width of the side adapters over the token width.
        **options: strategy-specific keyword arguments of the side factory.

    Returns:
        The network, on the device and dtype of the backbone, or ``None``.
    """
    strategy = get_strategy(name)
    if strategy.side is None:
        return None
    taps = None if blocks is None else _resolve_blocks(blocks, backbone.depth)
    side = strategy.side(backbone, taps, ratio=ratio, **options)
    reference = backbone.patch_embed.proj.weight
    return side.to(device=reference.device, dtype=reference.dtype)


register_strategy(
    TuningStrategy(
        name="frozen",
        description="head only; the backbone runs under no_grad on the fly",
        trains="none",
        no_grad=True,
        checkpoint="none",
    )
)
register_strategy(
    TuningStrategy(
        name="full",
        description="full fine-tuning: every backbone parameter trains",
        trains="all",
        no_grad=False,
        checkpoint="all",
    )
)
register_strategy(
    TuningStrategy(
        name="adapter",
        description="plain bottleneck adapter after each selected block, no temporal mixing",
        trains="adapters",
        no_grad=False,
        checkpoint="adapters",
        adapter=PlainAdapter,
    )
)
register_strategy(
    TuningStrategy(
        name="tia",
        description="AdaTAD temporal-informative adapter (temporal conv across chunks) "
        "after each selected block",
        trains="adapters",
        no_grad=False,
        checkpoint="adapters",
        adapter=TemporalInformativeAdapter,
    )
)
register_strategy(
    TuningStrategy(
        name="lora",
        description="LoRA on the attention and MLP linears of each selected block (mergeable)",
        trains="adapters",
        no_grad=False,
        checkpoint="adapters",
        inject=inject_lora,
    )
)
register_strategy(
    TuningStrategy(
        name="tia_side",
        description="AdaTAD side variant: TIA branches on detached taps of a no-grad "
        "backbone, summed onto its last block",
        trains="none",
        no_grad=True,
        checkpoint="none",
        side=build_tia_ladder,
    )
)
register_strategy(
    TuningStrategy(
        name="losa",
        description="LoSA: short- and long-range adapters on pooled taps of a no-grad "
        "backbone, gated onto its last block",
        trains="none",
        no_grad=True,
        checkpoint="none",
        side=build_losa,
    )
)
