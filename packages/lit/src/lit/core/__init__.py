"""``lit.core``: LightningModule, LightningDataModule, hooks, optimizer wrapper (``lightning.pytorch.core``)."""

from __future__ import annotations

from lit.core.datamodule import LightningDataModule
from lit.core.module import LightningModule

__all__ = ["LightningDataModule", "LightningModule"]
