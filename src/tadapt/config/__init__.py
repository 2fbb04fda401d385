"""Experiment configuration: frozen dataclasses, YAML presets, dotted overrides, ``resolve()``.

Read only by :mod:`tadapt.cli`, which turns a config into objects and passes plain arguments to
their constructors; nothing below the command line imports this package.

``resolve`` is imported on first use: it checks names against the strategy registry and the
augmentations, which import torch, while loading and listing presets need none.
"""

from typing import TYPE_CHECKING

from tadapt._lazy import lazy_attributes
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
from tadapt.config.paths import PATH_KEYS, check_paths
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

if TYPE_CHECKING:
    from tadapt.config.resolving import resolve

__all__ = [
    "PATH_KEYS",
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
    "check_paths",
    "config_from_dict",
    "config_to_dict",
    "list_presets",
    "load_config",
    "preset_path",
    "resolve",
    "save_config",
]

__getattr__ = lazy_attributes(__name__, {"resolve": "tadapt.config.resolving"})
