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
    mark_trainable,
    trainable_parameter_report,
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
    "ParameterReport",
    "PlainAdapter",
    "SideFactory",
    "TemporalInformativeAdapter",
    "TuningStrategy",
    "adapter_state_dict",
    "apply_strategy",
    "build_side_network",
    "get_adapter_params",
    "get_strategy",
    "list_strategies",
    "load_adapter_state_dict",
    "mark_trainable",
    "register_strategy",
    "trainable_parameter_report",
]
