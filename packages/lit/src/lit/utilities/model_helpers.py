"""Model helpers (``lightning.pytorch.utilities.model_helpers``)."""

from __future__ import annotations

from lit_hooks import is_overridden

__all__ = ["is_overridden"]
