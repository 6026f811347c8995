"""Experiment loggers for lit: CSV, TensorBoard, MLflow, Weights & Biases, Comet and Neptune.

``lit-loggers`` depends only on ``lit-hooks`` (and torch). Each back-end package is imported when a logger that
needs it is created, never at ``import lit_loggers``; a missing one raises :class:`lit_hooks.MissingExtraError`
naming the pip extra to install (``pip install 'lit-loggers[tensorboard]'``). The loggers work in a plain PyTorch
loop as well as under the lit Trainer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lit_loggers._csv import CSVLogger, ExperimentWriter
from lit_loggers._logger import DummyExperiment, DummyLogger, Logger, rank_zero_experiment

if TYPE_CHECKING:
    from lit_loggers._comet import CometLogger
    from lit_loggers._mlflow import MLFlowLogger
    from lit_loggers._neptune import NeptuneLogger
    from lit_loggers._tensorboard import TensorBoardLogger
    from lit_loggers._wandb import WandbLogger

# loggers whose module is imported on first access (their back-end packages are imported even later, on use)
_LAZY = {
    "CometLogger": "lit_loggers._comet",
    "MLFlowLogger": "lit_loggers._mlflow",
    "NeptuneLogger": "lit_loggers._neptune",
    "TensorBoardLogger": "lit_loggers._tensorboard",
    "WandbLogger": "lit_loggers._wandb",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lit_loggers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CSVLogger",
    "CometLogger",
    "DummyExperiment",
    "DummyLogger",
    "ExperimentWriter",
    "Logger",
    "MLFlowLogger",
    "NeptuneLogger",
    "TensorBoardLogger",
    "WandbLogger",
    "rank_zero_experiment",
]
