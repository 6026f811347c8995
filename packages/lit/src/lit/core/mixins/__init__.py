"""Mixins of the LightningModule (``lightning.pytorch.core.mixins``)."""

from __future__ import annotations

from lit_hooks import HyperparametersMixin

__all__ = ["HyperparametersMixin"]
