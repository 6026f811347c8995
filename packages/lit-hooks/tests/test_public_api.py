"""Snapshot of the public surface: changing it must be a deliberate edit of these lists."""

from __future__ import annotations

import lit_hooks
import lit_hooks.testing

LIT_HOOKS_API = [
    "AcceleratorProtocol",
    "AttributeDict",
    "BackwardSyncControl",
    "BaseProgress",
    "BatchProgress",
    "CALLBACK_HOOK_NAMES",
    "CHECKPOINT_HOOK_NAMES",
    "Callback",
    "CheckpointHooks",
    "CheckpointIOProtocol",
    "ClusterEnvironmentProtocol",
    "DATA_HOOK_NAMES",
    "DataHooks",
    "DataPositionProtocol",
    "ExitGracefullyException",
    "GradClipAlgorithmType",
    "HyperparametersMixin",
    "LRSchedulerConfig",
    "LauncherProtocol",
    "LightningDeprecationWarning",
    "LightningEnum",
    "LitError",
    "LoggerProtocol",
    "MODEL_HOOK_NAMES",
    "MisconfigurationError",
    "MisconfigurationException",
    "MissingExtraError",
    "ModelHooks",
    "ModuleProtocol",
    "OptimizationProgress",
    "OptimizerProgress",
    "PossibleUserWarning",
    "PrecisionProtocol",
    "ProcessedTracker",
    "Progress",
    "REMOVED_HOOKS",
    "ReadyCompletedTracker",
    "Registry",
    "RequirementCache",
    "RunningStage",
    "SchedulerProgress",
    "Sharded",
    "StartedTracker",
    "StatefulProtocol",
    "StrategyProtocol",
    "TrainerFn",
    "TrainerProtocol",
    "TrainerState",
    "TrainerStatus",
    "WarningCache",
    "apply_to_collection",
    "apply_to_collections",
    "check_removed_hooks",
    "given_hyperparameters_context",
    "hparams_to_plain",
    "is_overridden",
    "module_available",
    "rank_prefixed_message",
    "rank_zero_debug",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
    "register_classes",
    "save_hyperparameters",
]

TESTING_API = [
    "FakeCheckpointIO",
    "FakeDeepSpeedStrategy",
    "FakePrecision",
    "FakeShardedStrategy",
    "FakeStrategy",
    "RecordingCallback",
    "RecordingLogger",
    "docstring_example_modules",
    "run_docstring_examples",
]


def test_lit_hooks_public_api() -> None:
    assert sorted(lit_hooks.__all__) == LIT_HOOKS_API
    assert lit_hooks.__all__ == sorted(lit_hooks.__all__)
    for name in LIT_HOOKS_API:
        assert getattr(lit_hooks, name) is not None, name
    assert "testing" not in lit_hooks.__all__


def test_testing_public_api() -> None:
    assert sorted(lit_hooks.testing.__all__) == TESTING_API
    for name in TESTING_API:
        assert getattr(lit_hooks.testing, name) is not None, name
