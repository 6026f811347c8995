"""lit-hooks: the contracts every ``lit`` package builds on.

Protocols for strategies, precision, loggers and the trainer view; the :class:`Callback` and module hook base
classes; loop progress dataclasses; a generic :class:`Registry`; string enums; error types; rank-zero utilities
and collection helpers. It holds no training behaviour and depends only on torch, numpy and typing_extensions.
Test fakes live in the :mod:`lit_hooks.testing` submodule.
"""

from __future__ import annotations

from lit_hooks._callback import CALLBACK_HOOK_NAMES, Callback
from lit_hooks._collections import AttributeDict, apply_to_collection, apply_to_collections, is_overridden
from lit_hooks._enums import (
    GradClipAlgorithmType,
    LightningEnum,
    RunningStage,
    TrainerFn,
    TrainerState,
    TrainerStatus,
)
from lit_hooks._errors import (
    ExitGracefullyException,
    LightningDeprecationWarning,
    LitError,
    MisconfigurationError,
    MisconfigurationException,
    MissingExtraError,
    PossibleUserWarning,
)
from lit_hooks._hparams import (
    HyperparametersMixin,
    given_hyperparameters_context,
    hparams_to_plain,
    save_hyperparameters,
)
from lit_hooks._imports import RequirementCache, module_available
from lit_hooks._lr_scheduler import LRSchedulerConfig
from lit_hooks._module_hooks import (
    CHECKPOINT_HOOK_NAMES,
    DATA_HOOK_NAMES,
    MODEL_HOOK_NAMES,
    REMOVED_HOOKS,
    CheckpointHooks,
    DataHooks,
    ModelHooks,
    check_removed_hooks,
)
from lit_hooks._progress import (
    BaseProgress,
    BatchProgress,
    OptimizationProgress,
    OptimizerProgress,
    ProcessedTracker,
    Progress,
    ReadyCompletedTracker,
    SchedulerProgress,
    StartedTracker,
)
from lit_hooks._protocols import (
    AcceleratorProtocol,
    BackwardSyncControl,
    CheckpointIOProtocol,
    ClusterEnvironmentProtocol,
    DataPositionProtocol,
    LauncherProtocol,
    LoggerProtocol,
    ModuleProtocol,
    PrecisionProtocol,
    Sharded,
    StatefulProtocol,
    StrategyProtocol,
    TrainerProtocol,
)
from lit_hooks._rank_zero import (
    WarningCache,
    rank_prefixed_message,
    rank_zero_debug,
    rank_zero_deprecation,
    rank_zero_info,
    rank_zero_only,
    rank_zero_warn,
)
from lit_hooks._registry import Registry, register_classes

__all__ = [
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
