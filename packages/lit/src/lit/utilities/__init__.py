"""Utilities (``lightning.pytorch.utilities``)."""

from __future__ import annotations

from lit_data import CombinedLoader, move_data_to_device
from lit_hooks import (
    AttributeDict,
    GradClipAlgorithmType,
    LightningEnum,
    MisconfigurationException,
    PossibleUserWarning,
    rank_zero_deprecation,
    rank_zero_info,
    rank_zero_only,
    rank_zero_warn,
)

__all__ = [
    "AttributeDict",
    "CombinedLoader",
    "GradClipAlgorithmType",
    "LightningEnum",
    "MisconfigurationException",
    "PossibleUserWarning",
    "move_data_to_device",
    "rank_zero_deprecation",
    "rank_zero_info",
    "rank_zero_only",
    "rank_zero_warn",
]
