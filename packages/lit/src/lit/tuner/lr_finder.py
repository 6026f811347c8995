"""The learning-rate finder's result type under Lightning's module path (``lightning.pytorch.tuner.lr_finder``)."""

from __future__ import annotations

from lit_callbacks import LRFinderResult

__all__ = ["LRFinderResult", "_LRFinder"]

#: Lightning's name for the result of ``Tuner.lr_find``.
_LRFinder = LRFinderResult
