from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from lit_data import CombinedLoader, DataLoaderIterFetcher, PrefetchFetcher
from lit_hooks import DataPositionProtocol, MisconfigurationException


class _Stream(IterableDataset):
    """An iterable dataset without ``__len__``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Any:
        return iter(range(self.n))


def _done_flags(fetcher: PrefetchFetcher) -> list[tuple[int, bool]]:
    return [(batch_idx, fetcher.done) for _, batch_idx, _ in fetcher]


@pytest.mark.parametrize("n", [0, 1, 3])
@pytest.mark.parametrize("sized", [True, False])
def test_done_is_known_one_batch_ahead(n: int, sized: bool) -> None:
    data = range(n) if sized else _Stream(n)
    fetcher = PrefetchFetcher()
    fetcher.setup(CombinedLoader(DataLoader(data, batch_size=1)))
    flags = _done_flags(fetcher)
    assert flags == [(i, i == n - 1) for i in range(n)]
    assert fetcher.done
    assert fetcher.fetched == n
    assert fetcher.length == (n if sized else None)


def test_without_prefetch_done_only_after_stop() -> None:
    fetcher = PrefetchFetcher(prefetch_batches=0)
    fetcher.setup(CombinedLoader(DataLoader(_Stream(2), batch_size=1)))
    assert _done_flags(fetcher) == [(0, False), (1, False)]
    assert fetcher.done


def test_batches_are_not_copied() -> None:
    items = [torch.zeros(2), torch.ones(2)]
    fetcher = PrefetchFetcher()
    fetcher.setup(CombinedLoader(iter(items)))  # unsized: the fetcher holds one batch in reserve
    assert [batch for batch, _, _ in fetcher][0] is items[0]


def test_setup_required_and_plain_iterables_are_wrapped() -> None:
    with pytest.raises(MisconfigurationException, match="setup"):
        iter(PrefetchFetcher())
    with pytest.raises(ValueError, match="prefetch_batches"):
        PrefetchFetcher(prefetch_batches=-1)
    fetcher = PrefetchFetcher()
    fetcher.setup({"a": [1, 2], "b": [3]})
    assert [batch for batch, _, _ in fetcher] == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]


def test_sequential_mode_through_fetcher() -> None:
    fetcher = PrefetchFetcher()
    fetcher.setup(CombinedLoader([[1, 2], [], [3]], "sequential"))
    assert [(b, i, d, fetcher.done) for b, i, d in fetcher] == [
        (1, 0, 0, False),
        (2, 1, 0, False),
        (3, 0, 2, True),
    ]


def test_reset_and_teardown() -> None:
    fetcher = PrefetchFetcher()
    fetcher.setup(CombinedLoader([1, 2, 3]))
    iterator = iter(fetcher)
    next(iterator)
    assert fetcher.fetched == 1 and fetcher.position == 1
    fetcher.teardown()
    assert fetcher.fetched == 0 and fetcher.combined_loader._iterator is None
    assert [b for b, _, _ in fetcher] == [1, 2, 3]


def test_fetcher_is_a_data_position() -> None:
    fetcher = PrefetchFetcher()
    assert isinstance(fetcher, DataPositionProtocol)


def test_dataloader_iter_style() -> None:
    fetcher = DataLoaderIterFetcher()
    fetcher.setup(CombinedLoader(DataLoader(range(5), batch_size=2)))
    steps = []
    for dataloader_iter in fetcher:
        # a step that takes two batches at once when it can
        batch, batch_idx, _ = next(dataloader_iter)
        pulled = [batch.tolist()]
        if not dataloader_iter.done:
            pulled.append(next(dataloader_iter)[0].tolist())
        steps.append((pulled, fetcher._batch_idx, fetcher.done))
    assert steps == [([[0, 1], [2, 3]], 1, False), ([[4]], 2, True)]
    assert dataloader_iter.fetched == 3 and dataloader_iter.length == 3
    with pytest.raises(StopIteration):
        next(dataloader_iter)


def test_dataloader_iter_unsized_stops_cleanly() -> None:
    fetcher = DataLoaderIterFetcher()
    fetcher.setup(CombinedLoader(iter([1, 2])))
    seen = []
    for dataloader_iter in fetcher:
        try:
            seen.append(next(dataloader_iter)[0])
        except StopIteration:
            break
    assert seen == [1, 2] and fetcher.done
