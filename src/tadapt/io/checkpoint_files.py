"""Reading checkpoint files, with a damaged or foreign file as one line that says what to do.

``torch.load`` reports a truncated or corrupt file with whatever its parser hit first
(``RuntimeError: PytorchStreamReader failed reading zip archive``, ``EOFError``, ``OSError``,
``KeyError``, ``UnicodeDecodeError``, ...), and safetensors with a ``SafetensorError``.
:func:`read_torch_file` and :func:`read_safetensors_file` turn every such failure into a
:class:`CheckpointError` naming the file, what is wrong with it (empty, truncated or corrupt,
not a checkpoint at all) and the remedy the caller gives. Backbone weights
(:mod:`tadapt.backbones.checkpoint`) and training checkpoints (:mod:`tadapt.engine.checkpoint`)
both read through here.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CHECKPOINT_FORMATS",
    "CheckpointError",
    "load_error_reason",
    "read_safetensors_file",
    "read_torch_file",
]

CHECKPOINT_FORMATS = (
    "torch.save files (.pt, .pth, .bin), .safetensors files and Hugging Face model folders"
)

# the first bytes of a torch.save file: a zip archive (torch >= 1.6) or a protocol-2 pickle
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80\x02")
_REASON_CHARS = 160
# c10's prefix to a failed check, e.g. "[enforce fail at inline_container.cc:180] . "
_ENFORCE = re.compile(r"^\[enforce fail at [^\]]*\]\s*\.?\s*")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


def load_error_reason(err: BaseException) -> str:
    """The informative part of a loader's message, on one line (its advice does not apply)."""
    lines = str(err).strip().splitlines()
    for line in lines:  # weights_only refusals put the cause on a later line
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].strip().split(". ")[0]
    first = _ENFORCE.sub("", lines[0]).split(". ")[0].rstrip(".") if lines else ""
    if not first or first.isdigit():  # EOFError(), KeyError(101): the type says more
        return f"{type(err).__name__}{f' {first}' if first else ''}"
    return first if len(first) <= _REASON_CHARS else f"{first[:_REASON_CHARS]}..."


def _damaged(
    path: Path, err: BaseException, *, known_format: bool, remedy: str, formats: str
) -> CheckpointError:
    if path.stat().st_size == 0:
        return CheckpointError(f"{path}: the file is empty (0 bytes); {remedy}")
    if not known_format:  # the loader's complaint about foreign bytes would only confuse
        return CheckpointError(f"{path}: not a checkpoint file; tadapt reads {formats}")
    return CheckpointError(
        f"{path}: the file is truncated or corrupt ({load_error_reason(err)}); {remedy}"
    )


def _looks_like_torch_save(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(4).startswith(_TORCH_MAGIC)


def read_torch_file(
    path: Path,
    *,
    remedy: str,
    formats: str = CHECKPOINT_FORMATS,
    map_location: str | torch.device = "cpu",
    safe_globals: Iterable[Any] = (),
) -> Any:
    """``torch.load(path, weights_only=True)``, a damaged file reported in one line.

    Args:
        path: the file.
        remedy: what the user can do about a damaged file (e.g. "download it again").
        formats: the files this caller reads, named when ``path`` is none of them.
        map_location: where tensors go.
        safe_globals: classes the file may hold besides tensors and plain data.

    Raises:
        CheckpointError: the file is empty, truncated or corrupt, or not a ``torch.save``
            file; the message names the file.
        pickle.UnpicklingError: a well-formed ``torch.save`` file holding objects that
            ``weights_only=True`` refuses (the caller knows what to suggest).
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _looks_like_torch_save(path):
            raise
        raise _damaged(path, err, known_format=False, remedy=remedy, formats=formats) from err
    except Exception as err:  # damaged bytes surface as any of a dozen exception types
        known = _looks_like_torch_save(path)
        raise _damaged(path, err, known_format=known, remedy=remedy, formats=formats) from err


def read_safetensors_file(path: Path, *, remedy: str) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (on the CPU), a damaged file reported in one line.

    Raises:
        CheckpointError: ``safetensors`` is not installed, or the file is empty, truncated or
            corrupt; the message names the file.
    """
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError as exc:  # the `hf` extra
        raise CheckpointError(f"{path}: reading .safetensors needs `safetensors`") from exc
    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as err:
        raise _damaged(
            path, err, known_format=True, remedy=remedy, formats=CHECKPOINT_FORMATS
        ) from err
