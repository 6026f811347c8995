"""``CombinedLoader``: iterate a (nested) collection of iterables under one of four combination modes.

The collection may be a single iterable or any nesting of lists, tuples, named tuples and dicts of iterables.
Containers whose items are all plain numbers or strings (and empty containers) count as one iterable, as in
Lightning. Every ``next()`` returns ``(batch, batch_idx, dataloader_idx)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

from lit_data._position import (
    ResumableSampler,
    _find_resumable,
    capture_loader_state,
    is_stateful,
    make_resumable,
    restore_loader_state,
)
from lit_hooks import rank_zero_warn

__all__ = ["CombinedLoader", "sized_len"]

_ITERATOR_RETURN = tuple[Any, int, int]
_LITERAL_SUPPORTED_MODES = Literal["min_size", "max_size_cycle", "max_size", "sequential"]
_SUPPORTED_MODES = ("min_size", "max_size_cycle", "max_size", "sequential")
_Limit = float


def sized_len(obj: object) -> int | None:
    """Return ``len(obj)``, or ``None`` when the object has no usable ``__len__``.

    Example:
        >>> sized_len([1, 2]), sized_len(iter([1, 2]))
        (2, None)
    """
    try:
        return len(obj)  # type: ignore[arg-type]
    except (TypeError, NotImplementedError):
        return None


def _lengths(iterables: list[Any]) -> list[_Limit]:
    out: list[_Limit] = []
    for iterable in iterables:
        length = sized_len(iterable)
        out.append(float("inf") if length is None else length)
    return out


# ----------------------------------------------------------------------------------------------------------------
# flattening of the (nested) collection of iterables
# ----------------------------------------------------------------------------------------------------------------
def _is_namedtuple(obj: object) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields") and hasattr(obj, "_asdict")


def _children(node: Any) -> list[Any] | None:
    """Children of a container node, or ``None`` when ``node`` is a leaf."""
    if isinstance(node, dict):
        children = list(node.values())
    elif isinstance(node, (list, tuple)):
        children = list(node)
    else:
        return None
    # containers of primitives (and empty containers) are iterables themselves, not collections of iterables
    if all(isinstance(child, (int, float, str)) for child in children):
        return None
    return children


def _flatten(node: Any) -> tuple[list[Any], Callable[[Iterator[Any]], Any]]:
    """Flatten ``node`` into its leaves and a function rebuilding the same structure from an iterator of values."""
    children = _children(node)
    if children is None:
        return [node], next
    leaves: list[Any] = []
    builders: list[Callable[[Iterator[Any]], Any]] = []
    for child in children:
        child_leaves, child_builder = _flatten(child)
        leaves.extend(child_leaves)
        builders.append(child_builder)
    if isinstance(node, dict):
        keys = list(node.keys())
        node_type = type(node)
        factory = getattr(node, "default_factory", None)

        def build_dict(values: Iterator[Any]) -> Any:
            items = [(key, build(values)) for key, build in zip(keys, builders)]
            if node_type is dict:
                return dict(items)
            if factory is not None or hasattr(node, "default_factory"):
                return node_type(factory, items)  # type: ignore[call-arg]
            return node_type(items)

        return leaves, build_dict
    if _is_namedtuple(node):
        node_type = type(node)

        def build_namedtuple(values: Iterator[Any]) -> Any:
            return node_type(*[build(values) for build in builders])

        return leaves, build_namedtuple
    if isinstance(node, tuple):
        return leaves, lambda values: tuple(build(values) for build in builders)
    list_type = type(node)
    if list_type is list:
        return leaves, lambda values: [build(values) for build in builders]
    return leaves, lambda values: list_type(build(values) for build in builders)


# ----------------------------------------------------------------------------------------------------------------
# mode iterators
# ----------------------------------------------------------------------------------------------------------------
class _ModeIterator:
    """Base of the per-mode iterators. ``_idx`` counts the combined batches produced so far.

    The per-iterable bookkeeping used for the data position (``_started``, cycle starts, exhaustion points) only
    changes on rare events (an iterable starts over or runs out), never on an ordinary batch.
    """

    sequential = False

    def __init__(self, iterables: list[Any], limits: list[_Limit] | None) -> None:
        self.iterables = iterables
        self.limits = limits
        self.iterators: list[Iterator[Any]] = []
        self._idx = 0
        self._stop: _Limit = float("inf")
        self._started: list[bool] = [False] * len(iterables)

    def start(self, restore: dict[str, Any] | None) -> None:
        raise NotImplementedError

    def __iter__(self) -> _ModeIterator:
        return self

    def __next__(self) -> _ITERATOR_RETURN:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def position(self, consumed: int, dataloader_idx: int) -> dict[str, Any]:
        raise NotImplementedError

    def produced(self) -> int | None:
        """Combined batches this pass has produced, counting those a resume skipped (``None`` if unknown)."""
        return self._idx

    def reset(self) -> None:
        self.iterators = []
        self._idx = 0


def _limited_len(lengths: list[_Limit], limits: list[_Limit] | None, fn: Callable[..., _Limit]) -> _Limit:
    if limits is None:
        return fn(lengths)
    return fn([min(length, limit) for length, limit in zip(lengths, limits)])


def _as_len(value: _Limit) -> int:
    if value == float("inf"):
        raise TypeError("The combined length is infinite: at least one iterable has no `__len__`.")
    return int(value)


class _Exhausted(Iterator[Any]):
    def __next__(self) -> Any:
        raise StopIteration


_EXHAUSTED = _Exhausted()


class _Parallel(_ModeIterator):
    """Shared logic of the modes that take one item from every iterable at each step."""

    _len_fn: Callable[..., _Limit] = max

    def _total(self) -> _Limit:
        return _limited_len(_lengths(self.iterables), self.limits, type(self)._len_fn)

    def __len__(self) -> int:
        return _as_len(self._total())

    def start(self, restore: dict[str, Any] | None) -> None:
        self._stop = self._total() if self.limits is not None else float("inf")
        self._started = [True] * len(self.iterables)
        if restore is None:
            self._idx = 0
            self.iterators = [iter(iterable) for iterable in self.iterables]
            return
        self._idx = restore["batch_idx"]
        self.iterators = [
            _EXHAUSTED if skip is None else _resume_iter(iterable, loader_state, skip, restore["armed"])
            for iterable, loader_state, skip in zip(self.iterables, restore["loaders"], restore["skips"])
        ]

    def _next_single(self) -> _ITERATOR_RETURN:
        """``__next__`` for exactly one iterable, where every parallel mode behaves the same."""
        index = self._idx
        if index >= self._stop:
            raise StopIteration
        try:
            out = next(self.iterators[0])
        except StopIteration:
            self._single_exhausted(index)
            raise
        self._idx = index + 1
        return out, index, 0

    def _single_exhausted(self, index: int) -> None:
        pass


class _MinSize(_Parallel):
    _len_fn = min

    def __next__(self) -> _ITERATOR_RETURN:
        index = self._idx
        if index >= self._stop:
            raise StopIteration
        out = [next(iterator) for iterator in self.iterators]
        self._idx = index + 1
        return out, index, 0

    def position(self, consumed: int, dataloader_idx: int) -> dict[str, Any]:
        return {"batch_idx": consumed, "skips": [consumed] * len(self.iterables)}


class _MaxSize(_Parallel):
    _len_fn = max

    def start(self, restore: dict[str, Any] | None) -> None:
        super().start(restore)
        # number of items each iterable gave before it ran out (``None`` while it has not)
        self._exhausted_at: list[int | None] = [None] * len(self.iterables)
        if restore is not None:
            for i, skip in enumerate(restore["skips"]):
                if skip is None:
                    self._exhausted_at[i] = restore["exhausted_at"][i]

    def __next__(self) -> _ITERATOR_RETURN:
        index = self._idx
        if index >= self._stop:
            raise StopIteration
        iterators = self.iterators
        exhausted_at = self._exhausted_at
        n = len(iterators)
        out: list[Any] = [None] * n
        alive = False
        for i in range(n):
            if exhausted_at[i] is not None:
                continue
            try:
                out[i] = next(iterators[i])
                alive = True
            except StopIteration:
                exhausted_at[i] = index
        if not alive:
            raise StopIteration
        self._idx = index + 1
        return out, index, 0

    def _single_exhausted(self, index: int) -> None:
        self._exhausted_at[0] = index

    def position(self, consumed: int, dataloader_idx: int) -> dict[str, Any]:
        skips: list[int | None] = []
        exhausted: list[int | None] = []
        for at in self._exhausted_at:
            if at is not None and at <= consumed:
                skips.append(None)
                exhausted.append(at)
            else:
                skips.append(consumed)
                exhausted.append(None)
        return {"batch_idx": consumed, "skips": skips, "exhausted_at": exhausted}


class _MaxSizeCycle(_Parallel):
    _len_fn = max

    def start(self, restore: dict[str, Any] | None) -> None:
        super().start(restore)
        n = len(self.iterables)
        if restore is None:
            self._consumed = [False] * n
            self._cycle_start = [0] * n
        else:
            self._consumed = list(restore["consumed"])
            self._cycle_start = [self._idx - skip for skip in restore["skips"]]

    def __next__(self) -> _ITERATOR_RETURN:
        index = self._idx
        if index >= self._stop:
            raise StopIteration
        iterators = self.iterators
        n = len(iterators)
        out: list[Any] = [None] * n
        for i in range(n):
            try:
                out[i] = next(iterators[i])
            except StopIteration:
                self._consumed[i] = True
                if all(self._consumed):
                    raise
                # start the exhausted iterable over
                self._cycle_start[i] = index
                iterators[i] = iter(self.iterables[i])
                out[i] = next(iterators[i])
        self._idx = index + 1
        return out, index, 0

    def _single_exhausted(self, index: int) -> None:
        self._consumed[0] = True

    def position(self, consumed: int, dataloader_idx: int) -> dict[str, Any]:
        # a cycle opened by a batch fetched ahead of the consumer counts as started with nothing taken
        skips = [max(consumed - start, 0) for start in self._cycle_start]
        return {"batch_idx": consumed, "skips": skips, "consumed": list(self._consumed)}


class _Sequential(_ModeIterator):
    sequential = True

    def __len__(self) -> int:
        return _as_len(_limited_len(_lengths(self.iterables), self.limits, sum))

    def start(self, restore: dict[str, Any] | None) -> None:
        self._restore = restore
        if restore is None:
            self._iterator_idx = 0
            self._idx = 0
        else:
            self._iterator_idx = restore["dataloader_idx"]
            self._idx = restore["batch_idx"]
        i = self._iterator_idx
        if self.limits is not None and i < len(self.limits) and self.limits[i] <= self._idx:
            self.iterators = []  # the next call moves on without opening this iterable
        else:
            self._load_current_iterator()

    def _load_current_iterator(self) -> None:
        i = self._iterator_idx
        if i >= len(self.iterables):
            self.iterators = []
            return
        restore = self._restore
        if restore is not None and restore["skips"][i] is not None:
            skip = restore["skips"][i] if i == restore["dataloader_idx"] else 0
            self.iterators = [_resume_iter(self.iterables[i], restore["loaders"][i], skip, restore["armed"])]
        else:
            self.iterators = [iter(self.iterables[i])]
        self._started[i] = True

    def _use_next_iterator(self) -> None:
        self._iterator_idx += 1
        self._idx = 0
        self._load_current_iterator()

    def __next__(self) -> _ITERATOR_RETURN:
        n = len(self.iterables)
        limits = self.limits
        while True:
            i = self._iterator_idx
            if i >= n:
                raise StopIteration
            if limits is not None and limits[i] <= self._idx:
                self._use_next_iterator()
                continue
            try:
                out = next(self.iterators[0])
            except StopIteration:
                self._use_next_iterator()
                continue
            index = self._idx
            self._idx = index + 1
            return out, index, i

    def position(self, consumed: int, dataloader_idx: int) -> dict[str, Any]:
        skips: list[int | None] = []
        for i in range(len(self.iterables)):
            if i < dataloader_idx:
                skips.append(None)  # finished before the position; never opened again
            elif i == dataloader_idx:
                skips.append(consumed)
            elif self._started[i]:
                skips.append(0)  # opened ahead of the consumer by a prefetched batch
            else:
                skips.append(None)
        return {"batch_idx": consumed, "dataloader_idx": dataloader_idx, "skips": skips}

    def produced(self) -> int | None:
        i = min(self._iterator_idx, len(self.iterables))
        before = _limited_len(
            _lengths(self.iterables[:i]), self.limits[:i] if self.limits is not None else None, sum
        )
        return None if before == float("inf") else int(before) + self._idx

    def reset(self) -> None:
        super().reset()
        self._iterator_idx = 0


_MODE_ITERATORS: dict[str, type[_ModeIterator]] = {
    "min_size": _MinSize,
    "max_size_cycle": _MaxSizeCycle,
    "max_size": _MaxSize,
    "sequential": _Sequential,
}
_MODE_FNS: dict[str, Callable[..., _Limit]] = {
    "min_size": min,
    "max_size_cycle": max,
    "max_size": max,
    "sequential": sum,
}


def _resume_iter(
    iterable: Any, loader_state: dict[str, Any] | None, skip: int, armed: list[ResumableSampler]
) -> Iterator[Any]:
    """Open ``iterable`` so that it continues after ``skip`` items of the pass described by ``loader_state``.

    ``loader_state`` is ``None`` for an iterable whose pass had not started when the position was saved. Samplers
    armed for the resume are appended to ``armed``.
    """
    if loader_state is None:
        return iter(iterable)
    wrapper = _find_resumable(iterable)
    if wrapper is not None:
        if "sampler_state" not in loader_state:
            wrapper.resume_from(loader_state.get("record"), skip, loader=iterable)
            armed.append(wrapper)
        return iter(iterable)
    if skip == 0 or "loader" in loader_state or "dataset" in loader_state:
        return iter(iterable)
    if isinstance(iterable, Sequence) and not isinstance(iterable, (str, bytes)):
        # plain in-memory sequences: skipping is slicing, nothing is loaded
        return iter(iterable[skip:])
    rank_zero_warn(
        f"Cannot resume `{type(iterable).__name__}` at batch {skip}: it has no sampler that can skip indices and"
        " no `state_dict`/`load_state_dict`. It starts again from its first batch. Use a map-style dataset, or give"
        " the iterable `state_dict()` and `load_state_dict()` methods for exact mid-epoch resume."
    )
    return iter(iterable)


class CombinedLoader(Iterable[Any]):
    """Iterate a collection of iterables under one of four modes.

    Each ``next()`` returns a triplet ``(batch, batch_idx, dataloader_idx)``. In the three parallel modes the batch
    has the structure of ``iterables`` (one item per iterable) and ``dataloader_idx`` is always ``0``; in
    ``"sequential"`` mode the batch is one iterable's item and ``dataloader_idx`` says which iterable it came from.

    * ``"min_size"``: stop when the shortest iterable is exhausted.
    * ``"max_size_cycle"``: stop when the longest iterable is exhausted; shorter ones start over.
    * ``"max_size"``: stop when the longest iterable is exhausted; exhausted ones give ``None``.
    * ``"sequential"``: exhaust each iterable in turn; ``batch_idx`` restarts at 0 for each one.

    ``len()`` is available after ``iter()`` (a ``RuntimeError`` before) and applies :attr:`limits`; a pass stops
    after ``len()`` batches when limits are set. Data loaders over map-style datasets are made resumable (see
    :func:`~lit_data.make_resumable`) on the first ``iter()``, so that :meth:`state_dict` and
    :meth:`load_state_dict` can continue a pass exactly where it stopped.

    Args:
        iterables: An iterable, or a (nested) list/tuple/dict of iterables.
        mode: One of ``"min_size"``, ``"max_size_cycle"``, ``"max_size"``, ``"sequential"``.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> loaders = {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}
        >>> combined = CombinedLoader(loaders, "max_size_cycle")
        >>> _ = iter(combined)
        >>> len(combined)
        3
        >>> for batch, batch_idx, dataloader_idx in combined:
        ...     print(batch["a"].tolist(), batch["b"].tolist(), batch_idx, dataloader_idx)
        [0, 1, 2, 3] [0, 1, 2, 3, 4] 0 0
        [4, 5] [5, 6, 7, 8, 9] 1 0
        [0, 1, 2, 3] [10, 11, 12, 13, 14] 2 0
    """

    def __init__(self, iterables: Any, mode: _LITERAL_SUPPORTED_MODES = "min_size") -> None:
        if mode not in _MODE_ITERATORS:
            raise ValueError(
                f"Unsupported mode {mode!r}, please select one of: {list(_SUPPORTED_MODES)}."
                " For example `CombinedLoader(iterables, mode='max_size_cycle')`."
            )
        self._iterables = iterables
        self._flattened, self._build = _flatten(iterables)
        self._mode = mode
        self._iterator: _ModeIterator | None = None
        self._limits: list[_Limit] | None = None
        self._restore: dict[str, Any] | None = None
        self._made_resumable = False
        self._armed: list[ResumableSampler] = []
        self._passes = 0
        self._fetch: Callable[[], _ITERATOR_RETURN] = self._next_unstarted

    # ------------------------------------------------------------------------------------------------------------
    @property
    def iterables(self) -> Any:
        """The original (nested) collection of iterables."""
        return self._iterables

    @property
    def mode(self) -> str:
        """The combination mode."""
        return self._mode

    @property
    def sampler(self) -> Any:
        """The ``sampler`` of each iterable (``None`` where absent), in the structure of :attr:`iterables`."""
        return self._build(iter([getattr(it, "sampler", None) for it in self._flattened]))

    @property
    def batch_sampler(self) -> Any:
        """The ``batch_sampler`` of each iterable (``None`` where absent), in the structure of :attr:`iterables`."""
        return self._build(iter([getattr(it, "batch_sampler", None) for it in self._flattened]))

    @property
    def flattened(self) -> list[Any]:
        """The flat list of iterables."""
        return self._flattened

    @flattened.setter
    def flattened(self, flattened: list[Any]) -> None:
        if len(flattened) != len(self._flattened):
            raise ValueError(
                f"Mismatch in flattened length ({len(flattened)}) and existing length ({len(self._flattened)})."
                " Pass exactly one replacement per iterable."
            )
        self._iterables = self._build(iter(flattened))
        self._flattened = list(flattened)
        self._made_resumable = False

    @property
    def limits(self) -> list[_Limit] | None:
        """Optional maximum number of batches per iterable (ints, or ``float('inf')``)."""
        return self._limits

    @limits.setter
    def limits(self, limits: _Limit | list[_Limit] | None) -> None:
        if isinstance(limits, (int, float)):
            limits = [limits] * len(self._flattened)
        elif isinstance(limits, list) and len(limits) != len(self._flattened):
            raise ValueError(
                f"Mismatch in number of limits ({len(limits)}) and number of iterables ({len(self._flattened)})."
                " Pass one limit per iterable, or a single number for all of them."
            )
        self._limits = limits

    # ------------------------------------------------------------------------------------------------------------
    def _ensure_resumable(self) -> None:
        if not self._made_resumable:
            for iterable in self._flattened:
                make_resumable(iterable)
            self._made_resumable = True

    def __iter__(self) -> CombinedLoader:
        self._ensure_resumable()
        iterator = _MODE_ITERATORS[self._mode](self._flattened, self._limits)
        restore, self._restore = self._restore, None
        # a resume armed for the previous pass but never drawn (its iterable was not reached) must not leak
        for wrapper in self._armed:
            wrapper.cancel_resume()
        self._armed = []
        if restore is not None:
            self._passes = restore["epoch"]
            restore["armed"] = self._armed
        iterator.start(restore)
        self._iterator = iterator
        self._passes += 1
        if iterator.sequential:
            self._fetch = iterator.__next__
        elif len(self._flattened) == 1 and self._build is next:
            self._fetch = iterator._next_single  # type: ignore[attr-defined]
        else:
            self._fetch = self._next_nested
        return self

    def _next_unstarted(self) -> _ITERATOR_RETURN:
        raise RuntimeError("Please call `iter(combined_loader)` before `next(combined_loader)`.")

    def _next_nested(self) -> _ITERATOR_RETURN:
        out, batch_idx, dataloader_idx = self._iterator.__next__()  # type: ignore[union-attr]
        return self._build(iter(out)), batch_idx, dataloader_idx

    def __next__(self) -> _ITERATOR_RETURN:
        return self._fetch()

    def __len__(self) -> int:
        """The number of batches of one pass, with :attr:`limits` applied."""
        if self._iterator is None:
            raise RuntimeError("Please call `iter(combined_loader)` first.")
        return len(self._iterator)

    def reset(self) -> None:
        """Drop the current iterator and shut down the workers of any multi-process data loader."""
        if self._iterator is not None:
            self._iterator.reset()
            self._iterator = None
        self._fetch = self._next_unstarted
        for iterable in self._flattened:
            _shutdown_workers_and_reset_iterator(iterable)

    def _dataset_length(self) -> int:
        """Total dataset length according to the mode (datasets without ``__len__`` are left out)."""
        lengths = []
        for iterable in self._flattened:
            length = sized_len(getattr(iterable, "dataset", None))
            if length is not None:
                lengths.append(length)
        if not lengths:
            raise NotImplementedError("All datasets are iterable-style datasets.")
        return int(_MODE_FNS[self._mode](lengths))

    # ------------------------------------------------------------------------------------------------------------
    # state of stateful iterables (Lightning's checkpoint entry ``combined_loader``)
    def _state_dicts(self) -> list[dict[str, Any]]:
        """The ``state_dict()`` of every iterable that defines ``state_dict``/``load_state_dict``."""
        return [iterable.state_dict() for iterable in self._flattened if is_stateful(iterable)]

    def _load_state_dicts(self, states: list[dict[str, Any]]) -> None:
        """Load states produced by :meth:`_state_dicts` into the stateful iterables, in order."""
        if not states:
            return
        stateful = [iterable for iterable in self._flattened if is_stateful(iterable)]
        if len(stateful) != len(states):
            raise RuntimeError(
                f"The CombinedLoader has {len(stateful)} stateful loaders, but found {len(states)} states"
                " in the checkpoint. Please make sure you define the same dataloaders that were used when saving"
                " the checkpoint."
            )
        for iterable, state in zip(stateful, states):
            iterable.load_state_dict(state)

    # ------------------------------------------------------------------------------------------------------------
    # data position
    def state_dict(
        self, batches_consumed: int | None = None, dataloader_idx: int | None = None
    ) -> dict[str, Any]:
        """The data position of the current pass, enough to continue it exactly after :meth:`load_state_dict`.

        Args:
            batches_consumed: Batches the consumer took in the current pass (in ``"sequential"`` mode: from the
                iterable ``dataloader_idx``). Defaults to the number produced so far, which is right when nothing
                was fetched ahead.
            dataloader_idx: In ``"sequential"`` mode, the iterable being consumed. Defaults to the current one.

        Returns:
            A dict of plain values and tensors, readable with ``torch.load(weights_only=True)``.
        """
        iterator = self._iterator
        n = len(self._flattened)
        if iterator is None:
            position: dict[str, Any] = {"batch_idx": 0, "dataloader_idx": 0, "skips": [0] * n}
            started = [False] * n
            passes = self._passes
        else:
            if dataloader_idx is None:
                dataloader_idx = getattr(iterator, "_iterator_idx", 0)
            if batches_consumed is None:
                batches_consumed = iterator._idx
            position = iterator.position(batches_consumed, dataloader_idx)
            position.setdefault("dataloader_idx", 0)
            started = iterator._started
            passes = self._passes - 1
        loaders: list[dict[str, Any] | None] = []
        for i, iterable in enumerate(self._flattened):
            skip = position["skips"][i]
            if started[i] and skip is not None:
                loaders.append(capture_loader_state(iterable, skip))
            elif is_stateful(iterable) or is_stateful(getattr(iterable, "dataset", None)):
                loaders.append(capture_loader_state(iterable, 0))
            else:
                loaders.append(None)
        return {
            "mode": self._mode,
            "epoch": passes,
            "batch_idx": position["batch_idx"],
            "dataloader_idx": position["dataloader_idx"],
            "skips": position["skips"],
            "started": list(started),
            "consumed": position.get("consumed"),
            "exhausted_at": position.get("exhausted_at"),
            "loaders": loaders,
            "finished": False,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a position saved by :meth:`state_dict`; the next ``iter()`` continues from there.

        Raises:
            ValueError: If the state was saved with another mode or another number of iterables.
        """
        mode = state_dict.get("mode")
        if mode != self._mode:
            raise ValueError(
                f"The data position was saved with mode {mode!r} but this CombinedLoader uses mode {self._mode!r}."
                f" Create the CombinedLoader with `mode={mode!r}` to resume from it."
            )
        skips = list(state_dict["skips"])
        if len(skips) != len(self._flattened):
            raise ValueError(
                f"The data position has {len(skips)} iterables but this CombinedLoader has"
                f" {len(self._flattened)}. Pass the same dataloaders that were used when the position was saved."
            )
        self._ensure_resumable()
        started = state_dict.get("started") or [True] * len(skips)
        loaders = list(state_dict["loaders"])
        for i, (iterable, loader_state) in enumerate(zip(self._flattened, loaders)):
            if loader_state is not None:
                restore_loader_state(iterable, loader_state, skip=False)
            if not started[i]:
                loaders[i] = None  # not opened when saved: the next pass opens it fresh
        if state_dict.get("finished"):
            # the saved pass was over: the next pass is a new one
            self._passes = int(state_dict.get("epoch", 0)) + 1
            self._restore = None
            return
        self._restore = {
            "epoch": int(state_dict.get("epoch", 0)),
            "batch_idx": int(state_dict["batch_idx"]),
            "dataloader_idx": int(state_dict.get("dataloader_idx", 0)),
            "skips": skips,
            "consumed": state_dict.get("consumed") or [False] * len(skips),
            "exhausted_at": state_dict.get("exhausted_at") or [None] * len(skips),
            "loaders": loaders,
        }


def _shutdown_workers_and_reset_iterator(dataloader: object) -> None:
    iterator = getattr(dataloader, "_iterator", None)
    if iterator is None:
        return
    shutdown = getattr(iterator, "_shutdown_workers", None)
    if callable(shutdown):
        shutdown()
    dataloader._iterator = None  # type: ignore[attr-defined]
