"""lit: PyTorch Lightning 2.6's Trainer API, built from small layered libraries.

``import lit as L`` gives ``L.Trainer``, ``L.LightningModule``, ``L.LightningDataModule``, ``L.Callback`` and
``L.seed_everything``; the submodules mirror ``lightning.pytorch`` (``lit.callbacks``, ``lit.loggers``, ...).
Everything is loaded on first use, so ``import lit`` costs almost nothing beyond ``import torch``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "LightningDataModule",
    "LightningModule",
    "Trainer",
    "__version__",
    "seed_everything",
]

_LAZY = {
    "Trainer": ("lit.trainer.trainer", "Trainer"),
    "LightningModule": ("lit.core.module", "LightningModule"),
    "LightningDataModule": ("lit.core.datamodule", "LightningDataModule"),
    "Callback": ("lit_hooks", "Callback"),
    "seed_everything": ("lit.utilities.seed", "seed_everything"),
}
_SUBMODULES = {
    "accelerators",
    "callbacks",
    "core",
    "demos",
    "loggers",
    "loops",
    "plugins",
    "profilers",
    "strategies",
    "trainer",
    "tuner",
    "utilities",
}

if TYPE_CHECKING:
    from lit.core.datamodule import LightningDataModule
    from lit.core.module import LightningModule
    from lit.trainer.trainer import Trainer
    from lit.utilities.seed import seed_everything
    from lit_hooks import Callback


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"lit.{name}")
    raise AttributeError(f"module 'lit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES)
