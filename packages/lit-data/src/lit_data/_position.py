"""Data position: the loader state needed to continue an interrupted pass exactly.

A pass over a ``DataLoader`` with a map-style dataset is fully described by the random state its sampler drew
from when the pass started, and by how many batches were consumed. :class:`ResumableSampler` wraps the loader's
index sampler (its ``batch_sampler``, or its ``sampler`` when automatic batching is off) and records that random
state at the moment the pass starts drawing. To resume, the wrapper replays the same draw and skips the consumed
batches at the index level: no sample of a skipped batch is ever loaded, and no worker sees its indices.

Samplers, datasets and loaders that define ``state_dict()``/``load_state_dict()`` are saved and restored as they
are; they are trusted to know their own position.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from torch.utils.data.distributed import DistributedSampler

from lit_hooks import rank_zero_warn

__all__ = [
    "DataPosition",
    "ResumableSampler",
    "capture_loader_state",
    "is_stateful",
    "make_resumable",
    "restore_loader_state",
    "unwrap_sampler",
]

_END = object()

# samplers whose order depends only on their own attributes (seed, epoch) or on the sampler they wrap
_DETERMINISTIC: set[type] = {SequentialSampler, BatchSampler, DistributedSampler, range, list, tuple}
# samplers that draw from their ``generator`` or, when it is ``None``, from the global torch generator
_TORCH_RANDOM: set[type] = {RandomSampler, SubsetRandomSampler, WeightedRandomSampler}


def _register_deterministic(cls: type) -> type:
    """Mark ``cls`` as a sampler whose order is a function of its attributes and of the sampler it wraps."""
    _DETERMINISTIC.add(cls)
    return cls


def is_stateful(obj: object) -> bool:
    """Whether ``obj`` defines callable ``state_dict`` and ``load_state_dict`` methods.

    Example:
        >>> is_stateful(torch.nn.Linear(1, 1)), is_stateful([1, 2])
        (True, False)
    """
    return callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))


def _sampler_chain(index_sampler: Any) -> list[Any]:
    """The index sampler and every sampler it wraps, outermost first."""
    chain: list[Any] = []
    seen: set[int] = set()
    obj = index_sampler
    while obj is not None and id(obj) not in seen and len(chain) < 16:
        seen.add(id(obj))
        chain.append(obj)
        nxt = None
        for name in ("sampler", "_sampler", "_batch_sampler"):
            candidate = vars(obj).get(name) if hasattr(obj, "__dict__") else None
            if candidate is not None:
                nxt = candidate
                break
        if nxt is None:
            dataset = vars(obj).get("dataset") if hasattr(obj, "__dict__") else None
            # the sampler-as-dataset adapter used by ``DistributedSamplerWrapper``
            if dataset is not None and type(dataset).__name__ == "_DatasetSamplerWrapper":
                nxt = dataset
        obj = nxt
    return chain


def _stateful_in_chain(chain: list[Any]) -> Any:
    for obj in chain:
        if is_stateful(obj):
            return obj
    return None


def _numpy_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}  # fmt: skip


def _set_numpy_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"]))


def _python_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_python_state(state: list[Any]) -> None:
    version, internal, gauss = state
    random.setstate((version, tuple(internal), gauss))


class ResumableSampler:
    """Wrap a loader's index sampler so that a pass can be resumed after any number of batches.

    On every pass the wrapper records, right before the wrapped sampler draws its order, the random state that
    draw depends on: the state of every ``torch.Generator`` attached to the sampler chain, the samplers'
    ``epoch`` attributes, and the global torch (plus Python and NumPy, for unknown sampler types) generator state
    when a sampler may draw from it. :meth:`resume_from` arms the next pass to replay that draw and skip ``skip``
    batches of indices; the global generators are put back afterwards, so the rest of the program sees no
    difference. Skipping costs index generation only: for a plain ``BatchSampler`` the skipped sample indices are
    dropped in C without building the skipped batches.

    The wrapper forwards every other attribute to the wrapped sampler, and ``isinstance`` checks against the
    wrapped sampler's class still hold. Use :func:`make_resumable` to install it into a ``DataLoader``.

    Args:
        index_sampler: The sampler that yields one batch of indices (a batch sampler) or one index per item.

    Example:
        >>> loader = make_resumable(DataLoader(range(10), batch_size=3))
        >>> [b.tolist() for b in loader][:2]
        [[0, 1, 2], [3, 4, 5]]
        >>> loader.batch_sampler.resume_from(loader.batch_sampler.record, skip=2)
        >>> [b.tolist() for b in loader]
        [[6, 7, 8], [9]]
    """

    def __init__(self, index_sampler: Any) -> None:
        if isinstance(index_sampler, ResumableSampler):
            index_sampler = index_sampler.index_sampler
        self.index_sampler = index_sampler
        self._chain = _sampler_chain(index_sampler)
        self._record: dict[str, Any] | None = None
        self._pending: tuple[dict[str, Any] | None, int] | None = None
        self._one_shot_loader: Any = None

    # transparent wrapper ---------------------------------------------------------------------------------------
    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return (
            type(self.__dict__.get("index_sampler", None))
            if "index_sampler" in self.__dict__
            else ResumableSampler
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in (
            "index_sampler",
            "_chain",
            "_record",
            "_pending",
            "_one_shot_loader",
            "_one_shot_used",
        ):
            raise AttributeError(name)
        inner = self.__dict__.get("index_sampler")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_resumable, (self.index_sampler, self._record, self._pending))

    def __len__(self) -> int:
        return len(self.index_sampler)

    def __repr__(self) -> str:
        return f"ResumableSampler({self.index_sampler!r})"

    # position --------------------------------------------------------------------------------------------------
    @property
    def stateful_target(self) -> Any:
        """The outermost sampler of the chain that has ``state_dict``/``load_state_dict``, if any."""
        return _stateful_in_chain(self._chain)

    @property
    def record(self) -> dict[str, Any] | None:
        """The random state the current pass started from (``None`` until the pass draws its first batch)."""
        return self._record

    def resume_from(self, record: dict[str, Any] | None, skip: int, loader: Any = None) -> None:
        """Make the next pass replay the pass started from ``record`` and drop its first ``skip`` batches.

        Args:
            record: A :attr:`record` saved earlier; ``None`` replays nothing (right for deterministic samplers).
            skip: Number of batches (of indices) to skip.
            loader: The ``DataLoader`` holding this sampler. When given and it has no ``generator``, the resumed
                pass draws the loader's worker base seed from a one-shot generator instead of the global one: the
                interrupted pass already made that draw before the state was saved, so the global random stream
                stays identical to an uninterrupted run.
        """
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ValueError(f"`skip` must be an int >= 0 (the number of batches to skip), got {skip!r}.")
        self._pending = (record, skip)
        if isinstance(loader, DataLoader) and loader.generator is None:
            one_shot = torch.Generator()
            one_shot.manual_seed(skip)
            loader.generator = one_shot
            self._one_shot_loader = loader

    def cancel_resume(self) -> None:
        """Disarm a :meth:`resume_from` whose pass ended before drawing (the next pass starts afresh)."""
        self._pending = None
        self._release_one_shot()

    def _release_one_shot(self) -> None:
        if self._one_shot_loader is not None:
            self._one_shot_loader.generator = None
            self._one_shot_loader = None

    def __iter__(self) -> Iterator[Any]:
        self._record = None
        return self._iterate()

    def _iterate(self) -> Iterator[Any]:
        # runs on the first draw of the pass: a multi-process loader may call ``iter()`` twice before that, and it
        # has drawn its worker base seed by now
        self._release_one_shot()
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] is not None:
            record, skip = pending
            self._record = record
            iterator, first = self._replay(record, skip)
            if first is _END:
                return
            yield first
            yield from iterator
            return
        self._record = self._capture()
        if pending is None or pending[1] == 0:
            yield from self.index_sampler
        else:
            yield from self._skipping_iter(pending[1])

    def _capture(self) -> dict[str, Any]:
        needs_torch = False
        needs_other = False
        generators: list[torch.Tensor | None] = []
        epochs: list[int | None] = []
        for obj in self._chain:
            generator = getattr(obj, "generator", None)
            is_generator = isinstance(generator, torch.Generator)
            generators.append(generator.get_state() if is_generator else None)
            epoch = vars(obj).get("epoch") if hasattr(obj, "__dict__") else None
            epochs.append(epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None)
            kind = type(obj)
            if kind in _DETERMINISTIC:
                continue
            if kind in _TORCH_RANDOM:
                needs_torch = needs_torch or not is_generator
                continue
            needs_torch = True
            needs_other = True
        return {
            "torch": torch.get_rng_state() if needs_torch else None,
            "python": _python_state() if needs_other else None,
            "numpy": _numpy_state() if needs_other else None,
            "generators": generators,
            "epochs": epochs,
        }

    def _apply(self, record: dict[str, Any]) -> None:
        for obj, state, epoch in zip(self._chain, record.get("generators", ()), record.get("epochs", ())):
            if state is not None:
                generator = getattr(obj, "generator", None)
                if isinstance(generator, torch.Generator):
                    generator.set_state(state)
            if epoch is not None and hasattr(obj, "__dict__") and "epoch" in vars(obj):
                obj.epoch = epoch
        if record.get("torch") is not None:
            torch.set_rng_state(record["torch"])
        if record.get("python") is not None:
            _set_python_state(record["python"])
        if record.get("numpy") is not None:
            _set_numpy_state(record["numpy"])

    def _replay(self, record: dict[str, Any], skip: int) -> tuple[Iterator[Any], Any]:
        saved_torch = torch.get_rng_state() if record.get("torch") is not None else None
        saved_python = random.getstate() if record.get("python") is not None else None
        saved_numpy = np.random.get_state() if record.get("numpy") is not None else None
        try:
            self._apply(record)
            iterator = self._skipping_iter(skip)
            # pull one batch now so that the draw happens while the recorded state is in place
            first = next(iterator, _END)
        finally:
            if saved_torch is not None:
                torch.set_rng_state(saved_torch)
            if saved_python is not None:
                random.setstate(saved_python)
            if saved_numpy is not None:
                np.random.set_state(saved_numpy)
        return iterator, first

    def _skipping_iter(self, skip: int) -> Iterator[Any]:
        sampler = self.index_sampler
        if skip and type(sampler) is BatchSampler:
            # drop the skipped sample indices in C, without building the skipped batches
            sampler_iter = iter(sampler.sampler)
            deque(islice(sampler_iter, skip * sampler.batch_size), maxlen=0)
            return _batches(sampler_iter, sampler.batch_size, sampler.drop_last)
        iterator = iter(sampler)
        if skip:
            deque(islice(iterator, skip), maxlen=0)
        return iterator


def _rebuild_resumable(
    index_sampler: Any, record: dict[str, Any] | None, pending: tuple[dict[str, Any] | None, int] | None
) -> ResumableSampler:
    wrapper = ResumableSampler(index_sampler)
    wrapper._record = record
    wrapper._pending = pending
    return wrapper


def _batches(sampler_iter: Iterator[int], batch_size: int, drop_last: bool) -> Iterator[list[int]]:
    """Group ``sampler_iter`` into batches exactly like ``torch.utils.data.BatchSampler``."""
    if drop_last:
        for batch in zip(*([sampler_iter] * batch_size)):
            yield [*batch]
        return
    batch = [*islice(sampler_iter, batch_size)]
    while batch:
        yield batch
        batch = [*islice(sampler_iter, batch_size)]


def unwrap_sampler(sampler: Any) -> Any:
    """Return the sampler inside a :class:`ResumableSampler` (or ``sampler`` itself)."""
    if type(sampler) is ResumableSampler:
        return sampler.index_sampler
    return sampler


def _index_sampler_attr(loader: DataLoader) -> str:
    return "batch_sampler" if loader.batch_sampler is not None else "sampler"


def _find_resumable(loader: Any) -> ResumableSampler | None:
    for name in ("batch_sampler", "sampler"):
        candidate = getattr(loader, name, None)
        if type(candidate) is ResumableSampler:
            return candidate
    return None


def make_resumable(loader: Any) -> Any:
    """Install a :class:`ResumableSampler` into ``loader`` (in place) and return the loader.

    Only ``torch.utils.data.DataLoader`` instances over map-style datasets are changed; anything else (iterable
    datasets, loaders with their own ``state_dict``, other iterables) is returned untouched. Calling it twice is
    harmless. The loader's behaviour is unchanged: same batches, same random draws.

    Args:
        loader: Any iterable.

    Returns:
        ``loader``.
    """
    if (
        not isinstance(loader, DataLoader)
        or is_stateful(loader)
        or isinstance(loader.dataset, IterableDataset)
    ):
        return loader
    name = _index_sampler_attr(loader)
    current = getattr(loader, name)
    if current is None or type(current) is ResumableSampler:
        return loader
    # ``DataLoader.__setattr__`` refuses sampler changes after ``__init__``; the wrapper keeps the behaviour, so
    # installing it directly is safe
    object.__setattr__(loader, name, ResumableSampler(current))
    return loader


def capture_loader_state(loader: Any, batches_consumed: int) -> dict[str, Any]:
    """Describe where a pass over ``loader`` stands after ``batches_consumed`` batches.

    Call it while the pass is running (or right after it stopped) and feed the result to
    :func:`restore_loader_state` on an equivalent loader to continue that pass. The loader must have been made
    resumable (:func:`make_resumable`) before the pass started for random samplers to be replayed.

    Args:
        loader: The iterable being consumed.
        batches_consumed: Batches taken from the current pass by the consumer.

    Returns:
        A dict of plain values and tensors (``torch.load(weights_only=True)`` can read it back): the batch count,
        the sampler record, and the ``state_dict()`` of a stateful loader, dataset or sampler.
    """
    if not isinstance(batches_consumed, int) or batches_consumed < 0:
        raise ValueError(f"`batches_consumed` must be an int >= 0, got {batches_consumed!r}.")
    state: dict[str, Any] = {"batches_consumed": batches_consumed}
    if is_stateful(loader):
        state["loader"] = loader.state_dict()
        return state
    dataset = getattr(loader, "dataset", None)
    if is_stateful(dataset):
        state["dataset"] = dataset.state_dict()  # type: ignore[union-attr]
    wrapper = _find_resumable(loader)
    if wrapper is not None:
        target = wrapper.stateful_target
        if target is not None:
            state["sampler_state"] = target.state_dict()
        else:
            state["record"] = wrapper.record
    return state


def restore_loader_state(loader: Any, state: dict[str, Any], skip: bool = True) -> None:
    """Load a state from :func:`capture_loader_state`; the next pass over ``loader`` continues from it.

    Args:
        loader: An iterable equivalent to the one the state was captured from.
        state: The captured state.
        skip: Whether the next pass should skip the consumed batches (``False`` only restores stateful parts).
    """
    if "loader" in state:
        loader.load_state_dict(state["loader"])
        return
    if "dataset" in state:
        dataset = getattr(loader, "dataset", None)
        if not is_stateful(dataset):
            raise ValueError(
                f"The saved data position holds a dataset state, but the dataset of {type(loader).__name__} is"
                f" {type(dataset).__name__!r}, which has no `load_state_dict`. Pass the same dataset as when saving."
            )
        dataset.load_state_dict(state["dataset"])  # type: ignore[union-attr]
    make_resumable(loader)
    wrapper = _find_resumable(loader)
    consumed = int(state.get("batches_consumed", 0))
    if wrapper is not None:
        target = wrapper.stateful_target
        if "sampler_state" in state and target is not None:
            target.load_state_dict(state["sampler_state"])
        elif skip:
            wrapper.resume_from(state.get("record"), consumed, loader=loader)
        return
    if skip and consumed and "dataset" not in state:
        rank_zero_warn(
            f"Cannot resume `{type(loader).__name__}` at batch {consumed}: it has no sampler that can skip indices"
            " and no `state_dict`/`load_state_dict`. It starts again from its first batch. Use a map-style"
            " dataset, or give the iterable `state_dict()` and `load_state_dict()` methods for exact resume."
        )


@dataclass
class DataPosition:
    """Where a loop stands in its data: the epoch, the batches consumed in it and the loaders' own state.

    It implements :class:`lit_hooks.DataPositionProtocol`: :attr:`position` is the number of batches consumed in
    the current epoch, :meth:`state_dict` gives plain values and tensors that ``torch.load(weights_only=True)``
    reads back, and :meth:`load_state_dict` restores them.

    Args:
        epoch: The epoch (pass) the position belongs to.
        position: Batches consumed in that epoch (within ``dataloader_idx`` in sequential mode).
        dataloader_idx: The iterable being consumed (sequential mode), else ``0``.
        loaders: The combined loader's position (from :meth:`CombinedLoader.state_dict`), or ``None``.

    Example:
        >>> pos = DataPosition(epoch=2, position=5)
        >>> restored = DataPosition()
        >>> restored.load_state_dict(pos.state_dict())
        >>> restored.epoch, restored.position
        (2, 5)
    """

    epoch: int = 0
    position: int = 0
    dataloader_idx: int = 0
    loaders: dict[str, Any] | None = field(default=None, repr=False)

    def state_dict(self) -> dict[str, Any]:
        """The position as a dict of plain values (and tensors in ``loaders``)."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "dataloader_idx": self.dataloader_idx,
            "loaders": self.loaders,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the fields from :meth:`state_dict`."""
        self.epoch = int(state_dict.get("epoch", 0))
        self.position = int(state_dict.get("position", 0))
        self.dataloader_idx = int(state_dict.get("dataloader_idx", 0))
        self.loaders = state_dict.get("loaders")
