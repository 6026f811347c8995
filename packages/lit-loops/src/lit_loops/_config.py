"""``LoopConfig``: the plain settings the standard loops read (what the Trainer flags resolve to)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LoopConfig"]


@dataclass
class LoopConfig:
    """Settings of the standard loops, with Lightning's resolved defaults.

    Args:
        max_epochs: stop after this many epochs (``-1`` or ``None`` with ``max_steps`` set: no epoch limit).
        min_epochs: do not stop (``should_stop``) before this many epochs.
        max_steps: stop after this many optimizer steps (``-1``: no limit).
        min_steps: do not stop before this many optimizer steps.
        max_time: stop after this many seconds of fitting (``None``: no limit).
        limit_train_batches: batches per training epoch (int count or float fraction).
        limit_val_batches: batches per validation run.
        limit_test_batches: batches per test run.
        limit_predict_batches: batches per predict run.
        overfit_batches: use this many (or this fraction of) training batches for train and validation.
        val_check_interval: validate every fraction of an epoch (float), every N batches (int), or after a
            number of seconds (``val_check_time``).
        val_check_time: seconds between validation runs (time-based ``val_check_interval``), or ``None``.
        check_val_every_n_epoch: validate every N epochs (``None``: ``val_check_interval`` counts across epochs).
        num_sanity_val_steps: validation batches run before training (``-1`` or ``inf``: all).
        accumulate_grad_batches: batches per optimizer step.
        gradient_clip_val: clip gradients to this value (``None``/0: no clipping).
        gradient_clip_algorithm: ``"norm"`` or ``"value"``.
        log_every_n_steps: send step metrics to loggers every N steps.
        inference_mode: use ``torch.inference_mode`` (else ``no_grad``) for validate/test/predict.
        reload_dataloaders_every_n_epochs: request new training/validation dataloaders every N epochs.
        fast_dev_run: run this many batches (``0``: off) and no checkpointing or logging.
        barebones: turn off logging and everything that costs time per step.
        detect_anomaly: run training under ``torch.autograd.set_detect_anomaly``.
        use_distributed_sampler: shard map-style dataloaders across processes when more than one takes part.
    """

    max_epochs: int | None = 1000
    min_epochs: int | None = None
    max_steps: int = -1
    min_steps: int | None = None
    max_time: float | None = None
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    limit_test_batches: int | float = 1.0
    limit_predict_batches: int | float = 1.0
    overfit_batches: int | float = 0.0
    val_check_interval: int | float = 1.0
    val_check_time: float | None = None
    check_val_every_n_epoch: int | None = 1
    num_sanity_val_steps: int | float = 2
    accumulate_grad_batches: int = 1
    gradient_clip_val: int | float | None = None
    gradient_clip_algorithm: str | None = None
    log_every_n_steps: int = 50
    inference_mode: bool = True
    reload_dataloaders_every_n_epochs: int = 0
    fast_dev_run: int = 0
    barebones: bool = False
    detect_anomaly: bool = False
    use_distributed_sampler: bool = True

    def copy(self, **changes: Any) -> LoopConfig:
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)
