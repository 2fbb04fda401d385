"""The real annotation files and clips that tests read; they ship in ``tests/data/``.

The large JSON/CSV files are stored gzip-compressed (``<name>.gz``). On first use, each data
folder is copied once per test process into a temporary folder with its ``.gz`` files
decompressed, so every file keeps its siblings (the BSN ActivityNet file is read with
``video_info_new.csv`` and ``action_name.csv`` beside it, OpenTAD's with ``category_idx.txt``)
and tests read the files exactly as their authors publish them. ``tests/data/README.md`` gives
each file's origin and licence; ``tests/data/SHA256SUMS`` the checksums of the published files.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import shutil
import tempfile
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_FOLDERS = ("activitynet", "multithumos", "thumos14", "videos")
_RESTORE = "it ships with the repository: restore it with `git checkout -- tests/data`"


@functools.cache
def real_data_root() -> Path:
    """The folder holding every data folder, decompressed; built once per process."""
    missing = [name for name in DATA_FOLDERS if not (DATA_DIR / name).is_dir()]
    if missing:
        pytest.fail(f"real data folders missing in {DATA_DIR}: {', '.join(missing)}; {_RESTORE}")
    root = Path(tempfile.mkdtemp(prefix="tadapt-real-data-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for name in DATA_FOLDERS:
        (root / name).mkdir()
        for source in sorted((DATA_DIR / name).iterdir()):
            if source.suffix == ".gz":
                with gzip.open(source) as packed, (root / name / source.stem).open("wb") as out:
                    shutil.copyfileobj(packed, out)
            else:
                shutil.copyfile(source, root / name / source.name)
    return root


def real_file(relative: str) -> Path:
    """The path of a real data file, e.g. ``"thumos14/thumos14_actionformer.json"``.

    Fails the test loudly (never skips) when the repository lacks the file, compressed or not.
    """
    shipped = DATA_DIR / relative
    if not (shipped.is_file() or shipped.with_name(shipped.name + ".gz").is_file()):
        pytest.fail(f"real data file missing: {shipped} (nor {shipped.name}.gz); {_RESTORE}")
    return real_data_root() / relative
