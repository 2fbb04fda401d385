"""Planning a config's training memory: measured, modelled, and against a GPU budget.

Like the CLI, this layer reads experiment configs and builds the detector ``tadapt train``
builds. :func:`measure_step` measures a config's step on its real detector (random weights,
optionally fewer blocks); :func:`predict_step_memory` predicts it from the config alone;
:func:`plan_memory` takes one device's share, the LoFi levels and a budget, and
:func:`find_fits` the nearest settings that fit (``tadapt memory``, ``docs/memory.md``).
"""

from tadapt.planning.config_step import (
    Attention,
    RandomStep,
    TrainingShape,
    measure_step,
    random_training_step,
)
from tadapt.planning.fit_search import Change, Fit, candidate_changes, find_fits
from tadapt.planning.memory_model import (
    BackboneShape,
    MemoryEstimate,
    backbone_shape,
    predict_step_memory,
    scale_measurement,
)
from tadapt.planning.planner import LevelPeak, MemoryPlan, plan_memory, predict_parts

__all__ = [
    "Attention",
    "BackboneShape",
    "Change",
    "Fit",
    "LevelPeak",
    "MemoryEstimate",
    "MemoryPlan",
    "RandomStep",
    "TrainingShape",
    "backbone_shape",
    "candidate_changes",
    "find_fits",
    "measure_step",
    "plan_memory",
    "predict_parts",
    "predict_step_memory",
    "random_training_step",
    "scale_measurement",
]
