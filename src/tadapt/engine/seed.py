"""Seeding and determinism switches.

:func:`seed_everything` seeds Python's ``random``, numpy's global generator and torch (CPU and
every CUDA device). The data order and augmentation do not depend on these global generators:
the datasets draw from per-item generators seeded by ``(seed, epoch, index)`` and the trainer
reseeds the shuffle every epoch, so a resumed run sees the same batches. The global generators
still drive dropout and stochastic depth; checkpoints save and restore their states
(:mod:`tadapt.engine.checkpoint`).
"""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch

__all__ = ["seed_everything", "set_deterministic"]

logger = logging.getLogger(__name__)

# cuBLAS needs a fixed workspace to be deterministic (CUDA >= 10.2), see the torch notes on
# reproducibility; ":4096:8" is the documented setting.
_CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int) -> None:
    """Seed ``random``, ``numpy`` and ``torch`` (all devices) with ``seed``.

    Raises:
        ValueError: ``seed`` is negative or does not fit in 64 bits.
    """
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy's legacy seeding takes 32 bits
    torch.manual_seed(seed)  # also seeds every CUDA device


def set_deterministic(enabled: bool) -> None:
    """Ask torch for deterministic kernels (or allow the fast non-deterministic ones again).

    With ``enabled``, cuDNN autotuning is off, cuDNN and cuBLAS use deterministic algorithms,
    and an operation without a deterministic implementation logs a warning instead of failing
    the run (``warn_only``). CPU training is deterministic for a fixed thread count either way.
    """
    if enabled and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = _CUBLAS_WORKSPACE
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
    if enabled:
        logger.info("deterministic algorithms on (slower on GPU)")
