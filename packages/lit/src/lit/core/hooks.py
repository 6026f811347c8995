"""Hook base classes (``lightning.pytorch.core.hooks``)."""

from __future__ import annotations

from lit_hooks import CheckpointHooks, DataHooks, ModelHooks

__all__ = ["CheckpointHooks", "DataHooks", "ModelHooks"]
