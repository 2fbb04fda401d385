"""One precision setting for backbone forward passes: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

``bf16`` runs under ``torch.autocast`` on CPU and CUDA; ``fp16`` only on CUDA (CPU fp16
kernels are slow or missing, and fp16 training needs a gradient scaler, which the training
engine owns). Weights stay in float32 in every case: autocast casts per operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, get_args

import torch

__all__ = ["Precision", "autocast_context", "precision_dtype"]

Precision = Literal["fp32", "bf16", "fp16"]

_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def precision_dtype(precision: str) -> torch.dtype:
    """The compute dtype of a precision name; ``ValueError`` for an unknown name."""
    if precision not in _DTYPES:
        raise ValueError(f"unknown precision {precision!r}; choose one of {get_args(Precision)}")
    return _DTYPES[precision]


@contextlib.contextmanager
def autocast_context(device: torch.device | str, precision: str) -> Iterator[None]:
    """Autocast for ``device`` at ``precision``; a no-op for ``"fp32"``.

    Args:
        device: where the forward pass runs (``"cpu"``, ``"cuda"``, ``torch.device``).
        precision: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    Raises:
        ValueError: for an unknown precision, fp16 on a CPU, or a device type without
            autocast support.
    """
    dtype = precision_dtype(precision)
    device_type = torch.device(device).type
    if dtype == torch.float32:
        yield
        return
    if dtype == torch.float16 and device_type == "cpu":
        raise ValueError("precision 'fp16' needs a CUDA device; use 'bf16' on the CPU")
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"no autocast support for device type {device_type!r}; use 'fp32'")
    with torch.autocast(device_type=device_type, dtype=dtype):
        yield
