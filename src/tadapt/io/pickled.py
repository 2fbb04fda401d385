"""One-line messages for PyTorch files that ``torch.load(weights_only=True)`` refuses.

Every ``.pth`` / ``.pt`` tadapt reads (backbone weights, its own checkpoints, ``.pt``
features) goes through the weights-only reader, which runs no code from the file. When it
refuses a file, torch's message is several lines with terminal colour codes and advises
loading with the unsafe reader, which would run whatever the file holds. These messages
name the file, say why it was refused, and suggest only safe ways out.
"""

from __future__ import annotations

import os
import re

__all__ = ["refused_pickle_message"]

# "WeightsUnpickler error: Unsupported global: GLOBAL __main__.Foo was not ..." (torch 2.x)
_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_REASON = re.compile(r"WeightsUnpickler error:\s*([^\n]+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# a refusal that names Python code to call: the file holds objects beyond tensors
_OBJECTS = ("global", "reduce", "class", "build")


def refused_pickle_message(
    path: str | os.PathLike[str], error: Exception, *, kind: str = "PyTorch file"
) -> str:
    """What to tell a user whose file the weights-only reader refused.

    Args:
        path: the file.
        error: the ``pickle.UnpicklingError`` torch raised.
        kind: what the file should have been, for a stream that is no pickle at all.

    Returns:
        One line without colour codes: the file, what it holds (a Python object tadapt will
        not unpickle, or an unreadable stream), and the safe ways to re-save it.
    """
    text = _ANSI.sub("", str(error))
    reason = _REASON.search(text)
    detail = reason.group(1).strip() if reason else ""
    found = _GLOBAL.search(detail)
    if found or any(word in detail.lower() for word in _OBJECTS):
        what = f" ({found.group(1)})" if found else ""
        return (
            f"{path}: holds Python objects{what} besides tensors, which tadapt will not "
            "unpickle for safety (unpickling can run code); in an environment you trust, "
            "re-save just its state dict (a dict of tensors) with torch.save, or save it in "
            "the safetensors format"
        )
    # torch's own wording may advise the unsafe reader: never passed on
    why = f" ({detail.rstrip('.')})" if detail and "weights_only" not in detail else ""
    return (
        f"{path}: not a readable {kind}{why}; check that it is complete and was written by "
        "torch.save"
    )
