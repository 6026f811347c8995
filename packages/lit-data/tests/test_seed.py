from __future__ import annotations

import io
import os
import random
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset

from lit_data import (
    auto_add_worker_init_fn,
    collect_rng_states,
    pl_worker_init_function,
    reset_seed,
    seed,
    seed_everything,
    set_rng_states,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    monkeypatch.delenv("PL_SEED_WORKERS", raising=False)


def _draw() -> tuple[float, float, float]:
    return torch.rand(1).item(), float(np.random.rand()), random.random()


def test_seed_everything_seeds_all_generators() -> None:
    assert seed_everything(42, verbose=False) == 42
    first = _draw()
    seed_everything(42, verbose=False)
    assert _draw() == first
    assert os.environ["PL_GLOBAL_SEED"] == "42" and os.environ["PL_SEED_WORKERS"] == "0"
    seed_everything(42, workers=True, verbose=False)
    assert os.environ["PL_SEED_WORKERS"] == "1"
    assert seed.seed_everything is seed_everything


def test_seed_from_environment_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.warns(UserWarning, match="No seed found, seed set to 0"):
        assert seed_everything() == 0
    monkeypatch.setenv("PL_GLOBAL_SEED", "123")
    assert seed_everything(verbose=False) == 123
    monkeypatch.setenv("PL_GLOBAL_SEED", "abc")
    with pytest.raises(ValueError, match="Invalid seed specified via PL_GLOBAL_SEED: 'abc'"):
        seed_everything()
    with pytest.raises(ValueError, match="not in bounds"):
        seed_everything(-1)
    with pytest.raises(ValueError, match="not in bounds"):
        seed_everything(2**32)
    assert seed_everything(7.0, verbose=False) == 7  # type: ignore[arg-type]


def test_reset_seed() -> None:
    reset_seed()  # nothing to reset: no error
    seed_everything(5, workers=True, verbose=False)
    first = _draw()
    _draw()
    reset_seed()
    assert _draw() == first
    assert os.environ["PL_SEED_WORKERS"] == "1"


def test_rng_states_round_trip_through_safe_loading() -> None:
    seed_everything(1, verbose=False)
    states = collect_rng_states()
    expected = _draw()
    buffer = io.BytesIO()
    torch.save(states, buffer)
    buffer.seek(0)
    set_rng_states(torch.load(buffer, weights_only=True))
    assert _draw() == expected


@settings(max_examples=50, deadline=None)
@given(base=st.integers(0, 2**32 - 1), workers=st.integers(1, 8), ranks=st.integers(1, 8))
def test_worker_seeds_are_distinct(base: int, workers: int, ranks: int) -> None:
    sequences = {
        tuple(seed._generate_seed_sequence(base, w, r, count=4)) for w in range(workers) for r in range(ranks)
    }
    assert len(sequences) == workers * ranks


def _worker_draws(rank: int, worker_id: int, base_seed: int) -> tuple[float, float, float]:
    # what the DataLoader does in a worker: seed torch with base + id, then call the worker_init_fn
    torch.manual_seed(base_seed + worker_id)
    pl_worker_init_function(worker_id, rank=rank)
    return _draw()


def test_worker_init_function_in_process() -> None:
    draws = {(r, w): _worker_draws(r, w, 1234) for r in range(3) for w in range(3)}
    assert len(set(draws.values())) == 9
    for value in zip(*draws.values()):  # each generator differs across workers
        assert len(set(value)) == 9
    assert _worker_draws(1, 2, 1234) == draws[(1, 2)]


class _RandomDataset(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> Any:
        info = torch.utils.data.get_worker_info()
        return torch.tensor(
            [info.id if info else -1, torch.rand(1).item(), np.random.rand(), random.random()]
        )


def _run_workers(rank: int) -> torch.Tensor:
    seed_everything(3, workers=True, verbose=False)
    loader = DataLoader(_RandomDataset(), batch_size=1, num_workers=2)
    auto_add_worker_init_fn(loader, rank)
    return torch.cat(list(loader))


def test_real_workers_are_distinct_per_worker_and_rank_and_reproducible() -> None:
    rank0 = _run_workers(0)
    rank1 = _run_workers(1)
    assert torch.equal(_run_workers(0), rank0)  # same seed, same data on a rerun
    values = torch.cat([rank0, rank1])[:, 1:]
    # first item of each worker on each rank: four distinct streams for torch, numpy and random
    firsts = torch.stack([rank0[0], rank0[1], rank1[0], rank1[1]])
    assert firsts[:, 0].tolist() == [0, 1, 0, 1]
    for column in range(1, 4):
        assert len(set(firsts[:, column].tolist())) == 4
    assert values.unique().numel() == values.numel()
