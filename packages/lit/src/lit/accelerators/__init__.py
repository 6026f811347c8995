"""Accelerators (``lightning.pytorch.accelerators``)

Names are forwarded lazily from ``lit_strategies`` so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXTRA_NAMES = []


def __getattr__(name: str) -> Any:
    if name == "__all__":  # computed on demand so that ``from ... import *`` sees every forwarded name
        return __dir__()
    if name.startswith("__"):
        raise AttributeError(name)
    module = importlib.import_module("lit_strategies")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted(set(_EXTRA_NAMES) | set(getattr(importlib.import_module("lit_strategies"), "__all__", ())))
