"""Measuring memory: the peak meters `tadapt train --dry-run` and the benchmarks share."""

from tadapt.profiling.peak_memory import (
    MALLOC_ENV,
    choose_method,
    cpu_model,
    memory_now,
    peak_meter,
    reset_peak_rss,
    status_mib,
)

__all__ = [
    "MALLOC_ENV",
    "choose_method",
    "cpu_model",
    "memory_now",
    "peak_meter",
    "reset_peak_rss",
    "status_mib",
]
