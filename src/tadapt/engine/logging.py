"""Training metrics on disk: one JSON object per line, and TensorBoard when it is installed.

Every record :meth:`MetricsWriter.log` receives becomes one line of ``metrics.jsonl``, e.g.
``{"kind": "train", "epoch": 3, "step": 120, "loss": 0.41, "lr": 9.6e-05, "time": ...}``, so
``pandas.read_json(path, lines=True)`` or ``jq`` read a run's history. Only the main process
writes (the others get a writer that does nothing), and lines are flushed as they are written,
so a crashed run keeps its history.

TensorBoard (``pip install tensorboard``) gets every numeric field as a scalar
``<kind>/<field>`` at the record's ``step``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["MetricsWriter"]

logger = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    """JSON-safe: tensors and numpy scalars become numbers, NaN/inf become strings."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsWriter:
    """Appends metric records to a JSONL file and, optionally, to TensorBoard.

    Args:
        path: the JSONL file (appended to, so a resumed run continues its history).
        tensorboard_dir: TensorBoard log folder; ``None`` for none. Without the
            ``tensorboard`` package a warning is logged and only the JSONL is written.
        enabled: ``False`` makes every call a no-op (processes other than rank 0).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        tensorboard_dir: str | os.PathLike[str] | None = None,
        enabled: bool = True,
    ) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._file: IO[str] | None = None
        self._tensorboard: Any = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        if tensorboard_dir is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                logger.warning("TensorBoard is not installed (pip install tensorboard); skipped")
            else:
                self._tensorboard = SummaryWriter(log_dir=str(tensorboard_dir))

    def log(self, record: Mapping[str, Any]) -> None:
        """Write one record; it should carry ``kind`` (e.g. ``train``, ``eval``) and ``step``."""
        if self._file is None:
            return
        line = {key: _plain(value) for key, value in record.items()}
        line.setdefault("time", time.time())
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        if self._tensorboard is not None:
            kind, step = line.get("kind", "metrics"), line.get("step", 0)
            for key, value in line.items():
                if key not in ("kind", "step", "time") and isinstance(value, int | float):
                    self._tensorboard.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        """Close the file and the TensorBoard writer."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None

    def __enter__(self) -> MetricsWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
