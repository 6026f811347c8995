"""The public API of `lit_loops` is pinned: changing it must be deliberate (update this list)."""

from __future__ import annotations

import lit_loops

EXPECTED = [
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


def test_public_api_is_pinned() -> None:
    assert sorted(lit_loops.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in EXPECTED:
        assert getattr(lit_loops, name) is not None, name
