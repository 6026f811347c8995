"""The tuner (``lightning.pytorch.tuner``); not provided yet by lit."""

from __future__ import annotations

from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    raise AttributeError(f"`lit.tuner.{name}` is not available in this version of lit.")
