"""Checkpoints that resume exactly: atomic writes, RNG states, plain-data payloads.

A checkpoint is one ``torch.save`` file holding a dict of tensors and plain Python values only,
so :func:`load_checkpoint` reads it with ``weights_only=True`` (no arbitrary code runs when a
file is loaded). The trainer stores

* ``model``, ``ema``: state dicts (the EMA is ``None`` without one);
* ``optimizer``, ``scheduler``, ``scaler``: their state dicts;
* ``rng``: Python, numpy, torch CPU and CUDA generator states (:func:`capture_rng_state`);
* ``state``: epoch, step, step within the epoch, best metric so far;
* ``config``: the resolved configuration as nested dicts;
* ``version``: :data:`CHECKPOINT_VERSION`.

:func:`save_checkpoint` writes a temporary file in the same folder, flushes it to disk and
renames it over the target (:func:`os.replace` is atomic), so a crash mid-write leaves the
previous checkpoint intact; the temporary file such a crash leaves behind is removed by the
next write of the same checkpoint (checkpoints have one writer).
"""

from __future__ import annotations

import os
import pickle
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tadapt.io import atomic_path
from tadapt.io.checkpoint_files import CheckpointError, read_torch_file
from tadapt.io.pickled import refused_pickle_message

__all__ = [
    "CHECKPOINT_VERSION",
    "capture_rng_state",
    "load_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
]

CHECKPOINT_VERSION = 1

_FORMATS = "the torch.save checkpoints a tadapt run writes (last.pt, best.pt, adapters.pt)"
# checkpoints are written atomically, so a damaged one was damaged after tadapt wrote it
_DAMAGED = (
    "copy it again if it was copied or downloaded; a run's own damaged last.pt cannot be "
    "resumed: resume from another copy of it, or start the run again (a new output folder)"
)


def capture_rng_state() -> dict[str, Any]:
    """The states of Python's, numpy's and torch's (CPU and CUDA) global generators."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Restore generator states from :func:`capture_rng_state`.

    CUDA states are restored when this machine has as many devices as the saving one.
    """
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (
            npy["name"],
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` (plus ``version``) to ``path`` atomically.

    Raises:
        OSError: the folder cannot be written.
    """
    with atomic_path(path, clean_stale=True) as tmp, tmp.open("wb") as f:
        torch.save({**payload, "version": CHECKPOINT_VERSION}, f)
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: the file is missing, empty, truncated or corrupt, not a tadapt
            checkpoint, or of a newer version; one line naming the file and what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = read_torch_file(
            path, remedy=_DAMAGED, formats=_FORMATS, map_location=map_location
        )
    except pickle.UnpicklingError as err:  # a well-formed file holding other objects
        raise CheckpointError(refused_pickle_message(path, err, kind="tadapt checkpoint")) from None
    if not isinstance(payload, dict) or "model" not in payload or "version" not in payload:
        raise CheckpointError(
            f"{path}: not a tadapt checkpoint (expected 'model' and 'version'); give "
            "checkpoints/last.pt, best.pt or adapters.pt of a tadapt run"
        )
    if payload["version"] > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {payload['version']} is newer than this tadapt "
            f"({CHECKPOINT_VERSION}); upgrade tadapt"
        )
    return dict(payload)
