"""ProgressBar: the base class of the progress bar callbacks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import torch

from lit_callbacks._trainer_access import fn_value
from lit_hooks import Callback, rank_zero_warn

T = TypeVar("T")


class ProgressBar(Callback):
    """Base class for progress bars: bookkeeping of totals, descriptions and the metrics to show.

    Subclasses implement :meth:`enable` / :meth:`disable` and draw the bars in the hooks. The bar is disabled
    on every process except global rank 0.

    Example:
        >>> bar = ProgressBar()
        >>> bar.train_description, bar.validation_description
        ('Training', 'Validation')
    """

    def __init__(self) -> None:
        self._trainer: Any = None
        self._current_eval_dataloader_idx: int | None = None

    @property
    def trainer(self) -> Any:
        """The trainer this bar is attached to (set in :meth:`setup`)."""
        if self._trainer is None:
            raise TypeError(f"The `{type(self).__name__}._trainer` reference has not been set yet.")
        return self._trainer

    @property
    def sanity_check_description(self) -> str:
        return "Sanity Checking"

    @property
    def train_description(self) -> str:
        return "Training"

    @property
    def validation_description(self) -> str:
        return "Validation"

    @property
    def test_description(self) -> str:
        return "Testing"

    @property
    def predict_description(self) -> str:
        return "Predicting"

    @property
    def total_train_batches(self) -> int | float:
        """Batches of the current training epoch (``inf`` for an iterable without length)."""
        trainer = self.trainer
        max_steps = trainer.max_steps
        if trainer.max_epochs == -1 and max_steps is not None and max_steps > 0:
            return min(trainer.num_training_batches, max_steps - trainer.global_step)
        return trainer.num_training_batches

    @property
    def total_val_batches_current_dataloader(self) -> int | float:
        trainer = self.trainer
        batches = trainer.num_sanity_val_batches if trainer.sanity_checking else trainer.num_val_batches
        return self._pick(batches)

    @property
    def total_test_batches_current_dataloader(self) -> int | float:
        return self._pick(self.trainer.num_test_batches)

    @property
    def total_predict_batches_current_dataloader(self) -> int | float:
        return self._pick(self.trainer.num_predict_batches)

    @property
    def total_val_batches(self) -> int | float:
        """All validation batches of one validation run (0 when validation does not run this epoch)."""
        trainer = self.trainer
        if getattr(trainer, "enable_validation", True) is False:
            return 0
        batches = trainer.num_val_batches
        return sum(batches) if isinstance(batches, (list, tuple)) else batches

    def _pick(self, batches: Any) -> int | float:
        if isinstance(batches, (list, tuple)):
            idx = self._current_eval_dataloader_idx or 0
            return batches[idx] if idx < len(batches) else 0
        return batches

    def has_dataloader_changed(self, dataloader_idx: int) -> bool:
        """Record ``dataloader_idx`` and return whether it differs from the previous one."""
        old = self._current_eval_dataloader_idx
        self._current_eval_dataloader_idx = dataloader_idx
        return old != dataloader_idx

    def reset_dataloader_idx_tracker(self) -> None:
        self._current_eval_dataloader_idx = None

    def disable(self) -> None:
        """Stop drawing (called on non-zero ranks)."""
        raise NotImplementedError

    def enable(self) -> None:
        """Resume drawing."""
        raise NotImplementedError

    def print(self, *args: Any, **kwargs: Any) -> None:
        """Print without breaking the bars."""
        print(*args, **kwargs)

    def track(self, iterable: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
        """Show progress of a long operation outside the training loops (a tuner search, an upload).

        Yields the items of ``iterable`` while a bar labelled ``description`` advances; the base class shows
        nothing.

        Example:
            >>> list(ProgressBar().track(range(3), "Uploading"))
            [0, 1, 2]
        """
        yield from iterable

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        self._trainer = trainer
        if not trainer.is_global_zero:
            self.disable()

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, int | str | float | dict[str, float]]:
        """Metrics shown next to the training bar: ``v_num`` plus everything logged with ``prog_bar=True``.

        Override this to add or hide entries.
        """
        standard = get_standard_metrics(trainer)
        pbar = trainer.progress_bar_metrics
        duplicates = sorted(standard.keys() & pbar.keys())
        if duplicates:
            rank_zero_warn(
                f"The progress bar already tracks a metric with the name(s) '{', '.join(duplicates)}' and"
                f" `self.log('{duplicates[0]}', ..., prog_bar=True)` will overwrite this value. If this is"
                " undesired, change the name or override `get_metrics()` in the progress bar callback."
            )
        return {**standard, **pbar}


def get_standard_metrics(trainer: Any) -> dict[str, int | str]:
    """``{"v_num": version}`` from the trainer's loggers (the last 4 characters of a string version)."""
    items: dict[str, int | str] = {}
    loggers = trainer.loggers
    if not loggers:
        return items
    if len(loggers) == 1:
        version = loggers[0].version
    else:
        version = "_".join(dict.fromkeys(str(lg.version) for lg in loggers))
    if version not in ("", None):
        if isinstance(version, str):
            version = version[-4:]
        items["v_num"] = version
    return items


def _to_python(value: Any) -> Any:
    """Tensors to Python numbers, recursively (called only when a bar renders)."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, dict):
        return {k: _to_python(v) for k, v in value.items()}
    return value


def _convert_inf(x: float | None) -> int | float | None:
    if x is None or math.isinf(x) or math.isnan(x):
        return None
    return x


def _has_main_bar(trainer: Any) -> bool:
    return fn_value(trainer) == "fit"
