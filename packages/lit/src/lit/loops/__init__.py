"""The loops (``lightning.pytorch.loops``), provided by lit-loops."""

from __future__ import annotations

from lit_loops import EvaluationLoop, FitLoop, PredictionLoop, TrainingEpochLoop
from lit_loops import Loop as EventLoop

__all__ = ["EvaluationLoop", "EventLoop", "FitLoop", "PredictionLoop", "TrainingEpochLoop"]
