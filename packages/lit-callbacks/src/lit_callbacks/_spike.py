"""SpikeDetection: stop training when the loss spikes, and record the offending batches."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

import torch

from lit_hooks import Callback


class TrainingSpikeException(RuntimeError):
    """Raised by :class:`SpikeDetection` when the loss of a batch spikes."""

    def __init__(self, batch_idx: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(f"Training spike detected in batch {batch_idx}", *args, **kwargs)
        self.batch_idx = batch_idx


class SpikeDetection(Callback):
    """Raise :class:`TrainingSpikeException` when the training loss jumps away from its running mean.

    A batch is a spike when (after ``warmup`` batches) the loss got worse than the previous loss and differs
    from the running mean of the last ``window`` losses by at least ``atol`` and ``rtol * mean`` (each check
    skipped when ``None``), or is not finite with ``finite_only``. The batch and the one before it are written
    to ``exclude_batches_path`` (JSON list) so that a restart can skip them.

    Note: the check reads the loss value on every batch (one device sync per step).

    Args:
        mode: ``"min"`` if the monitored loss should decrease, ``"max"`` otherwise.
        window: Number of past losses in the running mean.
        warmup: Batches at the start of each epoch that are never spikes.
        atol: Absolute tolerance.
        rtol: Relative tolerance (times the running mean).
        exclude_batches_path: JSON file (or directory for ``skip_batches.json``); default
            ``<default_root_dir>/skip_batches.json``.
        finite_only: Treat non-finite losses as spikes and never average them in.
    """

    def __init__(
        self,
        mode: Literal["min", "max"] = "min",
        window: int = 10,
        warmup: int = 1,
        atol: float | None = None,
        rtol: float | None = 2.0,
        exclude_batches_path: str | None = None,
        finite_only: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"`SpikeDetection(mode={mode!r})` is not supported. Choose 'min' or 'max'.")
        if window < 1:
            raise ValueError(f"`SpikeDetection(window={window!r})` must be >= 1.")
        self.mode = mode
        self.window = window
        self.warmup = warmup
        self.atol = atol
        self.rtol = rtol
        self.exclude_batches_path = exclude_batches_path
        self.finite_only = finite_only
        self.last_val: torch.Tensor | float = 0.0
        self.bad_batches: list[int] = []
        self._values: deque[torch.Tensor] = deque(maxlen=window)

    @property
    def running_mean(self) -> torch.Tensor:
        """Mean of the last ``window`` losses (NaN before any)."""
        if not self._values:
            return torch.tensor(float("nan"))
        return torch.stack(list(self._values)).mean()

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if isinstance(outputs, torch.Tensor):
            loss = outputs.detach()
        elif isinstance(outputs, Mapping):
            loss = outputs["loss"].detach()
        else:
            raise TypeError(
                f"outputs have to be of type torch.Tensor or Mapping, got {type(outputs).__qualname__}"
            )
        if self.exclude_batches_path is None:
            self.exclude_batches_path = getattr(trainer, "default_root_dir", None) or os.getcwd()
        if not str(self.exclude_batches_path).endswith(".json"):
            self.exclude_batches_path = os.path.join(self.exclude_batches_path, "skip_batches.json")
        is_spike = bool(batch_idx >= self.warmup and self._is_spike(loss))
        strategy = trainer.strategy
        barrier = getattr(strategy, "barrier", None)
        if barrier is not None:
            barrier()
        if strategy.reduce_boolean_decision(is_spike, all=False):
            self._handle_spike(trainer, batch_idx)
        finite_all = self.finite_only or strategy.reduce_boolean_decision(
            bool(torch.isfinite(loss).all()), all=True
        )
        if finite_all:
            self._update_stats(loss)

    def _is_spike(self, loss: torch.Tensor) -> bool:
        if self.finite_only and not bool(torch.isfinite(loss).all()):
            return True
        if not self._values:
            return False
        if self._is_better(loss - self.last_val):
            return False
        mean = self.running_mean.to(loss.device)
        return self._check_atol(loss, mean) and self._check_rtol(loss, mean)

    def _handle_spike(self, trainer: Any, batch_idx: int) -> None:
        self.bad_batches.extend([batch_idx - 1, batch_idx])
        if getattr(trainer, "global_rank", 0) == 0:
            path = str(self.exclude_batches_path)
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w") as f:
                json.dump(self.bad_batches, f, indent=4)
        raise TrainingSpikeException(batch_idx=batch_idx)

    def _check_atol(self, a: torch.Tensor, b: torch.Tensor) -> bool:
        return self.atol is None or bool(abs(a - b) >= abs(self.atol))

    def _check_rtol(self, a: torch.Tensor, b: torch.Tensor) -> bool:
        return self.rtol is None or bool(abs(a - b) >= abs(self.rtol * b))

    def _is_better(self, diff: torch.Tensor) -> bool:
        return bool((diff <= 0).all()) if self.mode == "min" else bool((diff >= 0).all())

    def _update_stats(self, val: torch.Tensor) -> None:
        self._values.append(val.float().mean())
        self.last_val = val

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_val": self.last_val.item() if isinstance(self.last_val, torch.Tensor) else self.last_val,
            "mode": self.mode,
            "warmup": self.warmup,
            "atol": self.atol,
            "rtol": self.rtol,
            "bad_batches": self.bad_batches,
            "bad_batches_path": self.exclude_batches_path,
            "running": [float(v) for v in self._values],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last_val = state_dict["last_val"]
        self.mode = state_dict["mode"]
        self.warmup = state_dict["warmup"]
        self.atol = state_dict["atol"]
        self.rtol = state_dict["rtol"]
        self.bad_batches = list(state_dict["bad_batches"])
        self.exclude_batches_path = state_dict["bad_batches_path"]
        self._values = deque((torch.tensor(v) for v in state_dict.get("running", [])), maxlen=self.window)
