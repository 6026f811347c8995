"""Plugins (``lightning.pytorch.plugins``): precision, checkpoint IO, environments

Names are forwarded lazily from ``lit_precision`` (then ``lit_strategies``) so importing this module stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXTRA_NAMES = ["DoublePrecision", "HalfPrecision", "MixedPrecision", "Precision"]


def __getattr__(name: str) -> Any:
    if name == "__all__":  # computed on demand so that ``from ... import *`` sees every forwarded name
        return __dir__()
    if name.startswith("__"):
        raise AttributeError(name)
    for target in ("lit_precision", "lit_strategies"):
        module = importlib.import_module(target)
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    names = set(_EXTRA_NAMES) | set(getattr(importlib.import_module("lit_precision"), "__all__", ()))
    for name in ("CheckpointIO", "TorchCheckpointIO", "AsyncCheckpointIO", "LayerSync", "TorchSyncBatchNorm"):
        names.add(name)
    return sorted(names)
