"""The Trainer (``lightning.pytorch.trainer``)."""

from __future__ import annotations

from typing import Any

__all__ = ["Trainer"]


def __getattr__(name: str) -> Any:
    if name == "Trainer":
        from lit.trainer.trainer import Trainer

        return Trainer
    raise AttributeError(f"module 'lit.trainer' has no attribute {name!r}")
