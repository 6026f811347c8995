from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler

from lit_data import (
    CombinedLoader,
    DataPosition,
    PrefetchFetcher,
    ResumableSampler,
    capture_loader_state,
    make_resumable,
    restore_loader_state,
)
from lit_hooks import DataPositionProtocol

MODES = ["min_size", "max_size_cycle", "max_size", "sequential"]


class _CountingDataset(Dataset):
    """Records which indices were loaded, to prove skipped samples are never read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.loaded: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        self.loaded.append(index)
        return index


def _plain(batch: Any) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.tolist()
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return [_plain(v) for v in batch]
    return batch


def _through_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    """Save and load the state the way a checkpoint does (safe loading)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _take(fetcher: PrefetchFetcher, k: int) -> list[Any]:
    out = []
    iterator = iter(fetcher)
    for _ in range(k):
        batch, batch_idx, dataloader_idx = next(iterator)
        out.append((_plain(batch), batch_idx, dataloader_idx))
    return out


def _rest(fetcher: PrefetchFetcher) -> list[Any]:
    # continue the pass already opened (after load_state_dict the next iter() continues it)
    return [(_plain(b), i, d) for b, i, d in fetcher]


def _check_resume(make: Callable[[], Any], mode: str, k: int, seed: int, prefetch: int = 1) -> None:
    """Stopping after ``k`` batches and restoring in a fresh process gives exactly the remaining batches."""
    # the uninterrupted run: two passes
    torch.manual_seed(seed)
    fetcher = PrefetchFetcher(prefetch)
    fetcher.setup(CombinedLoader(make(), mode))
    first = _rest(fetcher)
    second = _rest(fetcher)
    k = min(k, len(first))

    # the interrupted run: k batches, then a "checkpoint" of the data position and of the global RNG
    torch.manual_seed(seed)
    fetcher = PrefetchFetcher(prefetch)
    fetcher.setup(CombinedLoader(make(), mode))
    head = _take(fetcher, k)
    assert fetcher.position == (head[-1][1] + 1 if head else 0)
    state = _through_checkpoint(fetcher.state_dict())
    rng = torch.get_rng_state()

    # a "new process": other random state, new objects, then the checkpoint is restored
    torch.manual_seed(seed + 1000)
    resumed = PrefetchFetcher(prefetch)
    resumed.setup(CombinedLoader(make(), mode))
    resumed.load_state_dict(state)
    torch.set_rng_state(rng)
    if state["loaders"]["finished"]:
        # saved after the last batch: resuming starts the next epoch
        assert k == len(first)
        assert _rest(resumed) == second
        return
    tail = _rest(resumed)
    assert head + tail == first
    # the epochs after the resumed one are identical too
    assert _rest(resumed) == second


def _loaders(shape: str, lengths: list[int], batch_size: int, shuffle: bool) -> Callable[[], Any]:
    def make() -> Any:
        loaders = [
            DataLoader(range(i * 1000, i * 1000 + n), batch_size=batch_size, shuffle=shuffle and n > 0)
            for i, n in enumerate(lengths)
        ]
        if shape == "single":
            return loaders[0]
        if shape == "dict":
            return {f"l{i}": loader for i, loader in enumerate(loaders)}
        return loaders

    return make


@settings(max_examples=100, deadline=None)
@given(
    mode=st.sampled_from(MODES),
    shape=st.sampled_from(["single", "list", "dict"]),
    lengths=st.lists(st.integers(0, 9), min_size=1, max_size=3),
    batch_size=st.integers(1, 3),
    shuffle=st.booleans(),
    k=st.integers(0, 12),
    seed=st.integers(0, 2**16),
    prefetch=st.sampled_from([0, 1]),
)
def test_resume_gives_remaining_batches(
    mode: str,
    shape: str,
    lengths: list[int],
    batch_size: int,
    shuffle: bool,
    k: int,
    seed: int,
    prefetch: int,
) -> None:
    if shape == "single":
        lengths = lengths[:1]
    _check_resume(_loaders(shape, lengths, batch_size, shuffle), mode, k, seed, prefetch)


def test_resume_does_not_cycle_past_the_end() -> None:
    # Regression: a resumed fetcher counted its batches from 0, so it asked the combined loader for one batch past
    # the end; in "max_size_cycle" mode that restarted the shorter loader (a new shuffle drawn from the global
    # generator) before stopping, and every later epoch was shuffled differently than without the interruption.
    make = _loaders("list", [1, 2], batch_size=1, shuffle=True)
    for _ in range(20):
        _check_resume(make, "max_size_cycle", k=1, seed=0, prefetch=0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("limits", [None, 3])
def test_resumed_fetcher_knows_the_last_batch(mode: str, limits: int | None) -> None:
    def run(k: int | None, state: dict[str, Any] | None = None) -> tuple[list[Any], PrefetchFetcher]:
        torch.manual_seed(4)
        combined = CombinedLoader(_loaders("list", [3, 7, 4], 2, True)(), mode)
        combined.limits = limits
        fetcher = PrefetchFetcher(0)
        fetcher.setup(combined)
        if state is not None:
            fetcher.load_state_dict(state)
        iterator = iter(fetcher)
        out = []
        for _ in range(len(combined) if k is None else k):
            _, batch_idx, dataloader_idx = next(iterator)
            out.append((batch_idx, dataloader_idx, fetcher.fetched, fetcher.done))
        return out, fetcher

    full, _ = run(None)
    assert full[-1][3] and not any(done for *_, done in full[:-1])
    for k in range(len(full)):
        head, fetcher = run(k)
        if k:
            assert head == full[:k]
        tail, resumed = run(len(full) - k, _through_checkpoint(fetcher.state_dict()))
        assert tail == full[k:]
        assert resumed.done
        with pytest.raises(StopIteration):
            next(resumed)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 8), seed=st.integers(0, 2**16), mode=st.sampled_from(MODES))
def test_resume_with_unsized_member(k: int, seed: int, mode: str) -> None:
    # an iterator without __len__ makes the fetcher hold a batch in reserve; lists skip by slicing
    def make() -> Any:
        return {"shuffled": DataLoader(range(7), batch_size=2, shuffle=True), "plain": [10, 11, 12, 13, 14]}

    _check_resume(make, mode, k, seed)


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_resume_with_workers(shuffle: bool, persistent: bool) -> None:
    def make() -> Any:
        return DataLoader(
            range(20), batch_size=3, shuffle=shuffle, num_workers=2, persistent_workers=persistent
        )

    _check_resume(make, "max_size_cycle", 3, seed=11)


def test_skipped_samples_are_never_loaded() -> None:
    dataset = _CountingDataset(40)
    torch.manual_seed(3)
    loader = make_resumable(DataLoader(dataset, batch_size=4, shuffle=True))
    iterator = iter(loader)
    consumed = [next(iterator).tolist() for _ in range(3)]
    state = capture_loader_state(loader, 3)
    expected_rest = [b.tolist() for b in iterator]

    fresh = _CountingDataset(40)
    torch.manual_seed(99)
    other = DataLoader(fresh, batch_size=4, shuffle=True)
    restore_loader_state(other, state)
    rest = [b.tolist() for b in other]
    assert rest == expected_rest
    assert sorted(fresh.loaded) == sorted(i for batch in rest for i in batch)
    assert not set(fresh.loaded) & {i for batch in consumed for i in batch}


def test_sampler_generator_state_is_replayed() -> None:
    def make() -> DataLoader:
        generator = torch.Generator().manual_seed(5)
        return make_resumable(
            DataLoader(range(12), batch_size=5, sampler=RandomSampler(range(12), generator=generator))
        )

    loader = make()
    iterator = iter(loader)
    head = next(iterator).tolist()
    state = capture_loader_state(loader, 1)
    rest = [b.tolist() for b in iterator]
    next_epoch = [b.tolist() for b in loader]

    other = make()
    restore_loader_state(other, state)
    assert [b.tolist() for b in other] == rest
    assert [b.tolist() for b in other] == next_epoch
    assert head not in rest


class _PythonRandomSampler(Sampler[int]):
    """A user sampler shuffling with Python's ``random`` module."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Any:
        order = list(range(self.n))
        random.shuffle(order)
        return iter(order)

    def __len__(self) -> int:
        return self.n


def test_unknown_sampler_replays_python_and_numpy_state() -> None:
    def make() -> DataLoader:
        return DataLoader(range(10), batch_size=3, sampler=_PythonRandomSampler(10))

    random.seed(1)
    loader = make_resumable(make())
    iterator = iter(loader)
    next(iterator)
    state = capture_loader_state(loader, 1)
    python_state = random.getstate()
    rest = [b.tolist() for b in iterator]

    random.seed(2)
    np.random.seed(2)
    other = make()
    restore_loader_state(other, state)
    random.setstate(python_state)
    assert [b.tolist() for b in other] == rest
    assert random.getstate() == python_state  # the replay put the global state back


class _StatefulSampler(Sampler[int]):
    """A sampler that knows its own position."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.start = 0

    def __iter__(self) -> Any:
        for i in range(self.start, self.n):
            self.start = i + 1
            yield i
        self.start = 0

    def __len__(self) -> int:
        return self.n

    def state_dict(self) -> dict[str, int]:
        return {"start": self.start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.start = state["start"]


def test_stateful_sampler_is_restored_as_is() -> None:
    loader = DataLoader(range(6), sampler=_StatefulSampler(6), batch_size=2)
    make_resumable(loader)
    iterator = iter(loader)
    next(iterator)
    state = capture_loader_state(loader, 1)
    assert state["sampler_state"] == {"start": 2}
    other = DataLoader(range(6), sampler=_StatefulSampler(6), batch_size=2)
    restore_loader_state(other, state)
    # no index skipping on top of the sampler's own position
    assert [b.tolist() for b in other] == [[2, 3], [4, 5]]


def test_custom_batch_sampler_skips_whole_batches() -> None:
    class Growing(Sampler[list[int]]):
        def __iter__(self) -> Any:
            return iter([[0], [1, 2], [3, 4, 5], [6]])

        def __len__(self) -> int:
            return 4

    loader = make_resumable(DataLoader(range(7), batch_sampler=Growing()))
    restore_loader_state(loader, {"batches_consumed": 2, "record": None})
    assert [b.tolist() for b in loader] == [[3, 4, 5], [6]]


def test_wrapper_is_transparent() -> None:
    loader = DataLoader(range(10), batch_size=4, drop_last=True, shuffle=True)
    original = loader.batch_sampler
    make_resumable(loader)
    make_resumable(loader)  # idempotent
    wrapper = loader.batch_sampler
    assert type(wrapper) is ResumableSampler and wrapper.index_sampler is original
    assert isinstance(wrapper, BatchSampler)
    assert wrapper.batch_size == 4 and wrapper.drop_last is True and len(loader) == 2
    assert isinstance(loader.sampler, RandomSampler)
    # batch_size=None: the sampler itself is wrapped
    unbatched = make_resumable(DataLoader(range(3), batch_size=None))
    assert isinstance(unbatched.sampler, SequentialSampler)
    assert [int(x) for x in unbatched] == [0, 1, 2]
    # pickling keeps the wrapper working
    clone = torch.load(io.BytesIO(_pickled(wrapper)), weights_only=False)
    assert len(clone) == 2


def _pickled(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_resume_from_validates_skip() -> None:
    wrapper = ResumableSampler(SequentialSampler(range(3)))
    with pytest.raises(ValueError, match="`skip` must be an int >= 0"):
        wrapper.resume_from(None, -1)
    with pytest.raises(ValueError, match="`batches_consumed` must be an int >= 0"):
        capture_loader_state([1, 2], -2)


def test_data_position_protocol_and_round_trip() -> None:
    position = DataPosition(epoch=3, position=7, dataloader_idx=1, loaders={"mode": "sequential"})
    assert isinstance(position, DataPositionProtocol)
    restored = DataPosition()
    restored.load_state_dict(_through_checkpoint(position.state_dict()))
    assert restored == position


def test_load_state_dict_checks_mode_and_count() -> None:
    combined = CombinedLoader([[1, 2]], "sequential")
    iter(combined)
    state = combined.state_dict()
    with pytest.raises(ValueError, match="mode 'sequential'"):
        CombinedLoader([[1, 2]], "min_size").load_state_dict(state)
    with pytest.raises(ValueError, match="has 1 iterables but this CombinedLoader has 2"):
        CombinedLoader([[1], [2]], "sequential").load_state_dict(state)


def test_unskippable_iterable_warns_and_restarts() -> None:
    combined = CombinedLoader(iter([1, 2, 3]), "max_size_cycle")
    iter(combined)
    next(combined)
    state = combined.state_dict()
    other = CombinedLoader(iter([1, 2, 3]), "max_size_cycle")
    other.load_state_dict(state)
    with pytest.warns(UserWarning, match="Cannot resume `list_iterator` at batch 1"):
        iter(other)
