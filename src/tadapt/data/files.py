"""Finding a dataset's files in a folder, and the error that names a missing or unusable one.

Torch-free, so ``tadapt check-data`` and feature extraction can locate files without it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["VIDEO_EXTS", "DataError", "find_files", "missing_message"]

logger = logging.getLogger(__name__)

_SHOW_NAMES = 5  # names listed in a "missing files" message

VIDEO_EXTS: tuple[str, ...] = (".mp4", ".mkv", ".avi", ".webm")
"""The video extensions looked for by default, in order of preference (training and checks)."""


class DataError(ValueError):
    """A dataset file is missing or unusable; the message names the file and what to do."""


def _normalise_exts(exts: str | Sequence[str]) -> tuple[str, ...]:
    items = exts.split(",") if isinstance(exts, str) else list(exts)
    out = tuple(
        (e if e.startswith(".") else f".{e}").lower() for e in (x.strip() for x in items) if e
    )
    if not out:
        raise ValueError(f"no file extension given: {exts!r}")
    return out


def _candidates(video_id: str, prefix: str) -> list[str]:
    """File stems that may hold ``video_id``: as is, and with / without ActivityNet's ``v_``."""
    names = [prefix + video_id]
    if video_id.startswith("v_"):
        names.append(prefix + video_id[2:])
    else:
        names.append(prefix + "v_" + video_id)
    return names


def find_files(
    folder: str | os.PathLike[str],
    video_ids: Iterable[str],
    *,
    exts: str | Sequence[str] = (".mp4",),
    prefix: str = "",
) -> tuple[dict[str, Path], list[str]]:
    """Locate each video's file in ``folder`` (searched recursively, scanned once).

    A video ``vid`` matches a file named ``prefix + vid + ext`` for any ``ext`` in ``exts``
    (earlier extensions win; case-insensitive), or, failing that, the same name with
    ActivityNet's ``v_`` prefix added or removed (official ids lack it, downloaded files and
    the BSN annotations have it).

    Args:
        folder: the video or feature folder.
        video_ids: ids to look up.
        exts: extensions, e.g. ``(".mp4", ".mkv")`` or ``"mp4,avi"``.
        prefix: a file-name prefix before the id (ActionFormer's ``file_prefix``).

    Returns:
        ``(found, missing)``: id -> path for the ids found, and the ids not found, in order.

    Raises:
        DataError: ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory (expected the folder of videos / features)")
    order = _normalise_exts(exts)
    index: dict[str, tuple[int, Path]] = {}
    duplicates = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            stem, ext = os.path.splitext(name)
            if ext.lower() not in order:
                continue
            rank = order.index(ext.lower())
            previous = index.get(stem)
            if previous is not None and previous[0] == rank:
                duplicates += 1
                continue
            if previous is None or rank < previous[0]:
                index[stem] = (rank, Path(dirpath) / name)
    if duplicates:
        logger.warning(
            "%s: %d file names appear in several subfolders; the first (sorted) is used",
            root,
            duplicates,
        )
    found: dict[str, Path] = {}
    missing: list[str] = []
    for vid in video_ids:
        hit = next((index[s] for s in _candidates(vid, prefix) if s in index), None)
        if hit is None:
            missing.append(vid)
        else:
            found[vid] = hit[1]
    return found, missing


def missing_message(
    missing: Sequence[str], total: int, folder: Path, exts: str | Sequence[str]
) -> str:
    """``"3 of 10 videos have no file in DIR (extensions .mp4): a, b, c"``."""
    names = ", ".join(missing[:_SHOW_NAMES])
    more = f" and {len(missing) - _SHOW_NAMES} more" if len(missing) > _SHOW_NAMES else ""
    return (
        f"{len(missing)} of {total} videos have no file in {folder} "
        f"(extensions {', '.join(_normalise_exts(exts))}): {names}{more}"
    )
