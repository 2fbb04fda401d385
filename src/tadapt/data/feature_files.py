"""Reading one ``(T, C)`` feature file (``.npy`` array or ``.pt`` tensor) as a numpy array.

Torch is imported only for ``.pt`` files, so ``tadapt check-data --features`` on ``.npy``
features runs without it.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from tadapt.data.files import DataError
from tadapt.io.pickled import refused_pickle_message

__all__ = ["FEATURE_EXTS", "feature_length", "read_feature_array"]

FEATURE_EXTS = (".npy", ".pt")
_NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file


def _npy_error(path: Path, exc: Exception) -> DataError:
    """Why numpy could not read ``path``, without numpy's advice to unpickle it."""
    with path.open("rb") as stream:
        is_npy = stream.read(len(_NPY_MAGIC)) == _NPY_MAGIC
    if not is_npy:
        return DataError(f"{path}: not a NumPy .npy file; write features with np.save")
    if "pickle" in str(exc):  # an object array: numpy would suggest unpickling it
        return DataError(
            f"{path}: holds Python objects, which tadapt will not unpickle for safety; save the "
            "features as a float array (np.save(path, features.astype(np.float32)))"
        )
    return DataError(f"{path}: cannot read features ({exc})")


def _check_ext(path: Path) -> None:
    if path.suffix.lower() not in FEATURE_EXTS:
        raise DataError(f"{path}: unsupported feature file type; use one of {FEATURE_EXTS}")


def _check_shape(path: Path, shape: tuple[int, ...]) -> None:
    if len(shape) != 2 or shape[0] < 1:
        raise DataError(f"{path}: features must be (T, C) with T >= 1, got {shape}")


def _read_pt(path: Path) -> np.ndarray:
    import torch  # only .pt files need it

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # not a ValueError: name the file here
        raise DataError(refused_pickle_message(path, exc)) from None
    if not isinstance(loaded, torch.Tensor):
        raise DataError(f"{path}: expected a tensor, found {type(loaded).__name__}")
    return loaded.detach().to(torch.float32).numpy()


def read_feature_array(path: str | os.PathLike[str]) -> np.ndarray:
    """A ``(T, C)`` feature file as a float32 array.

    Raises:
        DataError: unreadable file, not 2-D, or empty; the message names the file.
    """
    path = Path(path)
    _check_ext(path)
    try:
        if path.suffix.lower() == ".npy":
            feats: np.ndarray = np.load(path, allow_pickle=False)
        else:
            feats = _read_pt(path)
    except (OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, DataError):
            raise
        if path.suffix.lower() == ".npy":
            raise _npy_error(path, exc) from None
        raise DataError(f"{path}: cannot read features ({exc})") from exc
    _check_shape(path, tuple(feats.shape))
    return feats.astype(np.float32, copy=False)


def feature_length(path: str | os.PathLike[str]) -> int:
    """``T`` of a feature file (``.npy``: from the header, without reading the data)."""
    path = Path(path)
    _check_ext(path)
    if path.suffix.lower() != ".npy":
        return int(read_feature_array(path).shape[0])
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except (OSError, ValueError) as exc:
        raise _npy_error(path, exc) from None
    _check_shape(path, tuple(shape))
    return int(shape[0])
