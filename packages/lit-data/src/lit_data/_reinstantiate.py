"""Re-create a user's ``DataLoader`` with another sampler, keeping every argument the user gave.

Inside :func:`capture_init_arguments` the ``__init__`` of ``DataLoader``, ``BatchSampler`` and all their
subclasses records the arguments it was called with (and later ``setattr``/``delattr`` calls), so a loader built
by a ``*_dataloader()`` hook can be rebuilt exactly, whatever its class. Outside the context the arguments are
recovered from the instance attributes; when a required ``__init__`` argument cannot be found that way, the
re-creation fails with a message saying which attributes are missing, never silently.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from functools import partial
from typing import Any

from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)
from torch.utils.data.distributed import DistributedSampler

from lit_data._position import unwrap_sampler
from lit_data._samplers import (
    DistributedSamplerWrapper,
    IndexBatchSamplerWrapper,
    UnrepeatedDistributedSamplerWrapper,
)
from lit_hooks import MisconfigurationException, PossibleUserWarning, RunningStage, rank_zero_warn

__all__ = [
    "auto_add_worker_init_fn",
    "capture_init_arguments",
    "get_distributed_sampler",
    "has_iterable_dataset",
    "is_dataloader_shuffled",
    "requires_distributed_sampler",
    "set_sampler_epoch",
    "update_dataloader",
    "use_distributed_sampler",
]

_SAVED_ARGS = "__lit_saved_args"
_SAVED_KWARGS = "__lit_saved_kwargs"
_SAVED_ARG_NAMES = "__lit_saved_arg_names"
_SAVED_DEFAULT_KWARGS = "__lit_saved_default_kwargs"
_INSIDE_INIT = "__lit_inside_init"
_ATTRS_RECORD = "__lit_attrs_record"
_CURRENT_CALL = "__lit_current_call"


def has_iterable_dataset(dataloader: object) -> bool:
    """Whether ``dataloader`` has a ``dataset`` attribute that is an ``IterableDataset``."""
    return isinstance(getattr(dataloader, "dataset", None), IterableDataset)


# ----------------------------------------------------------------------------------------------------------------
# capturing __init__ arguments
# ----------------------------------------------------------------------------------------------------------------
def _all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    stack = [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                stack.append(sub)
    return found


def _wrap_init(init: Callable[..., None], store_explicit_arg: str | None) -> Callable[..., None]:
    @functools.wraps(init)
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> None:
        # inspect ``init`` itself: with multiple inheritance ``obj.__init__`` may be another class's
        old_inside_init = getattr(obj, _INSIDE_INIT, False)
        object.__setattr__(obj, _INSIDE_INIT, True)
        params = inspect.signature(init).parameters
        defaults = OrderedDict(
            (param.name, param.default)
            for param in params.values()
            if param.name != "self" and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        )
        arg_names = tuple(defaults)[: len(args)]
        default_kwargs = {
            name: value
            for name, value in defaults.items()
            if name not in kwargs and name not in arg_names and value is not inspect.Parameter.empty
        }
        # the outermost ``__init__`` (the user's class) is the one to re-call
        if not hasattr(obj, _SAVED_ARGS):
            object.__setattr__(obj, _SAVED_ARGS, args)
            object.__setattr__(obj, _SAVED_KWARGS, kwargs)
            object.__setattr__(obj, _SAVED_ARG_NAMES, arg_names)
            object.__setattr__(obj, _SAVED_DEFAULT_KWARGS, default_kwargs)
        # keep the value the innermost call saw (what reaches the base class)
        if store_explicit_arg is not None:
            if store_explicit_arg in arg_names:
                object.__setattr__(obj, f"__{store_explicit_arg}", args[arg_names.index(store_explicit_arg)])
            elif store_explicit_arg in kwargs:
                object.__setattr__(obj, f"__{store_explicit_arg}", kwargs[store_explicit_arg])
        init(obj, *args, **kwargs)
        object.__setattr__(obj, _INSIDE_INIT, old_inside_init)

    return wrapper


def _wrap_attr_method(method: Callable[..., None], tag: str) -> Callable[..., None]:
    @functools.wraps(method)
    def wrapper(obj: Any, *args: Any) -> None:
        # record only the outermost call of a chain of overridden ``__setattr__``/``__delattr__``
        name = args[0]
        prev_name, prev_tag = getattr(obj, _CURRENT_CALL, (None, "method"))
        first_call = not (prev_name == name and prev_tag == tag)
        object.__setattr__(obj, _CURRENT_CALL, (name, tag))
        method(obj, *args)
        if first_call and not getattr(obj, _INSIDE_INIT, True):
            record = getattr(obj, _ATTRS_RECORD, [])
            record.append((args, tag))
            object.__setattr__(obj, _ATTRS_RECORD, record)
        object.__setattr__(obj, _CURRENT_CALL, (prev_name, prev_tag))

    return wrapper


@contextmanager
def _patch_class_tree(base_cls: type, store_explicit_arg: str | None = None) -> Generator[None, None, None]:
    classes = _all_subclasses(base_cls) | {base_cls}
    patched: list[tuple[type, str, Any]] = []
    try:
        for cls in classes:
            if "__init__" in cls.__dict__:
                patched.append((cls, "__init__", cls.__dict__["__init__"]))
                cls.__init__ = _wrap_init(cls.__dict__["__init__"], store_explicit_arg)  # type: ignore[misc]
            for name, tag in (("__setattr__", "set"), ("__delattr__", "del")):
                if name in cls.__dict__ or cls is base_cls:
                    original = cls.__dict__.get(name)
                    patched.append((cls, name, original))
                    setattr(cls, name, _wrap_attr_method(getattr(cls, name), tag))
        yield
    finally:
        for cls, name, original in reversed(patched):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


@contextmanager
def capture_init_arguments() -> Generator[None, None, None]:
    """Record the ``__init__`` arguments of every ``DataLoader`` and ``BatchSampler`` created in the context.

    Wrap calls to the user's ``*_dataloader()`` hooks in it, so that :func:`update_dataloader` can later rebuild
    loaders of any ``DataLoader`` subclass with all their original arguments.

    Example:
        >>> with capture_init_arguments():
        ...     loader = DataLoader(range(4), batch_size=2)
        >>> getattr(loader, "__lit_saved_kwargs")
        {'batch_size': 2}
    """
    with _patch_class_tree(DataLoader, "dataset"), _patch_class_tree(BatchSampler):
        yield


def _replace_value_in_saved_args(
    key: str,
    value: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    default_kwargs: dict[str, Any],
    arg_names: tuple[str, ...],
) -> tuple[bool, tuple[Any, ...], dict[str, Any]]:
    if key in arg_names:
        index = arg_names.index(key)
        return True, args[:index] + (value,) + args[index + 1 :], kwargs
    if key in kwargs or key in default_kwargs:
        kwargs = dict(kwargs)
        kwargs[key] = value
        return True, args, kwargs
    return False, args, kwargs


def _reinstantiate(orig: Any, *args: Any, **kwargs: Any) -> Any:
    constructor = type(orig)
    try:
        result = constructor(*args, **kwargs)
    except TypeError as ex:
        match = re.match(r".*__init__\(\) got multiple values .* '(\w+)'", str(ex))
        if not match:
            raise
        argument = match.groups()[0]
        raise MisconfigurationException(
            f"The {constructor.__name__} implementation has an error where more than one `__init__` argument"
            f" can be passed to its parent's `{argument}=...` `__init__` argument. This is likely caused by allowing"
            f" passing both a custom argument that will map to the `{argument}` argument as well as `**kwargs`."
            f" `kwargs` should be filtered to make sure they don't contain the `{argument}` key."
            " This argument was automatically passed to your object by lit."
        ) from ex
    for record_args, tag in getattr(orig, _ATTRS_RECORD, []):
        (setattr if tag == "set" else delattr)(result, *record_args)
    return result


# ----------------------------------------------------------------------------------------------------------------
# re-creating a DataLoader
# ----------------------------------------------------------------------------------------------------------------
def update_dataloader(
    dataloader: DataLoader, sampler: Sampler | Iterable, mode: str | None = None
) -> DataLoader:
    """Return a copy of ``dataloader`` that draws its indices from ``sampler``.

    Every argument the user passed is kept: recorded ones when the loader was created inside
    :func:`capture_init_arguments`, otherwise the instance attributes that differ from the ``__init__``
    defaults. Custom batch samplers are re-created around ``sampler``. In ``mode="predict"`` the batch sampler is
    wrapped in an :class:`~lit_data.IndexBatchSamplerWrapper` and ``drop_last`` is turned off.

    Args:
        dataloader: The loader to copy (a ``torch.utils.data.DataLoader`` or a subclass).
        sampler: The new sampler.
        mode: A :class:`lit_hooks.RunningStage` value (``"train"``, ``"validate"``, ``"predict"``...) or ``None``.

    Raises:
        MisconfigurationException: If required ``__init__`` arguments of a ``DataLoader`` subclass cannot be
            recovered, or the subclass does not accept all the arguments it needs.
        TypeError: If a custom batch sampler cannot take the new sampler.
    """
    args, kwargs = _get_dataloader_init_args_and_kwargs(dataloader, sampler, mode)
    return _reinstantiate(dataloader, *args, **kwargs)


def _get_dataloader_init_args_and_kwargs(
    dataloader: DataLoader, sampler: Sampler | Iterable, mode: str | None = None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not isinstance(dataloader, DataLoader):
        raise ValueError(  # noqa: TRY004 - Lightning raises ValueError here
            f"The dataloader {dataloader!r} needs to subclass `torch.utils.data.DataLoader` to have its sampler"
            " replaced. Pass a DataLoader, or set `use_distributed_sampler=False` and shard the data yourself."
        )
    was_wrapped = hasattr(dataloader, _SAVED_ARGS)
    if was_wrapped:
        dl_args: tuple[Any, ...] = getattr(dataloader, _SAVED_ARGS)
        dl_kwargs: dict[str, Any] = dict(getattr(dataloader, _SAVED_KWARGS))
        arg_names: tuple[str, ...] = getattr(dataloader, _SAVED_ARG_NAMES)
        original_dataset = getattr(dataloader, "__dataset", None)
    else:
        attrs = {k: v for k, v in vars(dataloader).items() if not k.startswith("_")}
        attrs["multiprocessing_context"] = dataloader.multiprocessing_context
        for name in ("sampler", "batch_sampler"):
            if name in attrs:
                attrs[name] = unwrap_sampler(attrs[name])
        original_dataset = None
        arg_names = ()

    params = dict(inspect.signature(dataloader.__init__).parameters)  # type: ignore[misc]
    has_variadic_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    if has_variadic_kwargs:
        # ``**kwargs`` are assumed to reach ``DataLoader.__init__``
        base_params = inspect.signature(DataLoader.__init__).parameters
        if was_wrapped:
            params.update({k: v for k, v in base_params.items() if v.default is not v.empty})
        else:
            params.update(base_params)
            params.pop("self", None)

    if not was_wrapped:
        # keep the attributes whose value differs from the ``__init__`` default
        non_defaults = {name for name, p in params.items() if name in attrs and p.default is not attrs[name]}
        non_defaults.add("dataset")  # it may have been passed positionally
        dl_kwargs = {k: v for k, v in attrs.items() if k in non_defaults}
        dl_args = ()

    dataset = dl_kwargs.get("dataset", original_dataset)
    if isinstance(dataset, IterableDataset):
        dl_kwargs["batch_sampler"] = None
        dl_kwargs["sampler"] = None
    else:
        dl_kwargs.update(_resolve_sampler_kwargs(dataloader, sampler, mode))

    required_args = {
        p.name
        for p in params.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.default is p.empty
        and p.name not in dl_kwargs
        and p.name not in arg_names
    }
    if required_args:
        missing = sorted(required_args)
        cls_name = type(dataloader).__name__
        attributes = ", ".join(f"`self.{name}`" for name in missing)
        raise MisconfigurationException(
            f"Trying to inject custom `Sampler` into the `{cls_name}` instance. This would fail as some of the"
            f" `__init__` arguments are not available as instance attributes. The missing attributes are {missing}."
            f" If you instantiate your `{cls_name}` inside a `*_dataloader` hook of your module, we will do this"
            f" for you. Otherwise, define {attributes} inside your `__init__`."
        )

    if not has_variadic_kwargs:
        missing_kwargs = (set(dl_kwargs) | set(arg_names)) - params.keys()
        if missing_kwargs:
            missing = sorted(missing_kwargs)
            cls_name = type(dataloader).__name__
            raise MisconfigurationException(
                f"Trying to inject parameters into the `{cls_name}` instance. This would fail as it doesn't expose"
                f" all its attributes in the `__init__` signature. The missing arguments are {missing}. HINT: If you"
                f" wrote the `{cls_name}` class, add the `__init__` arguments or allow passing `**kwargs`"
            )
    return dl_args, dl_kwargs


_NOT_A_BATCH_SAMPLER = (
    " lit can't inject a (distributed) sampler into your batch sampler, because it doesn't subclass PyTorch's"
    " `BatchSampler`. To mitigate this, either follow the API of `BatchSampler` and instantiate your custom batch"
    " sampler inside the `*_dataloader` hook of your module, or set `use_distributed_sampler=False`. If you choose"
    " the latter, you will be responsible for handling the distributed sampling within your batch sampler."
)


def _resolve_sampler_kwargs(
    dataloader: DataLoader, sampler: Sampler | Iterable, mode: str | None
) -> dict[str, Any]:
    is_predicting = mode == RunningStage.PREDICTING
    batch_sampler = unwrap_sampler(dataloader.batch_sampler)
    if isinstance(batch_sampler, IndexBatchSamplerWrapper):
        batch_sampler = batch_sampler._batch_sampler
    batch_sampler_cls = type(batch_sampler)

    if batch_sampler is not None and (batch_sampler_cls is not BatchSampler or is_predicting):
        if hasattr(batch_sampler, _SAVED_ARGS):
            args = getattr(batch_sampler, _SAVED_ARGS)
            kwargs = getattr(batch_sampler, _SAVED_KWARGS)
            default_kwargs = getattr(batch_sampler, _SAVED_DEFAULT_KWARGS)
            arg_names = getattr(batch_sampler, _SAVED_ARG_NAMES)
            if is_predicting:
                success, args, kwargs = _replace_value_in_saved_args(
                    "drop_last", False, args, kwargs, default_kwargs, arg_names
                )
                if not success:
                    rank_zero_warn(
                        f"Trying to inject `drop_last=False` into batch sampler since you are predicting, however it"
                        f" seems the class `{batch_sampler_cls.__qualname__}` does not support it. Your predictions"
                        " might be incomplete. To mitigate this, expose `drop_last` in the `__init__` method of your"
                        " custom class."
                    )
            success, args, kwargs = _replace_value_in_saved_args(
                "sampler", sampler, args, kwargs, default_kwargs, arg_names
            )
            if not success:
                raise TypeError(
                    "Trying to inject a modified sampler into the batch sampler; however, it seems the class"
                    f" `{batch_sampler_cls.__qualname__}` does not have an argument called `sampler.` To mitigate"
                    " this, expose an argument `sampler` in the `__init__` method of your custom class."
                )
            batch_sampler = _reinstantiate(batch_sampler, *args, **kwargs)
        elif hasattr(batch_sampler, "batch_size") and hasattr(batch_sampler, "drop_last"):
            # looks like a batch sampler although its arguments were not recorded
            try:
                batch_sampler = batch_sampler_cls(
                    sampler,
                    batch_size=batch_sampler.batch_size,
                    drop_last=(False if is_predicting else batch_sampler.drop_last),
                )
            except TypeError as ex:
                match = re.match(r".*__init__\(\) (got multiple values)|(missing \d required)", str(ex))
                if not match:
                    raise
                raise TypeError(_NOT_A_BATCH_SAMPLER) from ex
        elif is_predicting:
            rank_zero_warn(
                f"You are using a custom batch sampler `{batch_sampler_cls.__qualname__}` for prediction. lit would"
                " normally set `drop_last=False` to ensure all samples are returned, but for custom samplers it can't"
                " guarantee this. Make sure your sampler is configured correctly to return all indices.",
                category=PossibleUserWarning,
            )
        else:
            raise TypeError(_NOT_A_BATCH_SAMPLER)

        if is_predicting:
            batch_sampler = IndexBatchSamplerWrapper(batch_sampler)
        # ``batch_sampler`` excludes batch_size, shuffle, sampler and drop_last
        return {
            "sampler": None,
            "shuffle": False,
            "batch_sampler": batch_sampler,
            "batch_size": 1,
            "drop_last": False,
        }

    return {"sampler": sampler, "shuffle": False, "batch_sampler": None}


# ----------------------------------------------------------------------------------------------------------------
# distributed sampling
# ----------------------------------------------------------------------------------------------------------------
def is_dataloader_shuffled(dataloader: object) -> bool:
    """Whether ``dataloader`` shuffles: ``shuffle=True`` was recorded, or its sampler is a ``RandomSampler``."""
    saved_kwargs = getattr(dataloader, _SAVED_KWARGS, None)
    if saved_kwargs is not None:
        if "shuffle" in saved_kwargs:
            return bool(saved_kwargs["shuffle"])
        arg_names = getattr(dataloader, _SAVED_ARG_NAMES, ())
        if "shuffle" in arg_names:
            return bool(getattr(dataloader, _SAVED_ARGS)[arg_names.index("shuffle")])
    if has_iterable_dataset(dataloader):
        return False
    if not hasattr(dataloader, "sampler"):
        return False
    batch_sampler = unwrap_sampler(getattr(dataloader, "batch_sampler", None))
    if batch_sampler is not None:
        sampler = getattr(batch_sampler, "sampler", batch_sampler)
    else:
        sampler = dataloader.sampler
    sampler = unwrap_sampler(sampler)
    if isinstance(sampler, SequentialSampler):
        return False
    return isinstance(sampler, RandomSampler)


def requires_distributed_sampler(
    dataloader: object, use_distributed_sampler: bool, is_distributed: bool
) -> bool:
    """Whether ``dataloader`` should be re-created with a distributed sampler.

    True for a ``DataLoader`` over a map-style dataset whose sampler is not already a ``DistributedSampler``,
    when the run is distributed and ``use_distributed_sampler`` is on.
    """
    return (
        use_distributed_sampler
        and is_distributed
        and isinstance(dataloader, DataLoader)
        and not isinstance(unwrap_sampler(dataloader.sampler), DistributedSampler)
        and not has_iterable_dataset(dataloader)
    )


def get_distributed_sampler(
    dataloader: DataLoader,
    shuffle: bool,
    overfit_batches: float = 0,
    mode: str | None = None,
    **kwargs: Any,
) -> DistributedSampler:
    """The distributed sampler to inject into ``dataloader``.

    ``RandomSampler``/``SequentialSampler`` are replaced by a ``DistributedSampler`` over the dataset; any other
    sampler is sharded with :class:`~lit_data.DistributedSamplerWrapper`; prediction uses
    :class:`~lit_data.UnrepeatedDistributedSamplerWrapper` so that no sample is duplicated.

    Args:
        dataloader: The user's loader.
        shuffle: Whether the distributed sampler shuffles (forced off when ``overfit_batches`` is set).
        overfit_batches: The Trainer's ``overfit_batches``.
        mode: The running stage (``"predict"`` selects the unrepeated sampler).
        **kwargs: ``num_replicas``, ``rank``, ``seed`` (default: ``PL_GLOBAL_SEED`` or 0), ``drop_last``.
    """
    kwargs["shuffle"] = shuffle and not overfit_batches
    kwargs.setdefault("seed", int(os.getenv("PL_GLOBAL_SEED", "0")))
    sampler = unwrap_sampler(dataloader.sampler)
    if mode == RunningStage.PREDICTING:
        return UnrepeatedDistributedSamplerWrapper(sampler, **kwargs)
    if isinstance(sampler, (RandomSampler, SequentialSampler)):
        return DistributedSampler(dataloader.dataset, **kwargs)
    return DistributedSamplerWrapper(sampler, **kwargs)


def use_distributed_sampler(
    dataloader: Any,
    world_size: int,
    rank: int,
    shuffle: bool | None = None,
    seed: int | None = None,
    drop_last: bool = False,
    mode: str | None = None,
) -> Any:
    """Re-create ``dataloader`` so each of ``world_size`` ranks reads its own shard; ``rank`` picks this one's.

    Loaders that are not ``DataLoader`` instances, loaders over iterable datasets and loaders that already use a
    ``DistributedSampler`` are returned unchanged. Everything else the user configured is kept (see
    :func:`update_dataloader`). Call :func:`set_sampler_epoch` at the start of every epoch so the shuffling
    changes per epoch.

    Args:
        dataloader: The user's loader.
        world_size: Number of processes (``num_replicas``).
        rank: Global rank of this process.
        shuffle: Shuffle the shards; ``None`` keeps the loader's own setting (see :func:`is_dataloader_shuffled`).
        seed: Seed of the shuffling, identical on all ranks; ``None`` reads ``PL_GLOBAL_SEED`` (default 0).
        drop_last: Drop the tail instead of padding so that every rank gets the same number of samples.
        mode: The running stage; ``"predict"`` shards without padding and records batch indices.

    Example:
        >>> loader = DataLoader(range(10), batch_size=2)
        >>> [b.tolist() for b in use_distributed_sampler(loader, world_size=2, rank=1)]
        [[1, 3], [5, 7], [9]]
    """
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"`world_size` must be an int >= 1, got {world_size!r}.")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"`rank` must be an int in [0, {world_size}), got {rank!r}.")
    if not isinstance(dataloader, DataLoader) or has_iterable_dataset(dataloader):
        return dataloader
    if isinstance(unwrap_sampler(dataloader.sampler), DistributedSampler) and mode != RunningStage.PREDICTING:
        return dataloader
    if shuffle is None:
        shuffle = is_dataloader_shuffled(dataloader)
    kwargs: dict[str, Any] = {"num_replicas": world_size, "rank": rank, "drop_last": drop_last}
    if seed is not None:
        kwargs["seed"] = seed
    sampler = get_distributed_sampler(dataloader, shuffle, mode=mode, **kwargs)
    return update_dataloader(dataloader, sampler, mode=mode)


def set_sampler_epoch(dataloader: object, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the loader's sampler and on its batch sampler's sampler (each once)."""
    objects: dict[int, Any] = {}
    sampler = getattr(dataloader, "sampler", None)
    if sampler is not None:
        sampler = unwrap_sampler(sampler)
        objects[id(sampler)] = sampler
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    if batch_sampler is not None:
        inner = getattr(unwrap_sampler(batch_sampler), "sampler", None)
        if inner is not None:
            inner = unwrap_sampler(inner)
            objects[id(inner)] = inner
    for obj in objects.values():
        set_epoch = getattr(obj, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)


def auto_add_worker_init_fn(dataloader: object, rank: int) -> None:
    """Give ``dataloader`` the seeding ``worker_init_fn`` when ``seed_everything(workers=True)`` was called.

    A ``worker_init_fn`` set by the user is never replaced.
    """
    if not hasattr(dataloader, "worker_init_fn"):
        return
    if int(os.environ.get("PL_SEED_WORKERS", "0")) and dataloader.worker_init_fn is None:
        from lit_data.seed import pl_worker_init_function

        dataloader.worker_init_fn = partial(pl_worker_init_function, rank=rank)
