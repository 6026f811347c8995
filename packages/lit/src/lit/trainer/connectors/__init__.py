"""Trainer connectors (``lightning.pytorch.trainer.connectors``)."""

from __future__ import annotations

from lit.trainer.connector import AcceleratorConnector

__all__ = ["AcceleratorConnector"]
