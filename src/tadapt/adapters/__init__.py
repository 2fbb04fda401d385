"""Tuning strategies and adapters: how a video backbone is adapted to temporal detection.

``apply_strategy(backbone, "tia")`` inserts AdaTAD's temporal-informative adapters and freezes
everything else; ``tadapt list strategies`` shows the registered names.
"""

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
from tadapt.adapters.ladder import TemporalInformativeLadder, build_tia_ladder, default_ladder_taps
from tadapt.adapters.lora import LoRALinear, inject_lora, merge_lora
from tadapt.adapters.losa import (
    LongRangeAdapter,
    LoSA,
    LoSAOptions,
    ShortRangeAdapter,
    build_losa,
    default_losa_taps,
)
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
