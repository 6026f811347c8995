"""``HyperparametersMixin`` (``lightning.pytorch.core.mixins.hparams_mixin``)."""

from __future__ import annotations

from lit_hooks import HyperparametersMixin

__all__ = ["HyperparametersMixin"]
