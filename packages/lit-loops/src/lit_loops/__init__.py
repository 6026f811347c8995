"""lit-loops: the training loops of lit, usable on their own.

Two ways to use it without any Trainer:

* the event-driven :class:`Loop` for hand-written training code (events with ``every=``/``once=`` filters,
  progress counters that can be saved and restored);
* the standard loops (:func:`fit`, :func:`validate`, :func:`test`, :func:`predict`, or a :class:`LoopRunner`)
  that run a :class:`LightningModule` over dataloaders with callbacks, exactly as lit's ``Trainer`` does.
"""

from __future__ import annotations

from lit_loops._config import LoopConfig
from lit_loops._data import DataSource, Fetcher
from lit_loops._dispatch import HookDispatcher, is_overridden, reorder_callbacks
from lit_loops._event_loop import Event, FilteredEvent, Loop, LoopState
from lit_loops._loops import EvaluationLoop, FitLoop, PredictionLoop, TrainingEpochLoop, print_results
from lit_loops._module import DeviceDtypeModuleMixin, LightningModule, check_removed_hooks
from lit_loops._optim import (
    LightningOptimizer,
    LRSchedulerConfig,
    MockOptimizer,
    init_optimizers_and_lr_schedulers,
    parse_optimizer_config,
)
from lit_loops._optimization import Optimization
from lit_loops._results import FxValidator, ResultCollection, ResultMetric, extract_batch_size
from lit_loops._runner import LoopRunner, TrainerView, fit, predict, test, validate
from lit_loops._strategy import LocalStrategy, no_backward_sync

__all__ = [
    "DataSource",
    "DeviceDtypeModuleMixin",
    "EvaluationLoop",
    "Event",
    "Fetcher",
    "FilteredEvent",
    "FitLoop",
    "FxValidator",
    "HookDispatcher",
    "LRSchedulerConfig",
    "LightningModule",
    "LightningOptimizer",
    "LocalStrategy",
    "Loop",
    "LoopConfig",
    "LoopRunner",
    "LoopState",
    "MockOptimizer",
    "Optimization",
    "PredictionLoop",
    "ResultCollection",
    "ResultMetric",
    "TrainerView",
    "TrainingEpochLoop",
    "check_removed_hooks",
    "extract_batch_size",
    "fit",
    "init_optimizers_and_lr_schedulers",
    "is_overridden",
    "no_backward_sync",
    "parse_optimizer_config",
    "predict",
    "print_results",
    "reorder_callbacks",
    "test",
    "validate",
]
