"""Measuring memory: peak meters and the exact bytes of a training step, by part.

The peak meters serve `tadapt train --dry-run` and the benchmarks; :func:`count_saved_tensors`
and :func:`measure_training_step` give the saved activations, weights, gradients and
optimizer states of one step; :func:`measure_step` measures a config's step on its real
detector (random weights, optionally fewer blocks) and :func:`predict_step_memory` predicts
it from the config alone (``docs/memory.md``).
"""

from tadapt.profiling.config_step import (
    Attention,
    RandomStep,
    TrainingShape,
    measure_step,
    random_training_step,
)
from tadapt.profiling.memory_model import (
    BackboneShape,
    MemoryEstimate,
    backbone_shape,
    predict_step_memory,
    scale_measurement,
)
from tadapt.profiling.peak_memory import (
    MALLOC_ENV,
    choose_method,
    cpu_model,
    memory_now,
    peak_meter,
    reset_peak_rss,
    status_mib,
)
from tadapt.profiling.planner import LevelPeak, MemoryPlan, plan_memory
from tadapt.profiling.saved_tensors import SavedTensorCounter, count_saved_tensors
from tadapt.profiling.step_memory import StepMemory, measure_training_step

__all__ = [
    "MALLOC_ENV",
    "Attention",
    "BackboneShape",
    "LevelPeak",
    "MemoryEstimate",
    "MemoryPlan",
    "RandomStep",
    "SavedTensorCounter",
    "StepMemory",
    "TrainingShape",
    "backbone_shape",
    "choose_method",
    "count_saved_tensors",
    "cpu_model",
    "measure_step",
    "measure_training_step",
    "memory_now",
    "peak_meter",
    "plan_memory",
    "predict_step_memory",
    "random_training_step",
    "reset_peak_rss",
    "scale_measurement",
    "status_mib",
]
