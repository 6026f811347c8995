"""Demo models and data (``lightning.pytorch.demos``)."""

from __future__ import annotations

__all__: list[str] = []
