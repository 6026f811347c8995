"""``Tuner``: Lightning's ``Tuner(trainer).lr_find(...)`` and ``Tuner(trainer).scale_batch_size(...)``.

Each method adds the matching callback (``LearningRateFinder`` or ``BatchSizeFinder`` from lit-callbacks) in
front of the trainer's callbacks, runs the requested entry point, which stops cleanly right after the search,
and removes the callback again. The model and the trainer are left as they were, except for the tuned
attribute (the learning rate or the batch size).
"""

from __future__ import annotations

from typing import Any

from lit_callbacks import BatchSizeFinder, LearningRateFinder, LRFinderResult
from lit_hooks import MisconfigurationException

__all__ = ["Tuner"]

_METHODS = ("fit", "validate", "test", "predict")


class Tuner:
    """Tunes the learning rate or the batch size of a model with a ``Trainer``.

    Args:
        trainer: The ``lit.Trainer`` whose settings (devices, precision, limits) the search uses.

    Example:
        >>> import lit as L
        >>> tuner = Tuner(L.Trainer(logger=False, enable_progress_bar=False, enable_checkpointing=False))
        >>> callable(tuner.lr_find) and callable(tuner.scale_batch_size)
        True
    """

    def __init__(self, trainer: Any) -> None:
        self._trainer = trainer

    def scale_batch_size(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        method: str = "fit",
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> int | None:
        """Find the largest batch size that does not run out of memory; returns it (``None`` with ``fast_dev_run``).

        The batch size is read from and written to ``batch_arg_name`` of the model, ``model.hparams`` or the
        datamodule, whose ``*_dataloader`` hooks must use it.

        Args:
            model: The LightningModule.
            train_dataloaders: Training data for ``method="fit"`` (a datamodule is accepted too).
            val_dataloaders: Validation data for ``method="fit"``.
            dataloaders: Data for ``method="validate"/"test"/"predict"``.
            datamodule: A LightningDataModule.
            method: The entry point to tune: ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``.
            mode: ``"power"`` (double until a failure) or ``"binsearch"`` (then bisect).
            steps_per_trial: Steps run with each candidate size.
            init_val: The first batch size tried.
            max_trials: The most trials.
            batch_arg_name: The attribute holding the batch size.
            margin: ``"binsearch"`` only: reduce the result by this fraction (``0 <= margin < 1``).
            max_val: The largest batch size tried.
        """
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        trainer = self._trainer
        if int(getattr(trainer, "world_size", 1)) > 1:
            raise ValueError(
                "Tuning the batch size is not supported with distributed strategies: tune on one device"
                " (e.g. `Trainer(devices=1)`), then train with the size found."
            )
        if any(isinstance(cb, BatchSizeFinder) for cb in trainer.callbacks):
            raise ValueError(
                "Trainer is already configured with a `BatchSizeFinder` callback. Remove it from"
                " `Trainer(callbacks=...)` to use the Tuner, or use the callback alone."
            )
        finder = BatchSizeFinder(
            mode=mode,
            steps_per_trial=steps_per_trial,
            init_val=init_val,
            max_trials=max_trials,
            batch_arg_name=batch_arg_name,
            margin=margin,
            max_val=max_val,
        )
        finder._early_exit = True
        self._run_with(finder, model, method, train_dataloaders, val_dataloaders, dataloaders, datamodule)
        return finder.optimal_batch_size

    def lr_find(
        self,
        model: Any,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        dataloaders: Any = None,
        datamodule: Any = None,
        method: str = "fit",
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> LRFinderResult | None:
        """Run a learning-rate range test; returns its result (``.results``, ``.suggestion()``, ``.plot()``).

        The model's weights, the optimizer and the trainer state are restored afterwards; with
        ``update_attr=True`` the suggested learning rate is written to the model's ``lr``/``learning_rate``
        attribute (or ``attr_name``), so that the next ``fit`` uses it.

        Args:
            model: The LightningModule.
            train_dataloaders: Training data (a datamodule is accepted too).
            val_dataloaders: Validation data (not used by the search).
            dataloaders: Must be ``None`` (only ``method="fit"`` is supported).
            datamodule: A LightningDataModule.
            method: Must be ``"fit"``.
            min_lr: The first learning rate.
            max_lr: The last learning rate.
            num_training: How many learning rates (optimizer steps) to try.
            mode: ``"exponential"`` or ``"linear"`` growth.
            early_stop_threshold: Stop when the loss exceeds this multiple of the best loss (``None``: never).
            update_attr: Write the suggestion to the model's learning-rate attribute.
            attr_name: The learning-rate attribute (``"lr"``/``"learning_rate"`` are found automatically).
        """
        if method != "fit":
            raise MisconfigurationException(
                f"`method={method!r}` is invalid for the learning rate finder: method='fit' is the only valid"
                " configuration to run lr finder."
            )
        _check_tuner_configuration(train_dataloaders, val_dataloaders, dataloaders, method)
        trainer = self._trainer
        if any(isinstance(cb, LearningRateFinder) for cb in trainer.callbacks):
            raise ValueError(
                "Trainer is already configured with a `LearningRateFinder` callback. Remove it from"
                " `Trainer(callbacks=...)` to use the Tuner, or use the callback alone."
            )
        finder = LearningRateFinder(
            min_lr=min_lr,
            max_lr=max_lr,
            num_training_steps=num_training,
            mode=mode,
            early_stop_threshold=early_stop_threshold,
            update_attr=update_attr,
            attr_name=attr_name,
        )
        finder._early_exit = True
        self._run_with(finder, model, "fit", train_dataloaders, val_dataloaders, None, datamodule)
        return finder.optimal_lr

    def _run_with(
        self,
        callback: Any,
        model: Any,
        method: str,
        train_dataloaders: Any,
        val_dataloaders: Any,
        dataloaders: Any,
        datamodule: Any,
    ) -> None:
        trainer = self._trainer
        callbacks = trainer.callbacks
        callbacks.insert(0, callback)
        try:
            if method == "fit":
                trainer.fit(model, train_dataloaders, val_dataloaders, datamodule)
            elif method == "validate":
                trainer.validate(model, dataloaders, datamodule=datamodule)
            elif method == "test":
                trainer.test(model, dataloaders, datamodule=datamodule)
            else:
                trainer.predict(model, dataloaders, datamodule=datamodule)
        finally:
            callbacks[:] = [cb for cb in callbacks if cb is not callback]


def _check_tuner_configuration(
    train_dataloaders: Any, val_dataloaders: Any, dataloaders: Any, method: str
) -> None:
    if method not in _METHODS:
        raise ValueError(f"`method={method!r}` is invalid: expected one of {_METHODS}.")
    if method == "fit":
        if dataloaders is not None:
            raise MisconfigurationException(
                f"In tuner with method={method!r}, `dataloaders` argument should be None,"
                " please consider setting `train_dataloaders` and `val_dataloaders` instead."
            )
    elif train_dataloaders is not None or val_dataloaders is not None:
        raise MisconfigurationException(
            f"In tuner with `method`={method!r}, `train_dataloaders` and `val_dataloaders`"
            " arguments should be None, please consider setting `dataloaders` instead."
        )
