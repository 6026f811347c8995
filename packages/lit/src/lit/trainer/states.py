"""Trainer states (``lightning.pytorch.trainer.states``)."""

from __future__ import annotations

from lit_hooks import RunningStage, TrainerFn, TrainerState, TrainerStatus

__all__ = ["RunningStage", "TrainerFn", "TrainerState", "TrainerStatus"]
