"""The tuning contract: what an adapter is, which parameters train, adapter-only checkpoints.

Modelled on torchtune's ``AdapterModule`` (``torchtune/modules/peft/_utils.py``): a module is
an adapter when it says which of its parameters are adapter parameters
(:class:`AdapterModule`). A :class:`TuningStrategy` record says which backbone parameters
train, whether the backbone runs under ``torch.no_grad()`` and what an adapter-only checkpoint
holds; :func:`mark_trainable`, :func:`adapter_state_dict` and :func:`load_adapter_state_dict`
follow from it. Strategies are registered by name in :mod:`tadapt.adapters.strategies`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn

from tadapt.backbones.tokens import TokenLayout
from tadapt.backbones.videomae import IntermediateOutput

__all__ = [
    "AdapterFactory",
    "AdapterModule",
    "AdapterStateError",
    "BlockInjector",
    "ParamScope",
    "ParameterReport",
    "SideFactory",
    "SideNetwork",
    "TuningStrategy",
    "adapter_state_dict",
    "get_adapter_params",
    "load_adapter_state_dict",
    "load_strategy_state_dict",
    "mark_trainable",
    "strategy_state_dict",
    "trainable_parameter_report",
]

_logger = logging.getLogger(__name__)

ParamScope = Literal["none", "adapters", "all"]
"""A set of backbone parameters: none of them, only the adapters', or all of them."""

AdapterFactory = Callable[..., nn.Module]
"""Builds one adapter as ``factory(dim, ratio=ratio, **options)`` (e.g. ``PlainAdapter``)."""

BlockInjector = Callable[..., None]
"""Changes one selected block in place as ``inject(block, **options)`` (LoRA wraps linears)."""

SideFactory = Callable[..., nn.Module]
"""Builds the side network of a no-grad backbone as ``factory(backbone, blocks, **options)``.

The network's ``taps`` attribute lists the block indices it reads, ``tap_output`` says
whether it wants them ``"pooled"`` or as ``"tokens"`` (see
:meth:`tadapt.backbones.VisionTransformer.forward_intermediates`), and it is called as
``side(tapped, last, layout, masks)`` -> ``(B, C, T')`` features, where ``tapped`` holds the
detached outputs of the tapped blocks, ``last`` the last block's, ``layout`` is the pass's
:class:`~tadapt.backbones.TokenLayout` and ``masks`` the ``(B, T')`` validity of the temporal
token positions (``T' = n * t``; padding frames are False).
"""


@runtime_checkable
class AdapterModule(Protocol):
    """A module that names its own adapter parameters (torchtune's ``AdapterModule``)."""

    def adapter_params(self) -> list[str]:
        """Names, relative to the module, of the parameters that train under an adapter strategy."""
        ...


@runtime_checkable
class SideNetwork(Protocol):
    """What :class:`~tadapt.detection.BackboneFeatures` needs of a side network.

    Attributes:
        taps: indices of the backbone blocks it reads.
        tap_output: ``"pooled"`` ``(B, C, T')`` or ``"tokens"`` ``(B * n, N, C)`` taps.
    """

    taps: Sequence[int]
    tap_output: IntermediateOutput

    def __call__(
        self,
        tapped: list[torch.Tensor],
        last: torch.Tensor,
        layout: TokenLayout,
        masks: torch.Tensor,
    ) -> torch.Tensor:
        """Detached taps and last-block output -> ``(B, C, T')`` features."""
        ...


class AdapterStateError(ValueError):
    """An adapter-only state dict does not match the model's adapters."""


@dataclass(frozen=True)
class TuningStrategy:
    """How a backbone is adapted to the detection task.

    Attributes:
        name: the name users type (``model.strategy=tia``).
        description: one line for ``tadapt list strategies``.
        trains: which backbone parameters get ``requires_grad=True`` (the detection head
            always trains; it is not the backbone's business).
        no_grad: run the backbone under ``torch.no_grad()`` (nothing flows back into it).
        checkpoint: which backbone parameters an adapter-only checkpoint holds (the head's
            are saved beside them by the trainer).
        adapter: builds the adapter placed in each selected block, ``None`` for none.
        inject: changes each selected block in place (LoRA), ``None`` for none.
        side: builds a side network fed by the no-grad backbone's tapped blocks (AdaTAD's
            ladder, LoSA); its parameters live outside the backbone and always train.
    """

    name: str
    description: str
    trains: ParamScope
    no_grad: bool
    checkpoint: ParamScope
    adapter: AdapterFactory | None = None
    inject: BlockInjector | None = None
    side: SideFactory | None = None

    def __post_init__(self) -> None:
        """Reject inconsistent records."""
        in_backbone = [f for f in (self.adapter, self.inject) if f is not None]
        if len(in_backbone) > 1:
            raise ValueError(f"strategy {self.name!r}: give an adapter factory or an injector")
        if bool(in_backbone) != (self.trains == "adapters"):
            raise ValueError(
                f"strategy {self.name!r}: an adapter factory or injector goes with "
                f"trains='adapters' (got trains={self.trains!r})"
            )
        if self.side is not None and not (self.no_grad and not in_backbone):
            raise ValueError(
                f"strategy {self.name!r}: a side network reads a no_grad backbone without "
                "adapters inside it"
            )
        if self.no_grad and self.trains != "none":
            raise ValueError(
                f"strategy {self.name!r} runs the backbone under no_grad, so trains must be "
                f"'none', not {self.trains!r}"
            )


def get_adapter_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """Adapter parameters of every :class:`AdapterModule` inside ``model``, by full name.

    Args:
        model: a backbone (or any module holding adapters).

    Returns:
        ``{name: parameter}`` with names as in ``model.named_parameters()``.
    """
    params: dict[str, nn.Parameter] = {}
    for prefix, module in model.named_modules():
        if isinstance(module, AdapterModule) and isinstance(module, nn.Module):
            own = dict(module.named_parameters())
            for local in module.adapter_params():
                params[f"{prefix}.{local}" if prefix else local] = own[local]
    return params


def mark_trainable(backbone: nn.Module, strategy: TuningStrategy) -> None:
    """Set ``requires_grad`` on every backbone parameter as ``strategy.trains`` says.

    Args:
        backbone: the backbone, with its adapters already inserted.
        strategy: the tuning strategy.

    Raises:
        ValueError: if the strategy trains adapters but the backbone holds none.
    """
    adapter_names = set(get_adapter_params(backbone))
    if strategy.trains == "adapters" and not adapter_names:
        raise ValueError(
            f"strategy {strategy.name!r} trains adapters, but the backbone holds none; "
            "insert them with apply_strategy"
        )
    for name, param in backbone.named_parameters():
        if strategy.trains == "all":
            param.requires_grad_(True)
        elif strategy.trains == "adapters":
            param.requires_grad_(name in adapter_names)
        else:
            param.requires_grad_(False)


class ParameterReport(NamedTuple):
    """Trainable and total parameter counts; unpacks as ``(trainable, total, ratio)``."""

    trainable: int
    total: int
    ratio: float

    def summary(self) -> str:
        """One line such as ``trainable parameters: 1.03M / 22.9M (4.50%)``."""
        return (
            f"trainable parameters: {self.trainable / 1e6:.2f}M / {self.total / 1e6:.2f}M "
            f"({100.0 * self.ratio:.2f}%)"
        )


def trainable_parameter_report(model: nn.Module) -> ParameterReport:
    """Count the parameters of ``model`` that require grad.

    Args:
        model: any module (shared parameters are counted once).

    Returns:
        ``(trainable, total, ratio)``; the ratio is 0 for a model without parameters.
    """
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ParameterReport(trainable, total, trainable / total if total else 0.0)


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter parameters of ``model`` only, detached, keyed as in ``state_dict()``.

    Like ``state_dict()``, the tensors share storage with the parameters; clone them to keep
    a snapshot while training goes on.
    """
    return {name: param.detach() for name, param in get_adapter_params(model).items()}


def load_adapter_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy an adapter-only state dict into the adapters of ``model``.

    Args:
        model: a model whose adapters were inserted the same way as when ``state`` was saved
            (same strategy, blocks and ratio); its other weights are left alone.
        state: ``{name: tensor}`` from :func:`adapter_state_dict`.

    Raises:
        AdapterStateError: (a ``ValueError``) if an adapter parameter is missing from
            ``state``, ``state`` holds names that are no adapter parameter, or shapes differ.
    """
    params = get_adapter_params(model)
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    if missing or unexpected:
        raise AdapterStateError(
            f"adapter state dict does not match the model's adapters: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''} ({len(missing)}), unexpected "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''} ({len(unexpected)}); "
            "insert adapters with the same strategy, blocks and ratio before loading"
        )
    for name, param in params.items():
        if state[name].shape != param.shape:
            raise AdapterStateError(
                f"adapter parameter {name}: checkpoint shape {tuple(state[name].shape)} != "
                f"model shape {tuple(param.shape)}; was it saved with another ratio?"
            )
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state[name])
    _logger.info("loaded %d adapter tensors", len(params))


def _backbone_prefix(model: nn.Module, backbone: nn.Module) -> str:
    for name, module in model.named_modules():
        if module is backbone:
            return f"{name}." if name else ""
    raise ValueError("the backbone is not a submodule of the model")


def _kept_keys(
    model: nn.Module, backbone: nn.Module, strategy: TuningStrategy, keys: Iterable[str]
) -> list[str]:
    prefix = _backbone_prefix(model, backbone)
    adapters = {prefix + name for name in get_adapter_params(backbone)}

    def kept(key: str) -> bool:
        if not key.startswith(prefix) or strategy.checkpoint == "all":
            return True
        return strategy.checkpoint == "adapters" and key in adapters

    return [key for key in keys if kept(key)]


def strategy_state_dict(
    model: nn.Module,
    backbone: nn.Module,
    strategy: TuningStrategy,
    state: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """An adapter-only checkpoint of ``model``: all but the backbone tensors left frozen.

    The model's own modules (detection head, side network) are always kept; of the
    backbone, ``strategy.checkpoint`` says what is kept: nothing, the adapters, or all.

    Args:
        model: the whole model (e.g. the detector) holding ``backbone``.
        backbone: the adapted backbone inside ``model``.
        strategy: the strategy it was adapted with.
        state: a state dict of ``model`` to filter (e.g. its EMA's); default
            ``model.state_dict()``.

    Returns:
        ``{key: tensor}`` keyed as in ``model.state_dict()``.
    """
    state = model.state_dict() if state is None else state
    return {key: state[key] for key in _kept_keys(model, backbone, strategy, state)}


def load_strategy_state_dict(
    model: nn.Module,
    backbone: nn.Module,
    strategy: TuningStrategy,
    state: Mapping[str, torch.Tensor],
) -> None:
    """Load a :func:`strategy_state_dict` into ``model`` built with the same strategy.

    The backbone's other weights stay as they are (the pretrained ones).

    Raises:
        AdapterStateError: (a ``ValueError``) the keys or shapes differ from what the model
            built with ``strategy`` holds (another strategy, ratio or block list).
    """
    expected = set(_kept_keys(model, backbone, strategy, model.state_dict()))
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise AdapterStateError(
            f"the checkpoint does not fit the model built with strategy {strategy.name!r}: "
            f"missing {missing[:3]} ({len(missing)}), unexpected {unexpected[:3]} "
            f"({len(unexpected)}); build the model from the run's config.yaml"
        )
    try:
        model.load_state_dict(dict(state), strict=False)
    except RuntimeError as err:
        raise AdapterStateError(f"checkpoint shapes differ: {str(err).splitlines()[-1]}") from None
