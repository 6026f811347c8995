"""From what the user gave to what a loop iterates: data sources, checks, lengths and limits.

These helpers hold the data-connector logic of the Trainer as plain functions, so a custom loop gets the same
behaviour: where the loaders come from (:class:`DataLoaderSource`), which object's batch-transfer hooks apply
(:class:`DataHookSelector`), how a user's loaders become a :class:`CombinedLoader` (:func:`resolve_dataloaders`),
how many batches a pass has under ``limit_*_batches`` (:func:`parse_num_batches`, :func:`num_batches`), and the
checks and warnings for empty, infinite or invalid loaders.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from lit_data._combined_loader import CombinedLoader, sized_len
from lit_data._position import unwrap_sampler
from lit_data._reinstantiate import (
    auto_add_worker_init_fn,
    capture_init_arguments,
    get_distributed_sampler,
    has_iterable_dataset,
    is_dataloader_shuffled,
    requires_distributed_sampler,
    set_sampler_epoch,
    update_dataloader,
)
from lit_hooks import (
    DataHooks,
    MisconfigurationException,
    PossibleUserWarning,
    RunningStage,
    TrainerFn,
    WarningCache,
    is_overridden,
    rank_zero_warn,
)

__all__ = [
    "DataHookSelector",
    "DataLoaderSource",
    "check_dataloader_iterable",
    "extract_batch_size",
    "has_len",
    "has_len_all_ranks",
    "num_batches",
    "parse_num_batches",
    "prepare_dataloader",
    "request_dataloader",
    "resolve_dataloaders",
    "resolve_datamodule_argument",
    "run_prepare_data",
    "should_reload_dataloaders",
    "suggested_max_num_workers",
    "warn_if_zero_length",
    "worker_check",
]

_warning_cache = WarningCache()

_DEFAULT_MODES = {
    RunningStage.TRAINING: "max_size_cycle",
    RunningStage.VALIDATING: "sequential",
    RunningStage.SANITY_CHECKING: "sequential",
    RunningStage.TESTING: "sequential",
    RunningStage.PREDICTING: "sequential",
}


def _prefix(stage: str | RunningStage) -> str:
    prefix = (
        RunningStage(stage).dataloader_prefix
        if not isinstance(stage, RunningStage)
        else stage.dataloader_prefix
    )
    return prefix or str(stage)


# ----------------------------------------------------------------------------------------------------------------
# lengths
# ----------------------------------------------------------------------------------------------------------------
_ITERABLE_LEN_WARNING = (
    "Your `IterableDataset` has `__len__` defined. In combination with multi-process data loading (when"
    " num_workers > 1), `__len__` could be inaccurate if each worker is not configured independently to avoid"
    " having duplicate data."
)


def warn_if_zero_length(dataloader: object, length: int | None = None) -> bool:
    """Warn (once per message) when ``dataloader`` has length 0; return whether it has.

    Args:
        dataloader: The loader to check.
        length: Its length if already known (``None`` computes it).
    """
    if length is None:
        length = sized_len(dataloader)
    if length == 0:
        rank_zero_warn(
            f"`{type(dataloader).__name__}` returned 0 length. Please make sure this was your intention.",
            category=PossibleUserWarning,
        )
        return True
    return False


def has_len(dataloader: object) -> bool:
    """Whether ``dataloader`` has a ``__len__``; warns when it is 0 or comes from an ``IterableDataset``.

    Example:
        >>> has_len([1, 2]), has_len(iter([1, 2]))
        (True, False)
    """
    length = sized_len(dataloader)
    warn_if_zero_length(dataloader, length)
    if length is not None and has_iterable_dataset(dataloader):
        rank_zero_warn(_ITERABLE_LEN_WARNING)
    return length is not None


def has_len_all_ranks(
    dataloader: object,
    strategy: Any | None = None,
    allow_zero_length_dataloader_with_multiple_devices: bool = False,
) -> bool:
    """Whether ``dataloader`` has a ``__len__`` on this rank, with the checks Lightning makes across ranks.

    The total length is summed over ranks with ``strategy.reduce`` only when ``strategy.world_size > 1`` (a
    single process needs no collective). A zero total warns; a zero local length next to a non-zero total
    raises, unless ``allow_zero_length_dataloader_with_multiple_devices`` is set (then it warns).

    Args:
        dataloader: The loader to check.
        strategy: Any object with ``world_size``, ``root_device`` and ``reduce(tensor, reduce_op="sum")`` (e.g. a
            :class:`lit_hooks.StrategyProtocol`), or ``None`` for a single process.
        allow_zero_length_dataloader_with_multiple_devices: Accept an empty loader on some ranks.

    Raises:
        RuntimeError: If this rank's loader is empty while others are not and that is not allowed.
    """
    local_length = sized_len(dataloader)
    if local_length is None:
        return False
    world_size = getattr(strategy, "world_size", 1) if strategy is not None else 1
    if world_size > 1:
        total = strategy.reduce(  # type: ignore[union-attr]
            torch.tensor(local_length, device=strategy.root_device), reduce_op="sum"  # type: ignore[union-attr]
        )
        total_length = int(total.item()) if isinstance(total, Tensor) else int(total)
    else:
        total_length = local_length
    cls_name = type(dataloader).__name__
    if total_length == 0:
        rank_zero_warn(
            f"Total length of `{cls_name}` across ranks is zero. Please make sure this was your intention.",
            category=PossibleUserWarning,
        )
    if total_length > 0 and local_length == 0:
        if not allow_zero_length_dataloader_with_multiple_devices:
            raise RuntimeError(
                f"`{cls_name}` within local rank has zero length. Please make sure that it returns at least 1 batch,"
                " or set `allow_zero_length_dataloader_with_multiple_devices = True` on your module or data module."
            )
        rank_zero_warn(
            f"Total length of `{cls_name}` across ranks is zero, but local rank has zero length. Please be cautious"
            " of uneven batch length."
        )
    if has_iterable_dataset(dataloader):
        rank_zero_warn(_ITERABLE_LEN_WARNING)
    return True


def parse_num_batches(stage: str | RunningStage, length: float, limit_batches: float) -> float:
    """The number of batches of a pass over a loader of ``length`` batches under ``limit_<stage>_batches``.

    An int limit caps the count; a float limit takes that fraction of a finite length (rounded down); an infinite
    length (no ``__len__``) accepts only an int limit or ``1.0``.

    Args:
        stage: The running stage (``"train"``, ``"validate"``, ``"test"``, ``"predict"``, ``"sanity_check"``).
        length: Batches of the loader (``float("inf")`` when unknown).
        limit_batches: The ``limit_*_batches`` value.

    Raises:
        MisconfigurationException: For a fractional limit on an infinite loader, or a fraction that gives 0
            batches.

    Example:
        >>> parse_num_batches("train", 10, 0.25), parse_num_batches("train", 10, 3), parse_num_batches("train", 10, 20)
        (2, 3, 10)
    """
    if length == 0:
        return int(length)
    prefix = _prefix(stage)
    num_batches: float = length
    if isinstance(limit_batches, int):
        num_batches = min(length, limit_batches)
    elif isinstance(limit_batches, float) and length != float("inf"):
        num_batches = int(length * limit_batches)
    elif limit_batches != 1.0:
        raise MisconfigurationException(
            f"When using an `IterableDataset`, `Trainer(limit_{prefix}_batches)` must be `1.0` or an int. An int"
            f" specifies `num_{prefix}_batches` to use."
        )
    if (
        num_batches == 0
        and limit_batches > 0.0
        and isinstance(limit_batches, float)
        and length != float("inf")
    ):
        min_percentage = 1.0 / length
        raise MisconfigurationException(
            f"You requested to check {limit_batches} of the `{prefix}_dataloader` but {limit_batches} * {length} < 1."
            f" Please increase the `limit_{prefix}_batches` argument. Try at least"
            f" `limit_{prefix}_batches={min_percentage}`"
        )
    return num_batches


def num_batches(
    dataloader: object,
    limit_batches: float = 1.0,
    stage: str | RunningStage = RunningStage.TRAINING,
    strategy: Any | None = None,
    allow_zero_length_dataloader_with_multiple_devices: bool = False,
) -> float:
    """Batches of one pass over ``dataloader`` under ``limit_batches`` (``float("inf")`` without ``__len__``).

    Example:
        >>> num_batches(DataLoader(range(10), batch_size=2), 0.5), num_batches(iter(range(3)), 2)
        (2, 2)
    """
    if has_len_all_ranks(dataloader, strategy, allow_zero_length_dataloader_with_multiple_devices):
        length: float = len(dataloader)  # type: ignore[arg-type]
    else:
        length = float("inf")
    return parse_num_batches(stage, length, limit_batches)


def should_reload_dataloaders(
    current_epoch: int, last_reload_epoch: float, reload_dataloaders_every_n_epochs: int
) -> bool:
    """Whether a stage's loaders must be requested again at ``current_epoch``.

    Args:
        current_epoch: The epoch about to start.
        last_reload_epoch: The epoch the loaders were last requested (``float("-inf")`` if never).
        reload_dataloaders_every_n_epochs: The Trainer flag; ``0`` never reloads.

    Raises:
        MisconfigurationException: If the flag is not an int >= 0.

    Example:
        >>> [should_reload_dataloaders(epoch, 0, 2) for epoch in range(4)]
        [False, False, True, True]
    """
    if (
        not isinstance(reload_dataloaders_every_n_epochs, int)
        or isinstance(reload_dataloaders_every_n_epochs, bool)
        or reload_dataloaders_every_n_epochs < 0
    ):
        raise MisconfigurationException(
            "`reload_dataloaders_every_n_epochs` should be an int >= 0, got"
            f" {reload_dataloaders_every_n_epochs!r}. Use 0 to never reload, or N to reload every N epochs."
        )
    n = reload_dataloaders_every_n_epochs
    return bool(n and current_epoch - last_reload_epoch >= n)


# ----------------------------------------------------------------------------------------------------------------
# batch size inference
# ----------------------------------------------------------------------------------------------------------------
def _extract_batch_size(batch: Any) -> Generator[int | None, None, None]:
    if isinstance(batch, Tensor):
        yield 1 if batch.ndim == 0 else batch.size(0)
    elif isinstance(batch, (Iterable, Mapping)) and not isinstance(batch, (str, bytes)):
        values = batch.values() if isinstance(batch, Mapping) else batch
        for sample in values:
            yield from _extract_batch_size(sample)
    elif is_dataclass(batch) and not isinstance(batch, type):
        for f in fields(batch):
            yield from _extract_batch_size(getattr(batch, f.name))
    else:
        yield None


def extract_batch_size(batch: Any) -> int:
    """The batch size of ``batch``: the first dimension of the first tensor found in it.

    Raises:
        MisconfigurationException: If no tensor is found.

    Example:
        >>> extract_batch_size({"x": torch.zeros(4, 3), "y": [torch.zeros(4)]})
        4
    """
    error_msg = (
        "We could not infer the batch_size from the batch. Either simplify its structure"
        " or provide the batch_size as `self.log(..., batch_size=batch_size)`."
    )
    batch_size = None
    try:
        for size in _extract_batch_size(batch):
            if batch_size is None:
                batch_size = size
            elif batch_size != size:
                _warning_cache.warn(
                    "Trying to infer the `batch_size` from an ambiguous collection. The batch size we"
                    f" found is {batch_size}. To avoid any miscalculations, use `self.log(..., batch_size=batch_size)`."
                )
                break
    except RecursionError:
        raise RecursionError(error_msg) from None
    if batch_size is None:
        raise MisconfigurationException(error_msg)
    return batch_size


# ----------------------------------------------------------------------------------------------------------------
# sources of loaders
# ----------------------------------------------------------------------------------------------------------------
def _is_module(instance: object) -> bool:
    return isinstance(instance, DataHooks)


@dataclass
class DataLoaderSource:
    """Where a stage's loaders come from: a module's ``*_dataloader()`` hook, or loaders given directly.

    Args:
        instance: A LightningModule, a LightningDataModule (anything built on :class:`lit_hooks.DataHooks`), or
            a loader / collection of loaders.
        name: The hook to call when ``instance`` is a module, e.g. ``"train_dataloader"``.
    """

    instance: Any
    name: str

    def dataloader(self, call_hook: Callable[[Any, str], Any] | None = None) -> Any:
        """The loaders: the hook's result for a module (through ``call_hook(instance, name)`` if given)."""
        if self.is_module():
            if call_hook is not None:
                return call_hook(self.instance, self.name)
            return getattr(self.instance, self.name)()
        if self.instance is None:
            raise MisconfigurationException(
                f"No data was given for `{self.name}`: pass data loaders, or a module that implements `{self.name}()`."
            )
        return self.instance

    def is_defined(self) -> bool:
        """Whether loaders can be obtained: given directly, or the module overrides the hook."""
        return not self.is_module() or is_overridden(self.name, self.instance)

    def is_module(self) -> bool:
        """Whether :attr:`instance` is a module (its hook provides the loaders)."""
        return _is_module(self.instance)


def request_dataloader(source: DataLoaderSource, call_hook: Callable[[Any, str], Any] | None = None) -> Any:
    """Get the loaders of ``source``, recording the arguments of every ``DataLoader`` created meanwhile.

    The recorded arguments let :func:`update_dataloader` rebuild them (e.g. with a distributed sampler).
    """
    with capture_init_arguments() if source.is_module() else nullcontext():
        return source.dataloader(call_hook)


@dataclass
class DataHookSelector:
    """Pick whose batch-transfer hook runs when both a module and a data module are present.

    The data module wins when it overrides the hook (with a warning if both do); otherwise the module's runs.

    Args:
        model: The module.
        datamodule: The data module, or ``None``.
    """

    model: Any
    datamodule: Any | None
    _valid_hooks: tuple[str, ...] = field(
        default=("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
    )

    def get_instance(self, hook_name: str) -> Any:
        """The object whose ``hook_name`` should be called."""
        if hook_name not in self._valid_hooks:
            raise ValueError(
                f"`{hook_name}` is not a shared hook within `LightningModule` and `LightningDataModule`."
                f" Valid hooks are {self._valid_hooks}."
            )
        if self.datamodule is None:
            return self.model
        if is_overridden(hook_name, self.datamodule):
            if is_overridden(hook_name, self.model):
                _warning_cache.warn(
                    f"You have overridden `{hook_name}` in both `LightningModule` and `LightningDataModule`."
                    " It will use the implementation from `LightningDataModule` instance."
                )
            return self.datamodule
        if is_overridden(hook_name, self.model):
            _warning_cache.warn(
                f"You have overridden `{hook_name}` in `LightningModule` but have passed in a"
                " `LightningDataModule`. It will use the implementation from `LightningModule` instance."
            )
        return self.model


def resolve_datamodule_argument(
    trainer_fn: str | TrainerFn,
    dataloaders: Any = None,
    datamodule: Any = None,
    val_dataloaders: Any = None,
) -> tuple[Any, Any]:
    """Validate the data arguments of ``Trainer.fit/validate/test/predict``; return ``(dataloaders, datamodule)``.

    A data module passed in the dataloaders position is moved to ``datamodule``.

    Raises:
        MisconfigurationException: If loaders and a data module are both given.
    """
    from lit_data._datamodule import LightningDataModule

    fn = TrainerFn(trainer_fn)
    if isinstance(dataloaders, LightningDataModule):
        datamodule, dataloaders = dataloaders, None
    if fn == TrainerFn.FITTING:
        if (dataloaders is not None or val_dataloaders is not None) and datamodule is not None:
            raise MisconfigurationException(
                "You cannot pass `train_dataloader` or `val_dataloaders` to `trainer.fit(datamodule=...)`"
            )
    elif dataloaders is not None and datamodule is not None:
        method = {
            TrainerFn.VALIDATING: "validate",
            TrainerFn.TESTING: "test",
            TrainerFn.PREDICTING: "predict",
        }[fn]
        raise MisconfigurationException(
            f"You cannot pass both `trainer.{method}(dataloaders=..., datamodule=...)`"
        )
    return dataloaders, datamodule


def check_dataloader_iterable(
    dataloader: object, source: DataLoaderSource, trainer_fn: str | TrainerFn
) -> None:
    """Raise a ``TypeError`` naming the source when ``dataloader`` is not iterable."""
    if isinstance(dataloader, DataLoader):
        return  # always iterable; calling iter() could start workers
    try:
        iter(dataloader)  # type: ignore[call-overload]
    except TypeError:
        fn = TrainerFn(trainer_fn)
        prefix = "train_" if fn == TrainerFn.FITTING else ""
        method = {
            TrainerFn.FITTING: "fit",
            TrainerFn.VALIDATING: "validate",
            TrainerFn.TESTING: "test",
            TrainerFn.PREDICTING: "predict",
        }[fn]
        if not source.is_module():
            raise TypeError(
                f"An invalid dataloader was passed to `Trainer.{method}({prefix}dataloaders=...)`. Found {dataloader}."
            ) from None
        if not is_overridden(source.name, source.instance):
            raise TypeError(
                f"An invalid dataloader was passed to `Trainer.{method}({prefix}dataloaders=...)`. Found {dataloader}."
                f" Either pass the dataloader to the `.{method}()` method OR implement `def {source.name}(self):` in"
                " your LightningModule/LightningDataModule."
            ) from None
        raise TypeError(
            f"An invalid dataloader was returned from `{type(source.instance).__name__}.{source.name}()`."
            f" Found {dataloader}."
        ) from None


def resolve_dataloaders(
    dataloaders: Any,
    stage: str | RunningStage = RunningStage.TRAINING,
    mode: str | None = None,
    limit_batches: float | None = None,
    strategy: Any | None = None,
    allow_zero_length_dataloader_with_multiple_devices: bool = False,
) -> CombinedLoader:
    """Turn what the user gave (a loader, any iterable, a list/tuple/dict of them) into a :class:`CombinedLoader`.

    A :class:`CombinedLoader` is returned as is. The mode defaults to ``"max_size_cycle"`` for training and
    ``"sequential"`` for evaluation and prediction (several loaders then get their own ``dataloader_idx``). With
    ``limit_batches`` the per-loader limits are set like the Trainer's ``limit_*_batches``.

    Example:
        >>> combined = resolve_dataloaders([[1, 2], [3]], stage="validate")
        >>> [(b, i, d) for b, i, d in combined]
        [(1, 0, 0), (2, 1, 0), (3, 0, 1)]
    """
    stage = RunningStage(stage)
    if isinstance(dataloaders, CombinedLoader):
        combined = dataloaders
    else:
        combined = CombinedLoader(dataloaders, mode or _DEFAULT_MODES[stage])  # type: ignore[arg-type]
    if limit_batches is not None:
        combined.limits = [
            num_batches(
                dl, limit_batches, stage, strategy, allow_zero_length_dataloader_with_multiple_devices
            )
            for dl in combined.flattened
        ]
    return combined


# ----------------------------------------------------------------------------------------------------------------
# preparing one loader for a run
# ----------------------------------------------------------------------------------------------------------------
def _num_cpus_available() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    count = os.cpu_count()
    return 1 if count is None else count


def suggested_max_num_workers(local_world_size: int) -> int:
    """An upper bound for ``num_workers``: the CPUs per local process, minus one for the main process.

    Raises:
        ValueError: If ``local_world_size < 1``.
    """
    if local_world_size < 1:
        raise ValueError(f"`local_world_size` should be >= 1, got {local_world_size}.")
    return max(1, _num_cpus_available() // local_world_size - 1)


def worker_check(
    dataloader: object, name: str, num_devices: int = 1, reload_dataloaders_every_n_epochs: int = 0
) -> None:
    """Warn about worker settings that are likely slow or unstable (as the Trainer does)."""
    if not isinstance(dataloader, DataLoader):
        return
    upper_bound = suggested_max_num_workers(num_devices)
    context = dataloader.multiprocessing_context
    start_method = context.get_start_method() if context is not None else multiprocessing.get_start_method()
    if dataloader.num_workers > 0 and start_method == "spawn" and not dataloader.persistent_workers:
        rank_zero_warn(
            f"Consider setting `persistent_workers=True` in '{name}' to speed up the dataloader worker initialization."
        )
    elif dataloader.num_workers < 2 and upper_bound > 1:
        rank_zero_warn(
            f"The '{name}' does not have many workers which may be a bottleneck. Consider increasing the value of the"
            f" `num_workers` argument` to `num_workers={upper_bound}` in the `DataLoader` to improve performance.",
            category=PossibleUserWarning,
        )
    if dataloader.persistent_workers and dataloader.pin_memory and reload_dataloaders_every_n_epochs > 0:
        rank_zero_warn(
            "The combination of `DataLoader(`pin_memory=True`, `persistent_workers=True`) and `Trainer("
            "reload_dataloaders_every_n_epochs > 0)` can lead to instability due to limitations in PyTorch"
            " (https://github.com/pytorch/pytorch/issues/91252). We recommend setting `pin_memory=False` in this case.",
            category=PossibleUserWarning,
        )


def prepare_dataloader(
    dataloader: Any,
    stage: str | RunningStage,
    *,
    use_distributed_sampler: bool = True,
    is_distributed: bool = False,
    distributed_sampler_kwargs: dict[str, Any] | None = None,
    global_rank: int = 0,
    overfit_batches: float = 0,
    shuffle: bool | None = None,
    epoch: int | None = None,
    num_devices: int = 1,
    reload_dataloaders_every_n_epochs: int = 0,
    check_workers: bool = True,
) -> Any:
    """Prepare one user loader for a stage, as the Trainer does before iterating it.

    Warns about shuffling in evaluation, injects a distributed sampler when needed (or the batch-index recorder
    for prediction), checks the worker settings, adds the seeding ``worker_init_fn`` after
    ``seed_everything(workers=True)`` and, when ``epoch`` is given, calls ``set_epoch`` on the samplers.

    Args:
        dataloader: The loader (anything else is returned unchanged).
        stage: The running stage.
        use_distributed_sampler: The Trainer flag of the same name.
        is_distributed: Whether the strategy runs several processes.
        distributed_sampler_kwargs: ``num_replicas``/``rank`` (e.g. ``strategy.distributed_sampler_kwargs``).
        global_rank: This process's global rank (for worker seeding).
        overfit_batches: The Trainer's ``overfit_batches`` (disables shuffling of the distributed sampler).
        shuffle: Shuffle of the distributed sampler. ``None`` follows Lightning: always for training, the
            loader's own setting otherwise.
        epoch: When given, ``set_sampler_epoch(loader, epoch)`` is called.
        num_devices: Devices of the run (for the worker-count suggestion).
        reload_dataloaders_every_n_epochs: The Trainer flag (for a worker warning).
        check_workers: Whether to run :func:`worker_check`.
    """
    stage = RunningStage(stage)
    if stage != RunningStage.TRAINING:
        is_shuffled = is_dataloader_shuffled(dataloader)
        if is_shuffled:
            rank_zero_warn(
                f"Your `{stage.dataloader_prefix}_dataloader`'s sampler has shuffling enabled, it is strongly"
                " recommended that you turn shuffling off for val/test dataloaders.",
                category=PossibleUserWarning,
            )
    else:
        is_shuffled = True
    if shuffle is not None:
        is_shuffled = shuffle
    if isinstance(dataloader, DataLoader):
        needs_sampler = requires_distributed_sampler(dataloader, use_distributed_sampler, is_distributed)
        if needs_sampler or stage == RunningStage.PREDICTING:
            if needs_sampler:
                sampler = get_distributed_sampler(
                    dataloader,
                    is_shuffled,
                    overfit_batches=overfit_batches,
                    mode=stage,
                    **(distributed_sampler_kwargs or {}),
                )
            else:
                sampler = unwrap_sampler(dataloader.sampler)
            dataloader = update_dataloader(dataloader, sampler, mode=stage)
    if check_workers:
        worker_check(
            dataloader,
            f"{stage.dataloader_prefix}_dataloader",
            num_devices,
            reload_dataloaders_every_n_epochs,
        )
    auto_add_worker_init_fn(dataloader, global_rank)
    if epoch is not None:
        set_sampler_epoch(dataloader, epoch)
    return dataloader


def run_prepare_data(
    datamodule: Any | None,
    module: Any | None,
    *,
    local_rank: int = 0,
    node_rank: int = 0,
    barrier: Callable[[], None] | None = None,
    call_hook: Callable[[Any, str], Any] | None = None,
) -> list[str]:
    """Call ``prepare_data`` where it belongs: once per node, or once globally with ``prepare_data_per_node=False``.

    The data module's hook runs before the module's. ``barrier`` (if given) is called after each hook on every
    rank so no rank reads data before it is ready. Returns the names of the objects whose hook ran here.
    """
    ran: list[str] = []
    local_rank_zero = local_rank == 0
    global_rank_zero = local_rank == 0 and node_rank == 0
    for owner in (datamodule, module):
        if owner is None or not is_overridden("prepare_data", owner):
            continue
        per_node = getattr(owner, "prepare_data_per_node", True)
        if (per_node and local_rank_zero) or (not per_node and global_rank_zero):
            if call_hook is not None:
                call_hook(owner, "prepare_data")
            else:
                owner.prepare_data()
            ran.append(type(owner).__name__)
        if barrier is not None:
            barrier()
    return ran
