"""``CombinedLoader`` (``lightning.pytorch.utilities.combined_loader``)."""

from __future__ import annotations

from lit_data import CombinedLoader

__all__ = ["CombinedLoader"]
