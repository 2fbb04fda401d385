"""On-disk cache of decoded, resized video frames, shared by epochs and data-loader workers.

Decoding dominates the cost of end-to-end TAL data loading (hundreds of frames per sample,
many epochs). :class:`FrameCache` decodes a whole video once at a given short side, in one
sequential pass, into a ``.npy`` array ``(N, H, W, 3)`` uint8 beside a small JSON file
(the key fields and the :class:`~tadapt.io.video.VideoInfo`), and hands it out memory-mapped:
later reads are page-cache copies, not decodes, and readers never open the video again.

**Key and invalidation.** An entry is named ``<source>-<version>``: ``source`` hashes the
video's absolute real path, the short side and the cache format version (:data:`FORMAT_VERSION`);
``version`` hashes the file's size and mtime (ns). Rewriting the video changes ``version``, so
the next lookup decodes it again and removes the stale entry of the same source; a different
short side is a different entry, and both are kept.

**Concurrency.** A fill holds an exclusive ``fcntl.flock`` on the entry's lock file, writes the
array to a temporary file and ``os.replace``-s it into place before writing the JSON (also
atomically); a lookup that finds no valid entry takes the lock and checks again, so two workers
racing on a video decode it once and both get the same array. Entries are only ever replaced
whole, so a reader sees the old entry or the new one. Linux/macOS only (``fcntl``).

Disk use is ``N * H * W * 3`` bytes per video: 5 min at 30 fps and 240x320 is 2.1 GB, so pick
the short side the model needs (e.g. 160 px for THUMOS-14 at 768 frames in AdaTAD).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tadapt.io.atomic import atomic_path, write_text_atomic
from tadapt.io.decoder import VideoDecoder, VideoError, VideoInfo, stat_video

__all__ = ["FORMAT_VERSION", "FrameCache"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bump when the stored frames would change for the same file and settings (e.g. a different
resize filter); old entries are then never matched."""

_ENTRY = re.compile(r"^\.?[0-9a-f]{16}-[0-9a-f]{16}\.")  # every file the cache writes


def _digest(*fields: object) -> str:
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if missing)."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _info_to_json(info: VideoInfo) -> dict[str, Any]:
    data = asdict(info)
    data["time_base"] = str(info.time_base)
    return data


def _info_from_json(data: dict[str, Any]) -> VideoInfo:
    return VideoInfo(**{**data, "time_base": Fraction(data["time_base"])})


class FrameCache:
    """Decoded frames of whole videos, stored once under ``root`` and memory-mapped on use.

    Args:
        root: folder for the entries (created on first fill); share it between workers.

    Attributes:
        root: the cache folder.
        num_fills: videos this instance decoded into the cache (the rest were found there).

    Example:
        >>> cache = FrameCache("~/.cache/tadapt/frames")  # doctest: +SKIP
        >>> reader = VideoReader("video.mp4", short_side=160, cache=cache)  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.num_fills = 0

    def frames(self, path: str | os.PathLike[str], short_side: int | None) -> np.ndarray:
        """All frames of ``path`` at ``short_side``, decoding them into the cache if needed.

        Returns:
            read-only memory map ``(N, H, W, 3)`` uint8, the frames
            :class:`~tadapt.io.video.VideoReader` would return (resized, rotated upright).

        Raises:
            VideoError: the video is missing or cannot be decoded completely.
        """
        return self.load(path, short_side)[0]

    def load(
        self, path: str | os.PathLike[str], short_side: int | None
    ) -> tuple[np.ndarray, VideoInfo]:
        """Like :meth:`frames`, also returning the video's :class:`VideoInfo` (no re-probe)."""
        path = os.fspath(path)
        key = self._key(path, short_side)
        name = f"{_digest(key['source'], key['short_side'], FORMAT_VERSION)}-{_digest(key)}"
        entry = self._open(name, key, path)
        if entry is not None:
            return entry
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / f"{name}.lock"):
            entry = self._open(name, key, path)  # another worker may have filled it meanwhile
            if entry is None:
                self._fill(name, key, path, short_side)
                self.num_fills += 1
                self._remove_stale(name)
                entry = self._open(name, key, path)
        if entry is None:  # only if someone deleted the entry between fill and open
            raise VideoError(path, f"frame cache entry {name} vanished under {self.root}")
        return entry

    def clear(self) -> int:
        """Delete every cache file under ``root`` (not while other processes fill it).

        Returns:
            the number of files removed.
        """
        removed = 0
        if self.root.is_dir():
            for file in self.root.iterdir():
                if _ENTRY.match(file.name) and file.is_file():
                    file.unlink(missing_ok=True)
                    removed += 1
        return removed

    def __repr__(self) -> str:
        return f"FrameCache({str(self.root)!r})"

    # ---------------------------------------------------------------- internals

    @staticmethod
    def _key(path: str, short_side: int | None) -> dict[str, Any]:
        """What an entry must match: the file's identity and version, and decode settings."""
        st = stat_video(path)
        return {
            "source": os.path.realpath(path),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "short_side": short_side,
            "format_version": FORMAT_VERSION,
        }

    def _open(
        self, name: str, key: dict[str, Any], path: str
    ) -> tuple[np.ndarray, VideoInfo] | None:
        """The entry ``name`` if it exists, matches ``key`` and is intact; else ``None``."""
        meta_file, array_file = self.root / f"{name}.json", self.root / f"{name}.npy"
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            if meta.get("key") != key:
                return None
            frames = np.load(array_file, mmap_mode="r")
            info = _info_from_json(meta["info"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as err:  # damaged: refill it
            logger.warning("frame cache entry %s is damaged (%s); decoding again", name, err)
            return None
        if frames.shape != tuple(meta["shape"]) or frames.dtype != np.uint8:
            logger.warning("frame cache entry %s has the wrong shape; decoding again", name)
            return None
        return frames, replace(info, path=path)

    def _fill(self, name: str, key: dict[str, Any], path: str, short_side: int | None) -> None:
        """Decode ``path`` into the entry ``name`` (the caller holds its lock)."""
        start = time.perf_counter()
        with VideoDecoder(path, short_side=short_side) as reader:
            shape = (reader.info.num_frames, *reader.output_size, 3)
            # the memmap writer needs a name ending in .npy; readable by all (shared caches)
            with atomic_path(self.root / f"{name}.npy", suffix=".tmp.npy") as tmp:
                array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                for i, frame in enumerate(reader.iter_frames()):
                    array[i] = frame
                array.flush()
                del array
            meta = {"key": key, "shape": list(shape), "info": _info_to_json(reader.info)}
        write_text_atomic(self.root / f"{name}.json", json.dumps(meta, indent=1) + "\n")
        logger.info(
            "cached %d frames of %s at %s in %.1f s (%.0f MB)",
            shape[0],
            path,
            "x".join(map(str, shape[1:3])),
            time.perf_counter() - start,
            np.prod(shape) / 1e6,
        )

    def _remove_stale(self, name: str) -> None:
        """Delete other versions of the entry ``name`` (same source and settings).

        Their lock files stay (a few bytes each): another worker may hold one, and a lock
        file deleted under it would let a third process lock a fresh file of the same name.
        """
        source = name.split("-")[0]
        for file in self.root.glob(f"{source}-*"):
            if file.suffix in (".npy", ".json") and not file.name.startswith(f"{name}."):
                file.unlink(missing_ok=True)
                logger.debug("removed stale frame cache file %s", file)
