"""Mixed precision from one setting: autocast dtype and, for fp16, a gradient scaler.

====== ===================================== ====================================
value  CPU                                   CUDA
====== ===================================== ====================================
fp32   no autocast                           no autocast
bf16   bf16 autocast                         bf16 autocast (needs bf16 support)
fp16   fp16 autocast + GradScaler (slow)     fp16 autocast + GradScaler
amp    bf16 autocast                         fp16 autocast + GradScaler
====== ===================================== ====================================

bf16 has fp32's exponent range, so its gradients need no scaling; fp16 gradients underflow
without it. Parameters, optimizer states and the EMA stay in fp32 in every mode.

fp16 on CPU is torch's CPU fp16 autocast with ``GradScaler("cpu")``: few CPUs compute fp16
fast, so it is there to check an fp16 run (its loss scaling, its skipped overflow steps) on a
machine without a GPU, not to train faster; ``amp`` picks bf16 on CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

__all__ = ["PrecisionPolicy", "resolve_precision"]

_VALUES = ("fp32", "bf16", "fp16", "amp")


@dataclass(frozen=True)
class PrecisionPolicy:
    """How forward passes run and whether losses are scaled.

    Attributes:
        name: the setting it came from.
        device_type: ``"cpu"`` or ``"cuda"``.
        dtype: the autocast dtype, or ``None`` for fp32.
        use_scaler: scale the loss (fp16).
    """

    name: str
    device_type: str
    dtype: torch.dtype | None
    use_scaler: bool

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Context for forward passes (a no-op in fp32)."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device_type, dtype=self.dtype):
            yield

    def make_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only when the policy scales losses."""
        return torch.amp.GradScaler(self.device_type, enabled=self.use_scaler)


def resolve_precision(precision: str, device: torch.device | str) -> PrecisionPolicy:
    """The policy of a precision setting on a device (table in the module docstring).

    Raises:
        ValueError: an unknown setting, or bf16 on a GPU without it.
    """
    device = torch.device(device)
    if precision not in _VALUES:
        raise ValueError(f"precision must be one of {', '.join(_VALUES)}, got {precision!r}")
    cuda = device.type == "cuda"
    if precision == "fp32":
        return PrecisionPolicy(precision, device.type, None, False)
    if precision == "fp16" or (precision == "amp" and cuda):
        return PrecisionPolicy(precision, device.type, torch.float16, True)
    if cuda and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{device} does not support bf16; use 'fp16' or 'amp'")
    return PrecisionPolicy(precision, device.type, torch.bfloat16, False)
