"""EarlyStopping: stop fitting when a monitored metric stops improving."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import Any, ClassVar

import torch
from torch import Tensor

from lit_hooks import Callback, MisconfigurationException, TrainerFn, rank_zero_warn

log = logging.getLogger(__name__)


class EarlyStoppingReason(Enum):
    """Why an :class:`EarlyStopping` callback asked the trainer to stop."""

    NOT_STOPPED = 0
    STOPPING_THRESHOLD = 1
    DIVERGENCE_THRESHOLD = 2
    PATIENCE_EXHAUSTED = 3
    NON_FINITE_METRIC = 4


class EarlyStopping(Callback):
    """Stop training when a monitored metric has stopped improving.

    The check runs once per validation run (or once per training epoch when ``check_on_train_epoch_end``
    resolves to ``True``), so ``patience`` counts checks, not epochs.

    Args:
        monitor: Name of the metric in ``trainer.callback_metrics`` to watch.
        min_delta: Smallest change that counts as an improvement; a change of ``min_delta`` or less does not.
        patience: Number of checks without improvement after which training stops.
        verbose: Log a message on every improvement and when stopping.
        mode: ``"min"`` (lower is better) or ``"max"`` (higher is better).
        strict: Raise when ``monitor`` is missing from the metrics; otherwise skip the check (warning if verbose).
        check_finite: Stop as soon as the metric becomes NaN or infinite.
        stopping_threshold: Stop immediately once the metric is better than this value.
        divergence_threshold: Stop immediately once the metric is worse than this value.
        check_on_train_epoch_end: Run the check at the end of the training epoch instead of at the end of
            validation. ``None`` picks the train epoch end when validation runs once per epoch.
        log_rank_zero_only: Only log messages on global rank 0.

    Attributes:
        wait_count: Checks since the last improvement.
        stopped_epoch: Epoch at which training was stopped (0 if it was not).
        best_score: Best metric value seen so far (a tensor).
        stopping_reason: An :class:`EarlyStoppingReason`.
        stopping_reason_message: A human-readable explanation, or ``None``.

    Example:
        >>> es = EarlyStopping("val_loss", patience=2)
        >>> es.state_key
        "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}"
    """

    mode_dict: ClassVar[dict[str, Callable[..., Tensor]]] = {"min": torch.lt, "max": torch.gt}
    order_dict: ClassVar[dict[str, str]] = {"min": "<", "max": ">"}

    def __init__(
        self,
        monitor: str,
        min_delta: float = 0.0,
        patience: int = 3,
        verbose: bool = False,
        mode: str = "min",
        strict: bool = True,
        check_finite: bool = True,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_on_train_epoch_end: bool | None = None,
        log_rank_zero_only: bool = False,
    ) -> None:
        super().__init__()
        if mode not in self.mode_dict:
            raise MisconfigurationException(
                f"`EarlyStopping(mode={mode!r})` is not supported. Choose one of: "
                f"{', '.join(repr(m) for m in self.mode_dict)}."
            )
        if isinstance(patience, bool) or not isinstance(patience, (int, float)) or patience < 0:
            raise MisconfigurationException(
                f"`EarlyStopping(patience={patience!r})` must be a non-negative number of checks, e.g. `patience=3`."
            )
        self.monitor = monitor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.strict = strict
        self.check_finite = check_finite
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.log_rank_zero_only = log_rank_zero_only
        self._check_on_train_epoch_end = check_on_train_epoch_end
        self.wait_count = 0
        self.stopped_epoch = 0
        self.stopping_reason = EarlyStoppingReason.NOT_STOPPED
        self.stopping_reason_message: str | None = None
        # an improvement must beat best by min_delta in the direction of the mode
        self.min_delta = min_delta if self.monitor_op is torch.gt else -min_delta
        inf = torch.tensor(torch.inf)
        self.best_score: Tensor = inf if self.monitor_op is torch.lt else -inf

    @property
    def monitor_op(self) -> Callable[..., Tensor]:
        """``torch.lt`` for ``mode="min"``, ``torch.gt`` for ``mode="max"``."""
        return self.mode_dict[self.mode]

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self._check_on_train_epoch_end is None:
            interval = getattr(trainer, "val_check_interval", 1.0)
            every_n = getattr(trainer, "check_val_every_n_epoch", 1)
            self._check_on_train_epoch_end = interval == 1.0 and every_n == 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "wait_count": self.wait_count,
            "stopped_epoch": self.stopped_epoch,
            "best_score": self.best_score,
            "patience": self.patience,
            "stopping_reason": self.stopping_reason.value,
            "stopping_reason_message": self.stopping_reason_message,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.wait_count = state_dict["wait_count"]
        self.stopped_epoch = state_dict["stopped_epoch"]
        self.best_score = state_dict["best_score"]
        self.patience = state_dict["patience"]
        self.stopping_reason = EarlyStoppingReason(
            state_dict.get("stopping_reason", EarlyStoppingReason.NOT_STOPPED.value)
        )
        self.stopping_reason_message = state_dict.get("stopping_reason_message")

    def _should_skip_check(self, trainer: Any) -> bool:
        return trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._check_on_train_epoch_end or self._should_skip_check(trainer):
            return
        self._run_early_stopping_check(trainer)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if self._check_on_train_epoch_end or self._should_skip_check(trainer):
            return
        self._run_early_stopping_check(trainer)

    def _validate_condition_metric(self, logs: dict[str, Any]) -> bool:
        if logs.get(self.monitor) is not None:
            return True
        available = ", ".join(f"`{k}`" for k in logs) or "(none logged yet)"
        msg = (
            f"Early stopping conditioned on metric `{self.monitor}` which is not available."
            f" Pass in or modify your `EarlyStopping` callback to use any of the following: {available}"
        )
        if self.strict:
            raise RuntimeError(msg)
        if self.verbose:
            rank_zero_warn(msg, category=RuntimeWarning)
        return False

    def _run_early_stopping_check(self, trainer: Any) -> None:
        logs = trainer.callback_metrics
        if trainer.fast_dev_run or not self._validate_condition_metric(logs):
            return
        current = logs[self.monitor]
        if not isinstance(current, Tensor):
            current = torch.tensor(float(current))
        current = current.squeeze()
        should_stop, reason = self._evaluate_stopping_criteria(current)
        should_stop = trainer.strategy.reduce_boolean_decision(should_stop, all=False)
        trainer.should_stop = trainer.should_stop or should_stop
        if should_stop:
            self.stopped_epoch = trainer.current_epoch
            self.stopping_reason_message = reason
        if reason and self.verbose:
            self._log_info(trainer, reason, self.log_rank_zero_only)

    def _evaluate_stopping_criteria(self, current: Tensor) -> tuple[bool, str | None]:
        should_stop = False
        reason: str | None = None
        if self.check_finite and not torch.isfinite(current):
            should_stop = True
            self.stopping_reason = EarlyStoppingReason.NON_FINITE_METRIC
            reason = (
                f"Monitored metric {self.monitor} = {current} is not finite."
                f" Previous best value was {self.best_score:.3f}. Signaling Trainer to stop."
            )
        elif self.stopping_threshold is not None and self.monitor_op(current, self.stopping_threshold):
            should_stop = True
            self.stopping_reason = EarlyStoppingReason.STOPPING_THRESHOLD
            reason = (
                f"Stopping threshold reached: {self.monitor} = {current} {self.order_dict[self.mode]}"
                f" {self.stopping_threshold}. Signaling Trainer to stop."
            )
        elif self.divergence_threshold is not None and self.monitor_op(-current, -self.divergence_threshold):
            should_stop = True
            self.stopping_reason = EarlyStoppingReason.DIVERGENCE_THRESHOLD
            reason = (
                f"Divergence threshold reached: {self.monitor} = {current} {self.order_dict[self.mode]}"
                f" {self.divergence_threshold}. Signaling Trainer to stop."
            )
        elif self.monitor_op(current - self.min_delta, self.best_score.to(current.device)):
            reason = self._improvement_message(current)
            self.best_score = current
            self.wait_count = 0
        else:
            self.wait_count += 1
            if self.wait_count >= self.patience:
                should_stop = True
                self.stopping_reason = EarlyStoppingReason.PATIENCE_EXHAUSTED
                reason = (
                    f"Monitored metric {self.monitor} did not improve in the last {self.wait_count} records."
                    f" Best score: {self.best_score:.3f}. Signaling Trainer to stop."
                )
        return should_stop, reason

    def _improvement_message(self, current: Tensor) -> str:
        if torch.isfinite(self.best_score):
            return (
                f"Metric {self.monitor} improved by {abs(self.best_score - current):.3f} >="
                f" min_delta = {abs(self.min_delta)}. New best score: {current:.3f}"
            )
        return f"Metric {self.monitor} improved. New best score: {current:.3f}"

    @staticmethod
    def _log_info(trainer: Any, message: str, log_rank_zero_only: bool) -> None:
        world_size = getattr(trainer, "world_size", 1)
        rank = getattr(trainer, "global_rank", 0) if world_size > 1 else None
        if rank is not None:
            message = f"[rank: {rank}] {message}"
        if rank is None or not log_rank_zero_only or rank == 0:
            log.info(message)
