from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import BatchSampler, DataLoader, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from lit_data import (
    DistributedSamplerWrapper,
    IndexBatchSamplerWrapper,
    UnrepeatedDistributedSampler,
    UnrepeatedDistributedSamplerWrapper,
    set_sampler_epoch,
    use_distributed_sampler,
)


def _rank_indices(loader: DataLoader, world_size: int, epoch: int = 0, **kwargs: Any) -> list[list[int]]:
    out = []
    for rank in range(world_size):
        sharded = use_distributed_sampler(loader, world_size=world_size, rank=rank, **kwargs)
        set_sampler_epoch(sharded, epoch)
        out.append([i for batch in sharded for i in batch.tolist()])
    return out


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 40),
    world_size=st.integers(1, 6),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 1000),
    epoch=st.integers(0, 5),
)
def test_distributed_sampler_properties(
    n: int, world_size: int, shuffle: bool, drop_last: bool, seed: int, epoch: int
) -> None:
    loader = DataLoader(range(n), batch_size=3, shuffle=True)
    ranks = _rank_indices(loader, world_size, epoch, shuffle=shuffle, seed=seed, drop_last=drop_last)
    per_rank = n // world_size if drop_last else math.ceil(n / world_size)
    assert all(len(indices) == per_rank for indices in ranks)
    flat = [i for indices in ranks for i in indices]
    counts = Counter(flat)
    assert set(counts) <= set(range(n))
    if drop_last:
        # every sample at most once; splits disjoint
        assert all(c == 1 for c in counts.values())
        assert len(flat) == per_rank * world_size
    else:
        # the union covers the dataset; each sample once, except the padding
        assert set(counts) == set(range(n))
        assert sum(c - 1 for c in counts.values()) == per_rank * world_size - n
    if n % world_size == 0:
        for a in range(world_size):
            for b in range(a + 1, world_size):
                assert not set(ranks[a]) & set(ranks[b])
    # the same epoch gives the same split; the order depends only on seed and epoch
    assert _rank_indices(loader, world_size, epoch, shuffle=shuffle, seed=seed, drop_last=drop_last) == ranks
    if not shuffle:
        assert ranks[0][: min(per_rank, 2)] == list(range(0, world_size * 2, world_size))[: min(per_rank, 2)]


def test_set_epoch_reshuffles() -> None:
    loader = DataLoader(range(32), batch_size=4, shuffle=True)
    first = _rank_indices(loader, 2, epoch=0, seed=3)
    assert _rank_indices(loader, 2, epoch=1, seed=3) != first
    assert _rank_indices(loader, 2, epoch=0, seed=3) == first
    assert _rank_indices(loader, 2, epoch=0, seed=4) != first


def test_shuffle_is_kept_from_the_loader() -> None:
    shuffled = _rank_indices(DataLoader(range(16), batch_size=2, shuffle=True), 2)
    ordered = _rank_indices(DataLoader(range(16), batch_size=2), 2)
    assert ordered == [list(range(0, 16, 2)), list(range(1, 16, 2))]
    assert shuffled != ordered


def test_seed_defaults_to_global_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = DataLoader(range(16), batch_size=2, shuffle=True)
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    from_env = use_distributed_sampler(loader, world_size=2, rank=0)
    assert from_env.sampler.seed == 7
    assert _rank_indices(loader, 2) == _rank_indices(loader, 2, seed=7)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 30), world_size=st.integers(1, 5), shuffle=st.booleans(), epoch=st.integers(0, 3))
def test_unrepeated_sampler_covers_each_sample_once(
    n: int, world_size: int, shuffle: bool, epoch: int
) -> None:
    if 0 < n < world_size:
        with pytest.raises(ValueError, match="would get no sample"):
            UnrepeatedDistributedSampler(range(n), num_replicas=world_size, rank=world_size - 1)
        return
    ranks = []
    for rank in range(world_size):
        sampler = UnrepeatedDistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=shuffle)
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == len(sampler) == len(range(rank, n, world_size))
        ranks.append(indices)
    flat = [i for indices in ranks for i in indices]
    assert sorted(flat) == list(range(n))
    assert max(map(len, ranks)) - min(map(len, ranks)) <= 1


def test_unrepeated_sampler_order() -> None:
    sampler = UnrepeatedDistributedSampler(range(7), num_replicas=3, rank=1, shuffle=False)
    assert list(sampler) == [1, 4]
    shuffled = UnrepeatedDistributedSampler(range(7), num_replicas=3, rank=0, shuffle=True, seed=123)
    # the permutation depends on the epoch only (Lightning's behaviour)
    generator = torch.Generator().manual_seed(0)
    assert list(shuffled) == torch.randperm(7, generator=generator).tolist()[0:7:3]


class _Reversed(Sampler[int]):
    def __init__(self, n: int) -> None:
        self.n = n
        self.epochs: list[int] = []

    def __iter__(self) -> Any:
        return iter(range(self.n - 1, -1, -1))

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_sampler_wrapper_shards_a_user_sampler() -> None:
    inner = _Reversed(6)
    ranks = [list(DistributedSamplerWrapper(inner, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    assert ranks == [[5, 3, 1], [4, 2, 0]]
    wrapper = DistributedSamplerWrapper(inner, num_replicas=2, rank=0)
    wrapper.set_epoch(4)
    assert inner.epochs == [4] and wrapper.epoch == 4
    unrepeated = [
        list(UnrepeatedDistributedSamplerWrapper(_Reversed(5), num_replicas=2, rank=r, shuffle=False))
        for r in (0, 1)
    ]
    assert unrepeated == [[4, 2, 0], [3, 1]]


def test_user_sampler_in_loader_gets_wrapper() -> None:
    loader = DataLoader(range(6), sampler=_Reversed(6), batch_size=2)
    sharded = use_distributed_sampler(loader, world_size=2, rank=1)
    assert isinstance(sharded.sampler, DistributedSamplerWrapper)
    assert [b.tolist() for b in sharded] == [[4, 2], [0]]


def test_sampler_without_len_is_rejected() -> None:
    class Endless(Sampler[int]):
        def __iter__(self) -> Any:
            return iter(range(3))

    with pytest.raises(TypeError, match="does not provide `__len__`"):
        DistributedSamplerWrapper(Endless(), num_replicas=2, rank=0)


def test_index_batch_sampler_wrapper_records_indices() -> None:
    wrapper = IndexBatchSamplerWrapper(BatchSampler(SequentialSampler(range(5)), 2, drop_last=False))
    assert wrapper.batch_size == 2 and len(wrapper) == 3
    assert list(wrapper) == [[0, 1], [2, 3], [4]]
    assert wrapper.seen_batch_indices == [[0, 1], [2, 3], [4]]
    iter(wrapper)
    assert wrapper.seen_batch_indices == []


def test_already_distributed_and_iterable_loaders_are_left_alone() -> None:
    sampler = DistributedSampler(range(8), num_replicas=2, rank=0)
    loader = DataLoader(range(8), sampler=sampler)
    assert use_distributed_sampler(loader, world_size=2, rank=0) is loader
    stream = DataLoader(_Stream())
    assert use_distributed_sampler(stream, world_size=2, rank=1) is stream
    assert use_distributed_sampler([1, 2], world_size=2, rank=1) == [1, 2]
    with pytest.raises(ValueError, match="`rank` must be an int in \\[0, 2\\)"):
        use_distributed_sampler(loader, world_size=2, rank=2)


class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self) -> Any:
        return iter(range(3))
