"""The strategy and accelerator registries (filled when :mod:`lit_strategies` is imported)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lit_hooks import Registry

if TYPE_CHECKING:
    from lit_strategies._accelerators import Accelerator
    from lit_strategies._strategy import Strategy

__all__ = ["ACCELERATOR_REGISTRY", "STRATEGY_REGISTRY"]

STRATEGY_REGISTRY: Registry[Strategy] = Registry("strategy")
"""Strategies by name (``"ddp"``, ``"ddp_spawn"``, ``"fsdp"``, ``"single_device"``, ...)."""

ACCELERATOR_REGISTRY: Registry[Accelerator] = Registry("accelerator")
"""Accelerators by name (``"cpu"``, ``"cuda"``/``"gpu"``, ``"mps"``, ``"tpu"``)."""
