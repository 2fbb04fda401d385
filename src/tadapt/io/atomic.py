"""Atomic file writes: a reader sees the old file or the new one, never half of one.

A writer killed mid-write (``kill -9``, a lost node) leaves its temporary file behind,
``.<name>.<8 random characters><suffix>`` beside the target; writers of targets that have a
single writer (checkpoints) pass ``clean_stale=True`` to remove those first, and
:func:`remove_stale_temporaries` removes them on demand (``tadapt train --resume``).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "remove_stale_temporaries", "stale_temporaries", "write_text_atomic"]

logger = logging.getLogger(__name__)

# tempfile.mkstemp's random part: 8 characters of "abcdefghijklmnopqrstuvwxyz0123456789_"
_RANDOM_PART = r"[a-z0-9_]{8}"


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, suffix: str = ".tmp", clean_stale: bool = False
) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` on success.

    On an exception (including KeyboardInterrupt) the temporary file is removed and ``path``
    is left as it was. The result is made readable by everyone (``mkstemp`` creates 0o600).

    Args:
        path: the final file.
        suffix: ending of the temporary name (e.g. ``".tmp.npy"`` for writers that need one).
        clean_stale: first remove the temporary files of ``path`` that a killed writer left
            (:func:`stale_temporaries`); only for a target no other process writes at the
            same time, whose temporary file it would remove.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if clean_stale:
        remove_stale_temporaries(path, suffix=suffix)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stale_temporaries(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> list[Path]:
    """The temporary files :func:`atomic_path` made for ``path`` that are still there.

    Only names of exactly its pattern, ``.<name>.<8 random characters><suffix>`` in the
    target's folder, are returned: nothing else is ever touched.
    """
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + _RANDOM_PART + re.escape(suffix))
    candidates = path.parent.glob(f".{glob.escape(path.name)}.*{glob.escape(suffix)}")
    return sorted(p for p in candidates if pattern.fullmatch(p.name) and p.is_file())


def remove_stale_temporaries(path: str | os.PathLike[str], *, suffix: str = ".tmp") -> list[Path]:
    """Remove the temporary files of ``path`` left by an interrupted write; returns them."""
    stale = stale_temporaries(path, suffix=suffix)
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    if stale:
        logger.info(
            "removed %d temporary file(s) of %s left by an interrupted write: %s",
            len(stale),
            path,
            ", ".join(p.name for p in stale),
        )
    return stale


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically, flushed to disk before the rename."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
