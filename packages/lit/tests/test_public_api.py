"""The public API of `lit` is pinned: changing it must be deliberate (update this list)."""

from __future__ import annotations

import lit

EXPECTED = [
    "Callback",
    "LightningDataModule",
    "LightningModule",
    "Trainer",
    "__version__",
    "seed_everything",
]


def test_public_api_is_pinned() -> None:
    assert sorted(lit.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in EXPECTED:
        assert getattr(lit, name) is not None, name


# The module tree of `lightning.pytorch` that user code imports from.
SUBMODULES = [
    "lit.accelerators",
    "lit.callbacks",
    "lit.callbacks.progress",
    "lit.core",
    "lit.core.datamodule",
    "lit.core.hooks",
    "lit.core.module",
    "lit.core.optimizer",
    "lit.core.saving",
    "lit.demos.boring_classes",
    "lit.loggers",
    "lit.loops",
    "lit.plugins",
    "lit.plugins.environments",
    "lit.plugins.io",
    "lit.plugins.precision",
    "lit.profilers",
    "lit.strategies",
    "lit.trainer",
    "lit.trainer.states",
    "lit.tuner",
    "lit.utilities",
    "lit.utilities.combined_loader",
    "lit.utilities.model_helpers",
    "lit.utilities.model_summary",
    "lit.utilities.rank_zero",
    "lit.utilities.seed",
    "lit.utilities.types",
]


def test_the_lightning_module_tree_imports() -> None:
    import importlib

    for name in SUBMODULES:
        assert importlib.import_module(name) is not None, name
    from lit.callbacks import Callback, EarlyStopping, ModelCheckpoint  # noqa: F401
    from lit.utilities import rank_zero_only  # noqa: F401
