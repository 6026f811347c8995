"""The tuner (``lightning.pytorch.tuner``): ``Tuner(trainer).lr_find(...)`` and ``.scale_batch_size(...)``."""

from __future__ import annotations

from lit.tuner.tuning import Tuner

__all__ = ["Tuner"]
