"""BasePredictionWriter: write predictions to disk while predicting."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any, Literal

from lit_hooks import Callback, MisconfigurationException


class WriteInterval(str, Enum):
    """When a :class:`BasePredictionWriter` writes."""

    BATCH = "batch"
    EPOCH = "epoch"
    BATCH_AND_EPOCH = "batch_and_epoch"

    @property
    def on_batch(self) -> bool:
        return self in (WriteInterval.BATCH, WriteInterval.BATCH_AND_EPOCH)

    @property
    def on_epoch(self) -> bool:
        return self in (WriteInterval.EPOCH, WriteInterval.BATCH_AND_EPOCH)


def _predict_loop_attr(trainer: Any, name: str, default: Any) -> Any:
    """Read ``name`` from the trainer (``predict_<name>``) or from ``trainer.predict_loop``."""
    value = getattr(trainer, f"predict_{name}", None)
    if value is not None:
        return value
    loop = getattr(trainer, "predict_loop", None)
    value = getattr(loop, name, None) if loop is not None else None
    return default if value is None else value


class BasePredictionWriter(Callback):
    """Base class to write predictions: subclass it and implement the ``write_on_*`` methods you need.

    Args:
        write_interval: ``"batch"`` calls :meth:`write_on_batch_end` after every predict batch, ``"epoch"``
            calls :meth:`write_on_epoch_end` with all predictions, ``"batch_and_epoch"`` both.

    Example:
        >>> class Writer(BasePredictionWriter):
        ...     def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
        ...                            dataloader_idx):
        ...         print(batch_idx, prediction)
        >>> Writer().interval.on_batch
        True
    """

    def __init__(self, write_interval: Literal["batch", "epoch", "batch_and_epoch"] = "batch") -> None:
        valid = [i.value for i in WriteInterval]
        if write_interval not in valid:
            raise MisconfigurationException(
                f"`write_interval` should be one of {valid}, got {write_interval!r}."
            )
        self.interval = WriteInterval(write_interval)

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        import inspect

        step = getattr(pl_module, "predict_step", None)
        if step is not None:
            try:
                params = inspect.signature(step).parameters
            except (TypeError, ValueError):
                params = {}  # type: ignore[assignment]
            if "dataloader_iter" in params:
                raise NotImplementedError(
                    "The `PredictionWriterCallback` does not support using `dataloader_iter`."
                )

    def write_on_batch_end(
        self,
        trainer: Any,
        pl_module: Any,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Write the prediction of one batch (override for ``write_interval`` ``"batch"``)."""
        raise NotImplementedError

    def write_on_epoch_end(
        self, trainer: Any, pl_module: Any, predictions: Sequence[Any], batch_indices: Sequence[Any]
    ) -> None:
        """Write all predictions of the epoch (override for ``write_interval`` ``"epoch"``)."""
        raise NotImplementedError

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.interval.on_batch:
            return
        indices = _predict_loop_attr(trainer, "current_batch_indices", None)
        self.write_on_batch_end(trainer, pl_module, outputs, indices, batch, batch_idx, dataloader_idx)

    def on_predict_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self.interval.on_epoch:
            return
        predictions = _predict_loop_attr(trainer, "predictions", [])
        indices = _predict_loop_attr(trainer, "epoch_batch_indices", [])
        self.write_on_epoch_end(trainer, pl_module, predictions, indices)
