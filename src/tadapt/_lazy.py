"""Package attributes imported on first use (PEP 562), so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(package: str, origins: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``origins[name]`` when first read.

    Args:
        package: the package's ``__name__``, for the error message.
        origins: attribute name -> the module that defines it.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 -- the PEP 562 hook's name
        if name not in origins:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(origins[name]), name)

    return __getattr__
