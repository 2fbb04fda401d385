"""Peak memory of this process (the benchmarks' fresh-process probes, `tadapt train --dry-run`).

Run a probe with ``MALLOC_ENV`` in its environment (``MALLOC_MMAP_THRESHOLD_`` low, so that
freed tensors go back to the OS); then ``reset_peak_rss()`` before the measured work and
``status_mib("VmHWM") - before`` after it is the work's peak (Linux). :func:`peak_meter`
does that, or its GPU and profiler equivalents, around a block; :func:`cpu_model` names the
machine in the reports.
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Iterator

import torch

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def status_mib(field: str) -> float:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 2**10


def reset_peak_rss() -> None:
    """Reset ``VmHWM`` (the resident-set high-water mark) to ``VmRSS``.

    Raises:
        OSError: ``/proc/self/clear_refs`` cannot be written (not Linux, or not permitted).
    """
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def choose_method(device: torch.device) -> str:
    """``cuda`` on a GPU; ``rss`` where the high-water mark can be reset; else ``profiler``."""
    if device.type == "cuda":
        return "cuda"
    try:
        reset_peak_rss()
    except OSError:
        return "profiler"
    return "rss"


@contextlib.contextmanager
def peak_meter(method: str, device: torch.device) -> Iterator[list[float]]:
    """Measure the block's peak memory over the memory before it; the MiB land in the list.

    Args:
        method: ``rss`` (``VmHWM`` over ``VmRSS``), ``cuda`` (``max_memory_allocated`` over
            ``memory_allocated``) or ``profiler`` (the peak of live tensor bytes in
            ``torch.profiler``'s allocation records: tensors only).
        device: the device the block computes on.
    """
    found: list[float] = []
    if method == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        yield found
        torch.cuda.synchronize(device)
        found.append((torch.cuda.max_memory_allocated(device) - before) / 2**20)
    elif method == "rss":
        reset_peak_rss()
        before_mib = status_mib("VmRSS")
        yield found
        found.append(status_mib("VmHWM") - before_mib)
    else:
        activities = [torch.profiler.ProfilerActivity.CPU]
        with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
            yield found
        # every allocation (+) and free (-) in time order; the running sum's maximum is the
        # peak of live tensor bytes over those alive before the block
        records = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        live = peak = 0
        for record in sorted(records, key=lambda e: e.start_ns()):
            live += record.nbytes()
            peak = max(peak, live)
        found.append(peak / 2**20)


def memory_now(method: str, device: torch.device) -> float:
    """The memory held now in MiB: allocated on the GPU (``cuda``), else ``VmRSS``."""
    if method == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    return status_mib("VmRSS")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform.processor()``)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"
