"""Peak resident memory of this process (Linux), for the benchmarks' fresh-process probes.

Run a probe with ``MALLOC_MMAP_THRESHOLD_`` set (e.g. 65536) so that freed tensors go back to
the OS; then ``reset_peak_rss()`` before the measured work and ``status_mib("VmHWM") -
before`` after it is the work's peak.
"""

from __future__ import annotations


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
