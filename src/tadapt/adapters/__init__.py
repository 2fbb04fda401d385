"""Tuning strategies and adapters: how a video backbone is adapted to temporal detection.

``apply_strategy(backbone, "tia")`` inserts AdaTAD's temporal-informative adapters and freezes
everything else; ``tadapt list strategies`` shows the registered names.

The names are imported on first use, so a config (which holds :class:`LoSAOptions`) needs
no torch.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes

if TYPE_CHECKING:
    from tadapt.adapters.base import (
        AdapterModule,
        AdapterStateError,
        BlockInjector,
        ParameterReport,
        SideFactory,
        TuningStrategy,
        adapter_state_dict,
        get_adapter_params,
        load_adapter_state_dict,
        load_strategy_state_dict,
        mark_trainable,
        strategy_state_dict,
        trainable_parameter_report,
    )
    from tadapt.adapters.ladder import (
        TemporalInformativeLadder,
        build_tia_ladder,
        default_ladder_taps,
    )
    from tadapt.adapters.lora import LoRALinear, inject_lora, merge_lora
    from tadapt.adapters.losa import (
        LongRangeAdapter,
        LoSA,
        ShortRangeAdapter,
        build_losa,
        default_losa_taps,
    )
    from tadapt.adapters.losa_options import LoSAOptions
    from tadapt.adapters.plain import PlainAdapter
    from tadapt.adapters.strategies import (
        apply_strategy,
        build_side_network,
        get_strategy,
        list_strategies,
        register_strategy,
    )
    from tadapt.adapters.tia import TemporalInformativeAdapter

__all__ = [
    "AdapterModule",
    "AdapterStateError",
    "BlockInjector",
    "LoRALinear",
    "LoSA",
    "LoSAOptions",
    "LongRangeAdapter",
    "ParameterReport",
    "PlainAdapter",
    "ShortRangeAdapter",
    "SideFactory",
    "TemporalInformativeAdapter",
    "TemporalInformativeLadder",
    "TuningStrategy",
    "adapter_state_dict",
    "apply_strategy",
    "build_losa",
    "build_side_network",
    "build_tia_ladder",
    "default_ladder_taps",
    "default_losa_taps",
    "get_adapter_params",
    "get_strategy",
    "inject_lora",
    "list_strategies",
    "load_adapter_state_dict",
    "load_strategy_state_dict",
    "mark_trainable",
    "merge_lora",
    "register_strategy",
    "strategy_state_dict",
    "trainable_parameter_report",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "AdapterModule": "tadapt.adapters.base",
        "AdapterStateError": "tadapt.adapters.base",
        "BlockInjector": "tadapt.adapters.base",
        "LoRALinear": "tadapt.adapters.lora",
        "LoSA": "tadapt.adapters.losa",
        "LoSAOptions": "tadapt.adapters.losa_options",
        "LongRangeAdapter": "tadapt.adapters.losa",
        "ParameterReport": "tadapt.adapters.base",
        "PlainAdapter": "tadapt.adapters.plain",
        "ShortRangeAdapter": "tadapt.adapters.losa",
        "SideFactory": "tadapt.adapters.base",
        "TemporalInformativeAdapter": "tadapt.adapters.tia",
        "TemporalInformativeLadder": "tadapt.adapters.ladder",
        "TuningStrategy": "tadapt.adapters.base",
        "adapter_state_dict": "tadapt.adapters.base",
        "apply_strategy": "tadapt.adapters.strategies",
        "build_losa": "tadapt.adapters.losa",
        "build_side_network": "tadapt.adapters.strategies",
        "build_tia_ladder": "tadapt.adapters.ladder",
        "default_ladder_taps": "tadapt.adapters.ladder",
        "default_losa_taps": "tadapt.adapters.losa",
        "get_adapter_params": "tadapt.adapters.base",
        "get_strategy": "tadapt.adapters.strategies",
        "inject_lora": "tadapt.adapters.lora",
        "list_strategies": "tadapt.adapters.strategies",
        "load_adapter_state_dict": "tadapt.adapters.base",
        "load_strategy_state_dict": "tadapt.adapters.base",
        "mark_trainable": "tadapt.adapters.base",
        "merge_lora": "tadapt.adapters.lora",
        "register_strategy": "tadapt.adapters.strategies",
        "strategy_state_dict": "tadapt.adapters.base",
        "trainable_parameter_report": "tadapt.adapters.base",
    },
)
