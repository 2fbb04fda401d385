"""GPU memory budgets for the planner (``tadapt memory --gpu``): names, sizes, usable bytes.

A card's advertised "24 GB" / "80 GB" is, for NVIDIA's data-centre and consumer cards alike,
close to that many GiB as ``nvidia-smi`` reports the total (an RTX 4090 shows 24,564 MiB, an
A100-80GB 81,920 MiB, an H100 SXM 81,559 MiB), so a size in GB is read as GiB. What a training
process can use is less:

* the CUDA context (driver, kernels, cuBLAS / cuDNN handles) takes memory outside PyTorch's
  allocator: :data:`CUDA_CONTEXT_BYTES`, a typical figure for a recent driver and torch;
* the caching allocator rounds blocks and fragments: the planner keeps
  :data:`ALLOCATOR_MARGIN` of the rest free (``--margin``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ALLOCATOR_MARGIN",
    "CUDA_CONTEXT_BYTES",
    "GIB",
    "KNOWN_GPUS",
    "GpuBudget",
    "check_margin",
    "parse_gpu",
]

GIB = 2**30
CUDA_CONTEXT_BYTES = 600 * 2**20  # typical torch + CUDA 12 context; it varies by driver and card
ALLOCATOR_MARGIN = 0.10  # fraction of the rest kept free for allocator rounding / fragmentation

# name -> memory in GiB as nvidia-smi reports the total (approximate: it varies a little by
# board and driver)
KNOWN_GPUS: dict[str, float] = {
    "T4": 15.0,
    "V100-16GB": 15.8,
    "V100-32GB": 31.7,
    "RTX3090": 24.0,
    "RTX4090": 24.0,
    "A10": 22.5,
    "L4": 22.5,
    "A5000": 24.0,
    "A6000": 48.0,
    "L40S": 45.0,
    "A100-40GB": 40.0,
    "A100-80GB": 80.0,
    "H100-80GB": 79.6,
    "H200": 140.4,
}

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(GB|GIB|G)?$", re.IGNORECASE)


@dataclass(frozen=True)
class GpuBudget:
    """A card's memory and what a training process may plan to use of it.

    Attributes:
        name: the card (``24GB`` for a bare size).
        total_bytes: the card's memory.
        margin: fraction of ``total_bytes - CUDA_CONTEXT_BYTES`` kept free.
    """

    name: str
    total_bytes: int
    margin: float = ALLOCATOR_MARGIN

    @property
    def usable_bytes(self) -> int:
        """What tensors may take: the card less the CUDA context, less the margin."""
        return int((self.total_bytes - CUDA_CONTEXT_BYTES) * (1.0 - self.margin))


def check_margin(margin: float) -> None:
    """Refuse an allocator margin that is not a fraction in ``[0, 1)``."""
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"--margin: {margin} is not a fraction in [0, 1)")


def parse_gpu(text: str, margin: float = ALLOCATOR_MARGIN) -> GpuBudget:
    """A budget from a card name (``A100-80GB``, ``h100``) or a size (``24GB``, ``24``).

    Raises:
        ValueError: neither a known card nor a size; the message lists the known cards.
    """
    check_margin(margin)
    key = text.strip().upper().replace(" ", "").replace("_", "-")
    aliases = {"H100": "H100-80GB", "A100": "A100-80GB", "V100": "V100-32GB"}
    key = aliases.get(key, key)
    if key in KNOWN_GPUS:
        return GpuBudget(key, int(KNOWN_GPUS[key] * GIB), margin)
    match = _SIZE.match(key)
    if match is None:
        known = ", ".join(KNOWN_GPUS)
        raise ValueError(
            f"--gpu {text!r}: not a size (24GB, 80) nor a known card ({known}); "
            "give the card's memory in GB"
        )
    size = float(match.group(1))
    if size <= 0:
        raise ValueError(f"--gpu {text!r}: the size must be positive")
    return GpuBudget(f"{match.group(1)}GB", int(size * GIB), margin)
