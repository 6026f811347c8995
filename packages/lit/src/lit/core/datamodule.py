"""``LightningDataModule`` (``lightning.pytorch.core.datamodule``)."""

from __future__ import annotations

from lit_data import LightningDataModule

__all__ = ["LightningDataModule"]
