"""Measuring memory: peak meters and the exact bytes of a training step, by part.

The peak meters serve `tadapt train --dry-run` and the benchmarks; :func:`count_saved_tensors`
and :func:`measure_training_step` give the saved activations, weights, gradients and
optimizer states of one step of any model; :mod:`tadapt.profiling.gpus` holds the GPU
budgets. Planning a config's memory (the model, ``tadapt memory``) is
:mod:`tadapt.planning` (``docs/memory.md``).
"""

from tadapt.profiling.gpus import GpuBudget, parse_gpu
from tadapt.profiling.peak_memory import (
    MALLOC_ENV,
    choose_method,
    cpu_model,
    memory_now,
    peak_meter,
    reset_peak_rss,
    status_mib,
)
from tadapt.profiling.saved_tensors import SavedTensorCounter, count_saved_tensors
from tadapt.profiling.step_memory import StepMemory, measure_training_step

__all__ = [
    "MALLOC_ENV",
    "GpuBudget",
    "SavedTensorCounter",
    "StepMemory",
    "choose_method",
    "count_saved_tensors",
    "cpu_model",
    "measure_training_step",
    "memory_now",
    "parse_gpu",
    "peak_meter",
    "reset_peak_rss",
    "status_mib",
]
