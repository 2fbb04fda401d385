"""Experiment configuration: frozen dataclasses, YAML presets, dotted overrides, ``resolve()``.

Read only by :mod:`tadapt.cli`, which turns a config into objects and passes plain arguments to
their constructors; nothing below the command line imports this package.
"""

from tadapt.config.loading import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    list_presets,
    load_config,
    preset_path,
    save_config,
)
from tadapt.config.resolving import resolve
from tadapt.config.schema import (
    AdapterConfig,
    BackboneConfig,
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    FidelityConfig,
    HeadConfig,
    LoRAConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    PostProcessConfig,
    Precision,
    SyntheticDataConfig,
    SyntheticVideoDataConfig,
    TrainConfig,
)

__all__ = [
    "AdapterConfig",
    "BackboneConfig",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "FidelityConfig",
    "HeadConfig",
    "LoRAConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "PostProcessConfig",
    "Precision",
    "SyntheticDataConfig",
    "SyntheticVideoDataConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "list_presets",
    "load_config",
    "preset_path",
    "resolve",
    "save_config",
]
