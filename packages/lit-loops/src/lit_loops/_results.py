"""The store behind ``self.log``: per-hook validation, step values and epoch reductions.

Step values are kept as (detached) tensors as they were logged: nothing is moved between devices or
converted to Python numbers until a logger, the progress bar or ``callback_metrics`` asks for them. Epoch
reductions accumulate into short Python lists that are folded into one tensor every few hundred entries, so
a ``self.log`` call costs a couple of list appends.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from lit_hooks import MisconfigurationException, rank_zero_warn

__all__ = [
    "FxValidator",
    "ResultCollection",
    "ResultMetric",
    "extract_batch_size",
]

_STEP = (
    (False, True),
    (False, True),
    True,
    False,
)  # allowed_on_step, allowed_on_epoch, default_step, default_epoch
_EVAL_STEP = ((False, True), (False, True), False, True)
_EPOCH_ONLY = ((False,), (True,), False, True)

_FX_OPTIONS: dict[str, tuple[tuple[bool, ...], tuple[bool, ...], bool, bool] | None] = {
    **dict.fromkeys(
        (
            "on_before_backward",
            "backward",
            "on_after_backward",
            "on_before_optimizer_step",
            "optimizer_step",
            "configure_gradient_clipping",
            "clip_gradients",
            "on_before_zero_grad",
            "optimizer_zero_grad",
            "on_train_batch_start",
            "on_train_batch_end",
            "training_step",
        ),
        _STEP,
    ),
    **dict.fromkeys(
        (
            "on_validation_batch_start",
            "on_validation_batch_end",
            "on_test_batch_start",
            "on_test_batch_end",
            "validation_step",
            "test_step",
        ),
        _EVAL_STEP,
    ),
    **dict.fromkeys(
        (
            "on_train_start",
            "on_validation_start",
            "on_test_start",
            "on_train_epoch_start",
            "on_train_epoch_end",
            "on_validation_epoch_start",
            "on_validation_epoch_end",
            "on_test_epoch_start",
            "on_test_epoch_end",
        ),
        _EPOCH_ONLY,
    ),
    **dict.fromkeys(
        (
            "lr_scheduler_step",
            "on_fit_start",
            "on_fit_end",
            "on_sanity_check_start",
            "on_sanity_check_end",
            "on_train_end",
            "on_validation_end",
            "on_test_end",
            "on_predict_start",
            "on_predict_end",
            "on_predict_epoch_start",
            "on_predict_epoch_end",
            "on_before_batch_transfer",
            "transfer_batch_to_device",
            "on_after_batch_transfer",
            "on_predict_batch_start",
            "on_predict_batch_end",
            "on_exception",
            "state_dict",
            "on_save_checkpoint",
            "on_load_checkpoint",
            "load_state_dict",
            "setup",
            "teardown",
            "configure_sharded_model",
            "configure_model",
            "predict_step",
            "configure_optimizers",
            "train_dataloader",
            "val_dataloader",
            "test_dataloader",
            "predict_dataloader",
            "prepare_data",
            "configure_callbacks",
            "on_validation_model_zero_grad",
            "on_validation_model_eval",
            "on_test_model_eval",
            "on_validation_model_train",
            "on_test_model_train",
            "on_predict_model_eval",
        ),
        None,
    ),
}


class FxValidator:
    """Which hooks may call ``self.log`` and with which ``on_step``/``on_epoch`` values (Lightning's table)."""

    functions = _FX_OPTIONS
    _cache: ClassVar[dict[tuple[str, bool | None, bool | None], tuple[bool, bool]]] = {}

    @classmethod
    def check(cls, fx: str, on_step: bool | None, on_epoch: bool | None) -> tuple[bool, bool]:
        """Validate a ``self.log`` call made inside hook ``fx`` and return the resolved levels."""
        key = (fx, on_step, on_epoch)
        cached = cls._cache.get(key)
        if cached is not None:
            return cached
        levels = cls._check(fx, on_step, on_epoch)
        cls._cache[key] = levels
        return levels

    @classmethod
    def _check(cls, fx: str, on_step: bool | None, on_epoch: bool | None) -> tuple[bool, bool]:
        if fx not in cls.functions:
            raise RuntimeError(f"Logging inside `{fx}` is not supported: it is not a hook the loops manage.")
        opts = cls.functions[fx]
        if opts is None:
            raise MisconfigurationException(
                f"You can't `self.log()` inside `{fx}`. HINT: You can still log directly to the logger by using"
                " `self.logger.experiment`."
            )
        allowed_step, allowed_epoch, default_step, default_epoch = opts
        on_step = default_step if on_step is None else on_step
        on_epoch = default_epoch if on_epoch is None else on_epoch
        if on_step not in allowed_step:
            raise MisconfigurationException(
                f"You can't `self.log(on_step={on_step})` inside `{fx}`, must be one of {allowed_step}."
            )
        if on_epoch not in allowed_epoch:
            raise MisconfigurationException(
                f"You can't `self.log(on_epoch={on_epoch})` inside `{fx}`, must be one of {allowed_epoch}."
            )
        return on_step, on_epoch


_REDUCTIONS = {"mean": "mean", "avg": "mean", "sum": "sum", "max": "max", "min": "min"}
_TORCH_REDUCTIONS = {torch.mean: "mean", torch.sum: "sum", torch.max: "max", torch.min: "min"}


def parse_reduce_fx(reduce_fx: str | Callable[..., Any]) -> str:
    """Return ``"mean"``, ``"sum"``, ``"max"`` or ``"min"`` for a ``reduce_fx`` argument."""
    if reduce_fx == "mean":
        return "mean"
    if isinstance(reduce_fx, str):
        parsed = _REDUCTIONS.get(reduce_fx.lower())
    else:
        parsed = _TORCH_REDUCTIONS.get(reduce_fx)  # type: ignore[call-overload]
    if parsed is None:
        raise MisconfigurationException(
            "Only `self.log(..., reduce_fx={min,max,mean,sum})` are supported (as strings or the torch functions)."
            " If you need a custom reduction, please log a `torchmetrics.Metric` instance instead."
            f" Found: {reduce_fx!r}"
        )
    return parsed


def _is_metric(value: Any) -> bool:
    cls = type(value)
    return any(
        c.__name__ in ("Metric", "MetricCollection") and "torchmetrics" in c.__module__ for c in cls.__mro__
    )


def _iter_batch_sizes(batch: Any) -> Iterable[int | None]:
    if isinstance(batch, Tensor):
        yield 1 if batch.ndim == 0 else batch.size(0)
    elif isinstance(batch, Mapping):
        for v in batch.values():
            yield from _iter_batch_sizes(v)
    elif isinstance(batch, Iterable) and not isinstance(batch, str):
        for v in batch:
            yield from _iter_batch_sizes(v)
    elif is_dataclass(batch) and not isinstance(batch, type):
        for f in fields(batch):
            yield from _iter_batch_sizes(getattr(batch, f.name))
    else:
        yield None


_warned_ambiguous: set[int] = set()


def extract_batch_size(batch: Any) -> int:
    """The size of the first tensor found in ``batch`` (warns when the collection is ambiguous)."""
    message = (
        "We could not infer the batch_size from the batch. Either simplify its structure"
        " or provide the batch_size as `self.log(..., batch_size=batch_size)`."
    )
    size: int | None = None
    try:
        for bs in _iter_batch_sizes(batch):
            if size is None:
                size = bs
            elif size != bs:
                rank_zero_warn(
                    "Trying to infer the `batch_size` from an ambiguous collection. The batch size we"
                    f" found is {size}. To avoid any miscalculations, use `self.log(..., batch_size=batch_size)`."
                )
                break
    except RecursionError as err:
        raise RecursionError(message) from err
    if size is None:
        raise MisconfigurationException(message)
    return size


_FOLD_EVERY = 256


class ResultMetric:
    """One logged key: its options, the last step value and the epoch accumulator.

    Args:
        fx: the hook that logged it (with ``.N`` appended for dataloader ``N``).
        name: the logged name.
        options: the tuple of logging options used to detect a re-log with different arguments.
    """

    __slots__ = (
        "_warned_dtype",
        "acc",
        "acc_size",
        "add_dataloader_idx",
        "computed",
        "dataloader_idx",
        "enable_graph",
        "fx",
        "has_reset",
        "is_tensor",
        "logger",
        "metric_attribute",
        "name",
        "on_epoch",
        "on_step",
        "options",
        "prog_bar",
        "rank_zero_only",
        "reduce",
        "sizes",
        "step_value",
        "sync_dist",
        "sync_fn",
        "sync_group",
        "value",
        "values",
    )

    def __init__(self, fx: str, name: str, options: tuple[Any, ...], is_tensor: bool) -> None:
        self.fx = fx
        self.name = name
        (
            self.prog_bar,
            self.logger,
            self.on_step,
            self.on_epoch,
            self.reduce,
            self.enable_graph,
            self.add_dataloader_idx,
            self.dataloader_idx,
            self.metric_attribute,
            self.sync_dist,
            self.sync_group,
            self.rank_zero_only,
        ) = options
        self.options = options
        self.sync_fn: Callable[..., Any] | None = None
        self.is_tensor = is_tensor
        self.value: Any = None
        self.step_value: Any = None
        self.values: list[Tensor] = []
        self.sizes: list[int] = []
        self.acc: Tensor | None = None
        self.acc_size: Tensor | None = None
        self.computed: Tensor | None = None
        self.has_reset = False
        self._warned_dtype = False

    @property
    def forked(self) -> bool:
        """Logged both per step and per epoch (names get ``_step``/``_epoch`` suffixes)."""
        return self.on_step and self.on_epoch

    def _sync(self, value: Tensor, op: str | None = None) -> Tensor:
        # ``rank_zero_only`` values are logged from rank 0 only and never synchronized
        if self.sync_dist and self.sync_fn is not None and not self.rank_zero_only:
            return self.sync_fn(value.clone(), group=self.sync_group, reduce_op=op or self.reduce)
        return value

    def update(self, value: Any, batch_size: int) -> None:
        """Record one logged value."""
        self.has_reset = False
        self.computed = None
        if not self.is_tensor:
            self.value = value
            self.step_value = getattr(value, "_forward_cache", None)
            return
        if not value.is_floating_point() or value.dtype not in (torch.float32, torch.float64):
            if not value.is_floating_point() and not self._warned_dtype:
                self._warned_dtype = True
                rank_zero_warn(
                    f"You called `self.log({self.name!r}, ...)` in your `{self.fx}` but the value needs to"
                    " be floating to be reduced. Converting it to float32."
                    " You can silence this warning by converting the value to floating point yourself."
                )
            value = value.to(torch.float32 if torch.get_default_dtype() != torch.float64 else torch.float64)
        if self.on_step:
            self.step_value = self._sync(value) if self.sync_dist else value
        if self.on_epoch:
            self.values.append(value)
            if self.reduce == "mean":
                self.sizes.append(batch_size)
            if len(self.values) >= _FOLD_EVERY:
                self._fold()

    def _fold(self) -> None:
        if not self.values:
            return
        values = self.values
        device = values[0].device
        if any(v.device != device for v in values):  # a key logged from several devices
            values = [v.to(device) for v in values]
        stacked = torch.stack(values)
        reduce = self.reduce
        if reduce == "mean":
            weights = torch.tensor(self.sizes, dtype=stacked.dtype, device=stacked.device)
            part = (stacked * weights).sum()
            part_size = weights.sum()
            if self.acc is not None and self.acc.device != part.device:
                part, part_size = part.to(self.acc.device), part_size.to(self.acc.device)
            self.acc_size = part_size if self.acc_size is None else self.acc_size + part_size
            self.acc = part if self.acc is None else self.acc + part
        elif reduce == "sum":
            part = stacked.sum()
            self.acc = part if self.acc is None else self.acc + part
        elif reduce == "max":
            part = stacked.max()
            self.acc = part if self.acc is None else torch.maximum(self.acc, part)
        else:
            part = stacked.min()
            self.acc = part if self.acc is None else torch.minimum(self.acc, part)
        self.values = []
        self.sizes = []

    def compute(self) -> Tensor | None:
        """The epoch value (reduced over the epoch, synced across processes when ``sync_dist``)."""
        if self.computed is not None:
            return self.computed
        if not self.is_tensor:
            self.computed = self.value.compute() if self.value is not None else None
            return self.computed
        self._fold()
        if self.acc is None:
            return None
        if self.reduce == "mean":
            assert self.acc_size is not None
            total = self._sync(self.acc, "sum")
            size = self._sync(self.acc_size, "sum")
            self.computed = total / size
        else:
            self.computed = self._sync(self.acc)
        return self.computed

    def reset(self) -> None:
        """Forget the values of the finished epoch."""
        if not self.is_tensor and self.value is not None:
            self.value.reset()
        self.values = []
        self.sizes = []
        self.acc = None
        self.acc_size = None
        self.computed = None
        self.step_value = None
        self.has_reset = True


class ResultCollection(dict):  # type: ignore[type-arg]
    """All values logged during one loop (training or evaluation), keyed by ``"<hook>.<name>"``.

    Args:
        training: whether this is the training loop's collection (step metrics then also reach
            ``callback_metrics``).
    """

    DATALOADER_SUFFIX = "/dataloader_idx_{}"

    def __init__(self, training: bool) -> None:
        super().__init__()
        self.training = training
        self.batch: Any = None
        self.batch_size: int | None = None
        self.dataloader_idx: int | None = None
        self.on_step_phase = False

    def current_batch_size(self) -> int:
        """The batch size inferred from the current batch (computed once per batch)."""
        if self.batch_size is None:
            self.batch_size = extract_batch_size(self.batch) if self.batch is not None else 1
        return self.batch_size

    def log(
        self,
        fx: str,
        name: str,
        value: Any,
        *,
        prog_bar: bool,
        logger: bool,
        on_step: bool,
        on_epoch: bool,
        reduce: str,
        enable_graph: bool,
        add_dataloader_idx: bool,
        batch_size: int | None,
        sync_dist: bool,
        sync_fn: Callable[..., Any] | None,
        sync_group: Any,
        metric_attribute: str | None,
        rank_zero_only: bool,
    ) -> None:
        """Record one ``self.log`` call (already validated)."""
        dl_idx = self.dataloader_idx
        key = f"{fx}.{name}"
        if add_dataloader_idx and dl_idx is not None:
            key += f".{dl_idx}"
            fx = f"{fx}.{dl_idx}"
        options = (
            prog_bar,
            logger,
            on_step,
            on_epoch,
            reduce,
            enable_graph,
            add_dataloader_idx,
            dl_idx,
            metric_attribute,
            sync_dist,
            sync_group,
            rank_zero_only,
        )
        result = self.get(key)
        is_tensor = isinstance(value, Tensor)
        if result is None:
            if not on_step and not on_epoch:
                raise MisconfigurationException("`self.log(on_step=False, on_epoch=False)` is not useful.")
            result = ResultMetric(fx, name, options, is_tensor)
            result.sync_fn = sync_fn
            self[key] = result
        elif result.options != options:
            raise MisconfigurationException(
                f"You called `self.log({name}, ...)` twice in `{fx}` with different arguments. This is not allowed"
            )
        if is_tensor and not enable_graph:
            value = value.detach()
        if batch_size is None and result.on_epoch and result.reduce == "mean" and is_tensor:
            batch_size = self.current_batch_size()
        result.update(value, batch_size or 1)

    def reset(self, metrics: bool | None = None, fx: str | None = None) -> None:
        """Reset results (``metrics``: True = torchmetrics only, False = tensors only, None = both)."""
        for item in self.values():
            if (metrics is None or metrics != item.is_tensor) and (fx is None or item.fx == fx):
                item.reset()

    def _names(self, item: ResultMetric, on_step: bool) -> tuple[str, str]:
        name = item.name
        forked = f"{name}_{'step' if on_step else 'epoch'}" if item.forked else name
        if item.add_dataloader_idx and item.dataloader_idx is not None:
            suffix = self.DATALOADER_SUFFIX.format(item.dataloader_idx)
            name += suffix
            forked += suffix
        return name, forked

    def metrics(
        self, on_step: bool, dataloader_idx: Any = ...
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``(callback, log, progress_bar)`` dictionaries of the current step (``on_step``) or epoch values.

        Values stay tensors (progress-bar values too: they are converted by whoever displays them).
        """
        callback: dict[str, Any] = {}
        log: dict[str, Any] = {}
        pbar: dict[str, Any] = {}
        want_idx = self.dataloader_idx if dataloader_idx is ... else dataloader_idx
        for item in self.values():
            if item.has_reset or item.dataloader_idx != want_idx:
                continue
            if on_step:
                if not item.on_step:
                    continue
                value = item.step_value
            else:
                if not item.on_epoch:
                    continue
                value = item.compute()
            if not isinstance(value, Tensor):
                continue
            if not item.enable_graph:
                value = value.detach()
            name, forked = self._names(item, on_step)
            if item.logger:
                log[forked] = value
            if self.training or (item.on_epoch and not on_step):
                callback[name] = value
                callback[forked] = value
            if item.prog_bar:
                pbar[forked] = value
        return callback, log, pbar


def to_log_value(name: str, value: Any, device: torch.device | None = None) -> Any:
    """Validate a ``self.log`` value and turn numbers into float tensors on ``device``."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"`self.log({name}, {value})` was called, but the tensor must have a single element."
                f" You can try doing `self.log({name}, {value}.mean())`"
            )
        return value.squeeze() if value.ndim else value
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        if isinstance(value, bool):
            return torch.tensor(float(value), device=device)
        if isinstance(value, dict):
            raise ValueError(  # noqa: TRY004 - Lightning raises ValueError here
                f"`self.log({name}, {value})` was called, but nested dictionaries cannot be logged"
            )
        if _is_metric(value):
            return value
        raise ValueError(
            f"`self.log({name}, {value})` was called, but `{type(value).__name__}` values cannot be logged"
        )
    return torch.tensor(
        value,
        dtype=torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32,
        device=device,
    )
