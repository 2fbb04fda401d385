"""Text files are UTF-8: a file in another encoding is an error that names it.

Python's own ``UnicodeDecodeError`` says ``'utf-8' codec can't decode byte 0xe9 in position
16`` without the file (and, for a file read in chunks, a position inside a chunk), so every
reader of a user's text file (annotations, predictions, configs, class and video lists) wraps
its reading in :func:`utf8_required`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["utf8_required"]


@contextlib.contextmanager
def utf8_required(
    path: str | os.PathLike[str], error: type[ValueError] = ValueError
) -> Iterator[None]:
    """Turn a ``UnicodeDecodeError`` raised inside the block into ``error`` naming ``path``.

    Args:
        path: the file the block reads.
        error: the exception class to raise (e.g. the reader's own error class).

    Raises:
        ValueError: ``error``: ``"<path>: not UTF-8 text (byte 0xe9); ..."``.
    """
    try:
        yield
    except UnicodeDecodeError as err:
        byte = err.object[err.start : err.start + 1].hex()
        raise error(
            f"{path}: not UTF-8 text (byte 0x{byte} is not valid UTF-8); tadapt reads text "
            "files as UTF-8: re-save the file as UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)"
        ) from None
