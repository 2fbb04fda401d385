"""ActivityNet's blocked-video list, as OpenTAD reads it.

The official ActivityNet evaluator fetched a list of blocked videos (no longer downloadable)
from the challenge server and left them out of both the ground truth and the predictions;
OpenTAD keeps the list in a local ``blocked.json`` (a JSON list of video ids, passed as its
evaluator's ``blocked_videos``). :func:`load_blocked_videos` reads that file, or a text file
with one id per line (what OpenTAD's datasets accept as ``block_list``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tadapt.io.text import utf8_required

__all__ = ["load_blocked_videos"]


def load_blocked_videos(path: str | os.PathLike[str]) -> frozenset[str]:
    """The video ids of a blocked-video file.

    Args:
        path: a JSON list of video ids (OpenTAD's ``blocked.json``) or a text file with one
            id per line (blank lines ignored).

    Raises:
        ValueError: the file is not such a list; the message names the file.
        OSError: the file cannot be read.
    """
    path = Path(path)
    with utf8_required(path):
        text = path.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also a > 4300-digit integer
        if text.lstrip().startswith("["):
            # a broken JSON list (e.g. truncated) must not become a list of odd ids
            raise ValueError(
                f"{path}: starts like a JSON list of video ids but is not valid JSON; fix it, "
                "or write one id per line"
            ) from None
        # not JSON: one id per line
        return frozenset(line.strip() for line in text.splitlines() if line.strip())
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        raise ValueError(
            f"{path}: a blocked-video file must be a JSON list of video ids (as OpenTAD's "
            f"blocked.json) or one id per line; got JSON {type(data).__name__}"
            + (" with non-string items" if isinstance(data, list) else "")
        )
    return frozenset(data)
