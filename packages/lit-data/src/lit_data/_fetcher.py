"""Fetchers: the thin layer between a :class:`CombinedLoader` and a loop.

:class:`PrefetchFetcher` tells the loop whether the batch it just returned is the last one (:attr:`done`). When
the combined loader has a length that is a simple counter; otherwise the fetcher holds exactly one batch ahead.
Batches are passed through by reference (never copied), and the per-batch path allocates nothing beyond what the
loader itself returns.

:class:`DataLoaderIterFetcher` serves the ``training_step(dataloader_iter)`` style, where the step pulls batches
itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lit_data._combined_loader import CombinedLoader, sized_len
from lit_data._position import DataPosition
from lit_hooks import MisconfigurationException

__all__ = ["DataFetcherWrapper", "DataLoaderIterFetcher", "PrefetchFetcher"]

_ITERATOR_RETURN = tuple[Any, int, int]
_NOTHING: Any = object()


class PrefetchFetcher(Iterator[_ITERATOR_RETURN]):
    """Iterate a :class:`CombinedLoader` and know one batch ahead whether the pass is over.

    After each ``next()``, :attr:`done` is ``True`` when the batch just returned was the last one. With a known
    length this is decided by counting; without one (iterable datasets) the fetcher holds one batch in reserve.
    The fetcher implements :class:`lit_hooks.DataPositionProtocol`: :attr:`position` counts the batches handed out
    in the current pass, and :meth:`state_dict`/:meth:`load_state_dict` save and restore the exact data position
    (the batch held in reserve is not counted as consumed). :attr:`fetched` counts the batches of the current pass,
    including those consumed before a resume, so :attr:`done` turns ``True`` on the same batch as without one.

    Args:
        prefetch_batches: Batches to hold in reserve when the length is unknown: ``0`` (then :attr:`done` is only
            known when the loader raises ``StopIteration``) or ``1``. Larger values are treated as ``1``.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> fetcher = PrefetchFetcher()
        >>> fetcher.setup(CombinedLoader(DataLoader(range(4), batch_size=2)))
        >>> for batch, batch_idx, dataloader_idx in fetcher:
        ...     print(batch.tolist(), batch_idx, fetcher.done)
        [0, 1] 0 False
        [2, 3] 1 True
    """

    def __init__(self, prefetch_batches: int = 1) -> None:
        if not isinstance(prefetch_batches, int) or prefetch_batches < 0:
            raise ValueError(f"`prefetch_batches` should be an int >= 0, got {prefetch_batches!r}.")
        self.prefetch_batches = prefetch_batches
        self._combined_loader: CombinedLoader | None = None
        self.fetched = 0
        self.done = False
        self.length: int | None = None
        self._held: Any = _NOTHING
        self._last: Any = None
        self._start = (0, 0)
        self._fetch: Any = None

    # ------------------------------------------------------------------------------------------------------------
    @property
    def combined_loader(self) -> CombinedLoader:
        """The :class:`CombinedLoader` given to :meth:`setup`."""
        if self._combined_loader is None:
            raise MisconfigurationException(
                f"`{type(self).__name__}` should have been `setup` with a `CombinedLoader`."
                f" Call `{type(self).__name__}().setup(CombinedLoader(...))` before iterating."
            )
        return self._combined_loader

    def setup(self, combined_loader: CombinedLoader) -> None:
        """Attach the combined loader to fetch from (a plain iterable is wrapped in one)."""
        if not isinstance(combined_loader, CombinedLoader):
            combined_loader = CombinedLoader(combined_loader, "max_size_cycle")
        self._combined_loader = combined_loader

    @property
    def is_last_batch(self) -> bool:
        """Whether the batch returned last is the final one of the pass (same as :attr:`done`)."""
        return self.done

    def __iter__(self) -> PrefetchFetcher:
        combined_loader = self.combined_loader
        iter(combined_loader)
        self.reset()
        iterator = combined_loader._iterator
        self._start = (iterator._idx, getattr(iterator, "_iterator_idx", 0))  # type: ignore[union-attr]
        # a resumed pass counts the batches consumed before its position: ``done`` must turn ``True`` on the same
        # batch as in an uninterrupted pass. Asking the loader for one batch past the end is not harmless: in
        # "max_size_cycle" mode it restarts the shorter iterables (a new shuffle drawn from the global
        # generator) before it stops, which would shift every random draw that follows.
        self.fetched = iterator.produced() or 0  # type: ignore[union-attr]
        if self.length is not None:
            self.done = self.fetched >= self.length
        self._fetch = combined_loader._fetch
        if self.length is None and self.prefetch_batches > 0:
            try:
                self._held = self._fetch()
                self.fetched += 1
            except StopIteration:
                self.done = True
        return self

    def __next__(self) -> _ITERATOR_RETURN:
        held = self._held
        if held is _NOTHING:
            if self.done:
                raise StopIteration
            try:
                out = self._fetch()
            except StopIteration:
                self.done = True
                raise
            self.fetched += 1
            if self.length is not None:
                self.done = self.fetched >= self.length
            self._last = out
            return out
        try:
            self._held = self._fetch()
            self.fetched += 1
        except StopIteration:
            self._held = _NOTHING
            self.done = True
        self._last = held
        return held

    def reset(self) -> None:
        """Forget the progress of the current pass (the combined loader keeps its iterator)."""
        self.fetched = 0
        self._held = _NOTHING
        self._last = None
        if self._combined_loader is not None and self._combined_loader._iterator is not None:
            self.length = sized_len(self._combined_loader)
            self.done = self.length == 0
        else:
            self.length = None
            self.done = False

    def teardown(self) -> None:
        """Reset, release the combined loader's iterator and shut down data loader workers."""
        self.reset()
        if self._combined_loader is not None:
            self._combined_loader.reset()
        self._fetch = None

    # ------------------------------------------------------------------------------------------------------------
    # data position (lit_hooks.DataPositionProtocol)
    def _consumed(self) -> tuple[int, int]:
        last = self._last
        if last is None:
            return self._start
        return last[1] + 1, last[2]

    @property
    def position(self) -> int:
        """Batches handed out in the current pass (in sequential mode: from the current dataloader)."""
        return self._consumed()[0]

    def data_position(self) -> DataPosition:
        """The current position as a :class:`DataPosition` (with the combined loader's state).

        When every batch of the pass was handed out, the position is marked finished: restoring it starts the
        next pass afresh instead of an empty remainder.
        """
        consumed, dataloader_idx = self._consumed()
        loaders = self.combined_loader.state_dict(consumed, dataloader_idx)
        loaders["finished"] = bool(self.done and self._held is _NOTHING and self._fetch is not None)
        return DataPosition(
            epoch=loaders["epoch"], position=consumed, dataloader_idx=dataloader_idx, loaders=loaders
        )

    def state_dict(self) -> dict[str, Any]:
        """The exact data position; the batch held in reserve (if any) is not counted as consumed."""
        return self.data_position().state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a position from :meth:`state_dict`; the next ``iter()`` continues right after it."""
        position = DataPosition()
        position.load_state_dict(state_dict)
        if position.loaders is not None:
            self.combined_loader.load_state_dict(position.loaders)


class DataFetcherWrapper(Iterator[_ITERATOR_RETURN]):
    """The ``dataloader_iter`` handed to a ``*_step(dataloader_iter)``: each ``next()`` pulls one batch.

    Args:
        data_fetcher: The fetcher it pulls from.
    """

    def __init__(self, data_fetcher: DataLoaderIterFetcher) -> None:
        self.data_fetcher = data_fetcher

    @property
    def done(self) -> bool:
        """Whether the pass is over."""
        return self.data_fetcher.done

    @property
    def fetched(self) -> int:
        """Batches pulled so far in this pass (a resumed pass counts those consumed before the resume)."""
        return self.data_fetcher.fetched

    @property
    def length(self) -> int | None:
        """Batches in the pass, or ``None`` when unknown."""
        return self.data_fetcher.length

    def __iter__(self) -> DataFetcherWrapper:
        return self

    def __next__(self) -> _ITERATOR_RETURN:
        fetcher = self.data_fetcher
        if fetcher.done:
            raise StopIteration
        out = PrefetchFetcher.__next__(fetcher)
        fetcher._batch, fetcher._batch_idx, fetcher._dataloader_idx = out
        return out


class DataLoaderIterFetcher(PrefetchFetcher):
    """Fetcher for steps that take the iterator: ``next(fetcher)`` returns a :class:`DataFetcherWrapper`.

    The loop calls ``next()`` once per step and passes the wrapper to the step, which pulls as many batches as it
    wants. The last batch pulled is kept in ``_batch``, ``_batch_idx`` and ``_dataloader_idx`` for the loop's
    hooks. Nothing is fetched ahead.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> fetcher = DataLoaderIterFetcher()
        >>> fetcher.setup(CombinedLoader(DataLoader(range(4), batch_size=2)))
        >>> dataloader_iter = next(iter(fetcher))
        >>> batch, batch_idx, _ = next(dataloader_iter)
        >>> batch.tolist(), batch_idx, fetcher.done
        ([0, 1], 0, False)
    """

    def __init__(self) -> None:
        super().__init__(prefetch_batches=0)
        self._batch: Any = None
        self._batch_idx = 0
        self._dataloader_idx = 0
        self.iterator_wrapper = DataFetcherWrapper(self)

    def __iter__(self) -> DataLoaderIterFetcher:
        super().__iter__()
        return self

    def __next__(self) -> DataFetcherWrapper:  # type: ignore[override]
        if self.done:
            raise StopIteration
        return self.iterator_wrapper

    def reset(self) -> None:
        super().reset()
        self._batch = None
        self._batch_idx = 0
        self._dataloader_idx = 0
