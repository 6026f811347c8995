"""``LightningOptimizer`` and ``LRSchedulerConfig`` (``lightning.pytorch.core.optimizer``)."""

from __future__ import annotations

from lit_loops import LightningOptimizer, LRSchedulerConfig

__all__ = ["LRSchedulerConfig", "LightningOptimizer"]
