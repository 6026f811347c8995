"""Type aliases (``lightning.pytorch.utilities.types``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from lit_loops import LRSchedulerConfig

STEP_OUTPUT = Tensor | Mapping[str, Any] | None
EVAL_DATALOADERS = Any
TRAIN_DATALOADERS = Any
OptimizerLRScheduler = Any

__all__ = [
    "EVAL_DATALOADERS",
    "STEP_OUTPUT",
    "TRAIN_DATALOADERS",
    "LRSchedulerConfig",
    "OptimizerLRScheduler",
]
