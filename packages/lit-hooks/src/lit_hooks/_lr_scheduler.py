"""The learning-rate scheduler configuration shared by loops (which build and step it) and callbacks (which read
or replace it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LRSchedulerConfig"]


@dataclass
class LRSchedulerConfig:
    """How and when a learning-rate scheduler steps (Lightning's ``LRSchedulerConfig``).

    Args:
        scheduler: The scheduler (a ``torch.optim.lr_scheduler`` object or ``ReduceLROnPlateau``).
        name: Name used by ``LearningRateMonitor`` (``lr-<OptimizerClass>`` when ``None``).
        interval: ``"epoch"`` or ``"step"``.
        frequency: Step every ``frequency`` intervals.
        reduce_on_plateau: Whether the scheduler takes a metric (``ReduceLROnPlateau``).
        monitor: The ``callback_metrics`` key passed to a plateau scheduler.
        strict: Raise when ``monitor`` is missing (otherwise warn and skip the step).
    """

    scheduler: Any
    name: str | None = None
    interval: str = "epoch"
    frequency: int = 1
    reduce_on_plateau: bool = False
    monitor: str | None = None
    strict: bool = True
