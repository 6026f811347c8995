"""``BatchSizeFinder``: the largest batch size that runs without running out of memory.

The search runs ``steps_per_trial`` steps per candidate batch size, doubling it after each success
(``"power"``), and in ``"binsearch"`` mode bisects between the last success and the first failure. An
out-of-memory error (CUDA, cuDNN, MPS or the CPU allocator; see :func:`is_oom_error`) marks a failure; any
other error propagates. The batch size lives in an attribute (``batch_size`` by default) of the model, its
``hparams`` or the datamodule, whose ``*_dataloader`` hooks read it; everything else is restored afterwards.
"""

from __future__ import annotations

import gc
from typing import Any

import torch

from lit_callbacks._tuning import (
    TuningSession,
    datamodule_of,
    find_attr_holders,
    get_attr,
    has_attr,
    set_attr,
    tuning_session,
)
from lit_hooks import Callback, MisconfigurationException, rank_zero_info, rank_zero_warn

__all__ = ["BatchSizeFinder", "garbage_collection_cuda", "is_oom_error"]

_OOM_MARKERS = (
    "DefaultCPUAllocator: can't allocate memory",
    "MPS backend out of memory",
    "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED.",
)


def is_oom_error(exception: BaseException) -> bool:
    """Whether ``exception`` means "out of memory" (CUDA, cuDNN, MPS or the CPU allocator).

    Example:
        >>> is_oom_error(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"))
        True
        >>> is_oom_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
        True
        >>> is_oom_error(RuntimeError("shape mismatch"))
        False
    """
    if isinstance(exception, torch.cuda.OutOfMemoryError):
        return True
    if (
        not isinstance(exception, RuntimeError)
        or len(exception.args) != 1
        or not isinstance(exception.args[0], str)
    ):
        return False
    message = exception.args[0]
    if "CUDA" in message and "out of memory" in message:
        return True
    return any(marker in message for marker in _OOM_MARKERS)


def garbage_collection_cuda(force: bool = False) -> None:
    """When CUDA is in use (or ``force``), collect garbage; with CUDA, also release its cached memory.

    A full collection takes a noticeable fraction of a second in a large process, so on CPU it runs only after
    an out-of-memory failure (``force=True``).
    """
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if not (cuda or force):
        return
    gc.collect()
    if cuda:
        try:
            torch.cuda.empty_cache()
        except RuntimeError as err:  # emptying the cache can itself run out of memory
            if not is_oom_error(err):
                raise


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}={value!r}` is invalid: expected an integer >= {minimum}.")


class BatchSizeFinder(Callback):
    """Finds the largest batch size that fits in memory, at the start of ``fit``/``validate``/``test``/``predict``.

    The batch size is read from and written to ``batch_arg_name`` of the model, ``model.hparams`` or the
    datamodule (whose dataloader hooks must use it). After the search the found size stays there and everything
    else (weights, optimizer, loop progress, callbacks, loggers) is restored. Override the ``on_*_start`` hooks
    and call :meth:`scale_batch_size` elsewhere to search at other times. Needs a trainer providing
    ``tuning_session()`` (lit's Trainer) and a single process.

    Args:
        mode: ``"power"`` (double until a failure) or ``"binsearch"`` (then bisect between the last success and
            the failure).
        steps_per_trial: Steps run with each candidate size.
        init_val: The first batch size tried.
        max_trials: The most successful trials (size increases) before stopping.
        batch_arg_name: The attribute that holds the batch size.
        margin: In ``"binsearch"`` mode, reduce the found size by this fraction (``0 <= margin < 1``) for safety.
        max_val: The largest batch size tried.

    Example:
        >>> BatchSizeFinder(mode="binsearch", max_val=256).optimal_batch_size
        2
    """

    SUPPORTED_MODES = ("power", "binsearch")

    def __init__(
        self,
        mode: str = "power",
        steps_per_trial: int = 3,
        init_val: int = 2,
        max_trials: int = 25,
        batch_arg_name: str = "batch_size",
        margin: float = 0.05,
        max_val: int = 8192,
    ) -> None:
        if not isinstance(mode, str) or mode.lower() not in self.SUPPORTED_MODES:
            raise ValueError(f"`mode={mode!r}` is invalid: expected one of {self.SUPPORTED_MODES}.")
        _check_int("steps_per_trial", steps_per_trial, 1)
        _check_int("init_val", init_val, 1)
        _check_int("max_trials", max_trials, 1)
        _check_int("max_val", max_val, 1)
        if not isinstance(batch_arg_name, str) or not batch_arg_name:
            raise ValueError(
                f"`batch_arg_name={batch_arg_name!r}` is invalid: expected the name of the attribute holding the"
                " batch size, such as 'batch_size'."
            )
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin < 1.0:
            raise ValueError(
                f"`margin={margin!r}` is invalid: expected a fraction with 0 <= margin < 1 (0.05 keeps 95% of the"
                " found batch size)."
            )
        self.optimal_batch_size: int | None = init_val
        self._mode = mode.lower()
        self._steps_per_trial = steps_per_trial
        self._init_val = init_val
        self._max_trials = max_trials
        self._batch_arg_name = batch_arg_name
        self._margin = float(margin)
        self._max_val = max_val
        self._early_exit = False

    def setup(self, trainer: Any, pl_module: Any, stage: str | None = None) -> None:
        if int(getattr(trainer, "world_size", 1)) > 1:
            raise MisconfigurationException(
                "The batch size finder is not supported with distributed strategies: run it on one device, then"
                " train with the size it found."
            )
        name = self._batch_arg_name
        datamodule = datamodule_of(trainer)
        if not has_attr(pl_module, name, datamodule):
            raise MisconfigurationException(
                f"Field {name!r} not found in `model`, `datamodule`, nor their `hparams` attributes. Store the batch"
                " size there (and use it in the `*_dataloader` hooks), or set `batch_arg_name`."
            )
        holders = find_attr_holders(pl_module, name)
        if len(holders) > 1 and holders[0] is pl_module:
            rank_zero_warn(
                f"Field `model.{name}` and `model.hparams.{name}` are mutually exclusive! `model.{name}` will be"
                " used as the initial batch size for scaling. If this is not the intended behavior, please remove"
                " either one."
            )

    def scale_batch_size(self, trainer: Any, pl_module: Any) -> None:
        """Run the search now and store the result in :attr:`optimal_batch_size`."""
        session = tuning_session(trainer, type(self).__name__)
        self.optimal_batch_size = self._search(trainer, pl_module, session)
        if self._early_exit:
            session.end_run()

    # ------------------------------------------------------------------ the search
    def _search(self, trainer: Any, pl_module: Any, session: TuningSession) -> int | None:
        if trainer.fast_dev_run:
            rank_zero_warn("Skipping batch size scaler since `fast_dev_run` is enabled.")
            return None
        with session:
            stage = session.stage
            if not session.data_from_hooks():
                arg = "train_dataloaders" if stage == "fit" else "dataloaders"
                raise MisconfigurationException(
                    f"The batch size finder cannot be used with dataloaders passed directly to `.{stage}({arg}=...)`:"
                    " it must rebuild them with each batch size. Return the dataloader from the LightningModule's"
                    " or the LightningDataModule's `*_dataloader` hook (using the batch size attribute) instead."
                )
            if stage != "fit" and session.num_dataloaders() > 1:
                raise MisconfigurationException(
                    f"The batch size finder cannot be used with multiple {stage} dataloaders: return one dataloader."
                )
            progress = session.progress("Scaling batch size", self._max_trials)
            new_size, _ = self._adjust(trainer, pl_module, session, value=self._init_val)
            if self._mode == "power":
                new_size = self._power_scaling(trainer, pl_module, session, new_size, progress)
            else:
                new_size = self._binsearch_scaling(trainer, pl_module, session, new_size, progress)
            garbage_collection_cuda()
        rank_zero_info(f"Finished batch size finder, will continue with full run using batch size {new_size}")
        return new_size

    def _trial(self, session: TuningSession) -> None:
        session.run_trial(self._steps_per_trial, (), val_batches=self._steps_per_trial)

    def _power_scaling(
        self, trainer: Any, pl_module: Any, session: TuningSession, new_size: int, progress: Any
    ) -> int:
        last_success: int | None = None
        for i in range(self._max_trials):
            garbage_collection_cuda()
            try:
                self._trial(session)
            except RuntimeError as err:
                if not is_oom_error(err) or new_size <= 1:
                    raise
                garbage_collection_cuda(force=True)
                next(progress, None)
                if last_success is not None:
                    rank_zero_info(f"Batch size {new_size} failed, going back to batch size {last_success}")
                    new_size, _ = self._adjust(trainer, pl_module, session, value=last_success)
                    session.reload_dataloaders()
                    break
                new_size, _ = self._adjust(trainer, pl_module, session, factor=0.5, desc="failed")
                session.reload_dataloaders()
                continue
            next(progress, None)
            last_success = new_size
            if new_size >= self._max_val:
                rank_zero_info(f"Reached the maximum batch size limit of {self._max_val}. Stopping search.")
                break
            if i + 1 >= self._max_trials:
                break
            new_size, changed = self._adjust(trainer, pl_module, session, factor=2.0, desc="succeeded")
            if not changed:
                break
            session.reload_dataloaders()
        return new_size

    def _binsearch_scaling(
        self, trainer: Any, pl_module: Any, session: TuningSession, new_size: int, progress: Any
    ) -> int:
        low = 1
        high: int | None = None
        count = 0
        while True:
            garbage_collection_cuda()
            try:
                self._trial(session)
            except RuntimeError as err:
                if not is_oom_error(err) or new_size <= 1:
                    raise
                garbage_collection_cuda(force=True)
                next(progress, None)
                high = new_size
                mid = (high + low) // 2
                new_size, _ = self._adjust(trainer, pl_module, session, value=mid, desc="failed")
                session.reload_dataloaders()
                if high - low <= 1:
                    break
                continue
            next(progress, None)
            count += 1
            if new_size >= self._max_val:
                rank_zero_info(f"Reached the maximum batch size limit of {self._max_val}. Stopping search.")
                break
            if count >= self._max_trials:
                break
            low = new_size
            if high is not None:
                if high - low <= 1:
                    break
                new_size, changed = self._adjust(
                    trainer, pl_module, session, value=(high + low) // 2, desc="succeeded"
                )
            else:
                new_size, changed = self._adjust(trainer, pl_module, session, factor=2.0, desc="succeeded")
            if not changed:
                break
            session.reload_dataloaders()
        if self._margin > 0:
            reduced = max(1, int(new_size * (1 - self._margin)))
            if reduced != new_size:
                rank_zero_info(
                    f"Applying margin of {self._margin:.1%}, reducing batch size from {new_size} to {reduced}"
                )
                new_size = reduced
                set_attr(pl_module, self._batch_arg_name, new_size, datamodule_of(trainer))
                session.reload_dataloaders()
        return new_size

    def _adjust(
        self,
        trainer: Any,
        pl_module: Any,
        session: TuningSession,
        factor: float = 1.0,
        value: int | None = None,
        desc: str | None = None,
    ) -> tuple[int, bool]:
        """Set the batch size to ``value`` (or the current one times ``factor``, capped at ``max_val``).

        Returns the new size and whether it changed; the size stays when it already covers the whole dataset.
        """
        name = self._batch_arg_name
        datamodule = datamodule_of(trainer)
        batch_size = int(get_attr(pl_module, name, datamodule))
        length = session.dataset_length()
        if length is not None and batch_size >= length:
            rank_zero_info(
                f"The batch size {batch_size} is greater or equal than the length of your dataset: {length}."
            )
            return batch_size, False
        new_size = value if value is not None else int(batch_size * factor)
        if new_size > self._max_val:
            if desc:
                rank_zero_info(
                    f"Batch size {new_size} exceeds max_val limit {self._max_val}, capping at {self._max_val}"
                )
            new_size = self._max_val
        new_size = max(1, new_size)
        if desc:
            rank_zero_info(f"Batch size {batch_size} {desc}, trying batch size {new_size}")
        set_attr(pl_module, name, new_size, datamodule)
        if new_size != batch_size:
            session.reload_dataloaders()
        return new_size, new_size != batch_size

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.scale_batch_size(trainer, pl_module)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        fn = getattr(getattr(trainer, "state", None), "fn", None)
        if trainer.sanity_checking or str(getattr(fn, "value", fn)) != "validate":
            return
        self.scale_batch_size(trainer, pl_module)

    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self.scale_batch_size(trainer, pl_module)

    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self.scale_batch_size(trainer, pl_module)
