"""Dataloader plumbing for the standard loops: sources, lengths, limits and a one-batch look-ahead."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from lit_hooks import MisconfigurationException

__all__ = ["DataSource", "Fetcher", "num_batches", "sized_len"]


def sized_len(obj: Any) -> int | None:
    """``len(obj)`` or ``None`` when it has none."""
    try:
        return len(obj)
    except (TypeError, NotImplementedError, RuntimeError):
        return None


def num_batches(length: float, limit: float, stage: str, attr: str) -> int | float:
    """Apply a ``limit_*_batches`` value (int count or float fraction) to a dataloader length."""
    if isinstance(limit, int) and not isinstance(limit, bool):
        return min(length, limit)
    if length == math.inf:
        if limit in (0.0, 1.0):
            return 0 if limit == 0.0 else math.inf
        raise MisconfigurationException(
            f"When using an `IterableDataset`, `Trainer(limit_{stage}_batches)` must be `1.0` or an int. An int specifies"
            f" `num_{stage}_batches` to use. Got limit_{stage}_batches={limit!r}."
        )
    result = int(length * limit)
    if result == 0 and limit > 0.0 and length > 0:
        min_percentage = 1.0 / length
        raise MisconfigurationException(
            f"You requested to check {limit} of the `{attr}` but {limit} * {length} < 1. Please increase the"
            f" `limit_{stage}_batches` argument. Try at least `limit_{stage}_batches={min_percentage}`"
        )
    return result


class DataSource:
    """Where a stage's dataloaders come from: given directly, or a hook of the module or datamodule.

    Args:
        instance: the dataloader(s), or an object with the ``name`` hook (module or datamodule), or ``None``.
        name: the hook name, e.g. ``"train_dataloader"``.
    """

    def __init__(self, instance: Any, name: str) -> None:
        self.instance = instance
        self.name = name

    def _is_hook_owner(self) -> bool:
        inst = self.instance
        return (
            inst is not None
            and callable(getattr(inst, self.name, None))
            and hasattr(inst, "setup")
            and (hasattr(inst, "train_dataloader"))
        )

    def is_defined(self) -> bool:
        """Whether the source can produce dataloaders."""
        from lit_loops._dispatch import is_overridden

        if self.instance is None:
            return False
        if self._is_hook_owner():
            return is_overridden(self.name, self.instance)
        return True

    def request(self) -> Any:
        """The dataloader(s): calls the hook (with ``_current_fx_name`` set) or returns the given object."""
        inst = self.instance
        if self._is_hook_owner():
            prev = getattr(inst, "_current_fx_name", None)
            try:
                inst._current_fx_name = self.name
            except AttributeError:
                pass
            try:
                return getattr(inst, self.name)()
            finally:
                try:
                    inst._current_fx_name = prev
                except AttributeError:
                    pass
        return inst


class Fetcher:
    """Iterates ``iterable`` one batch ahead (so ``done`` tells whether the batch just returned is the last),
    stopping after ``limit`` batches.

    Args:
        iterable: the dataloader.
        limit: the most batches to yield (``math.inf`` for no limit).
    """

    __slots__ = ("_it", "_next", "done", "fetched", "limit")

    def __init__(self, iterable: Iterable[Any], limit: float = math.inf) -> None:
        self.limit = limit
        self.fetched = 0
        self.done = limit <= 0
        self._next: Any = None
        self._it: Iterator[Any] | None = None
        if not self.done:
            self._it = iter(iterable)
            self._advance()

    def _advance(self) -> None:
        try:
            self._next = next(self._it)  # type: ignore[arg-type]
        except StopIteration:
            self.done = True
            self._next = None

    def __iter__(self) -> Fetcher:
        return self

    def __next__(self) -> Any:
        if self.done:
            raise StopIteration
        batch = self._next
        self.fetched += 1
        if self.fetched >= self.limit:
            self.done = True
            self._next = None
        else:
            self._advance()
        return batch
