from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler
from torch.utils.data.distributed import DistributedSampler

from lit_data import (
    IndexBatchSamplerWrapper,
    auto_add_worker_init_fn,
    capture_init_arguments,
    is_dataloader_shuffled,
    make_resumable,
    pl_worker_init_function,
    requires_distributed_sampler,
    update_dataloader,
    use_distributed_sampler,
)
from lit_hooks import MisconfigurationException, RunningStage


def _collate(batch: list[int]) -> list[int]:
    return [x * 10 for x in batch]


def _init_fn(worker_id: int) -> None:
    pass


def test_every_user_argument_is_kept() -> None:
    generator = torch.Generator()
    loader = DataLoader(
        range(10),
        batch_size=3,
        shuffle=True,
        num_workers=2,
        collate_fn=_collate,
        pin_memory=True,
        drop_last=True,
        timeout=5.0,
        worker_init_fn=_init_fn,
        generator=generator,
        prefetch_factor=4,
        persistent_workers=True,
    )
    sharded = use_distributed_sampler(loader, world_size=2, rank=0)
    assert isinstance(sharded.sampler, DistributedSampler) and sharded.sampler.shuffle
    for name in ("batch_size", "num_workers", "collate_fn", "pin_memory", "drop_last", "timeout"):
        assert getattr(sharded, name) == getattr(loader, name), name
    assert sharded.worker_init_fn is _init_fn and sharded.generator is generator
    assert sharded.prefetch_factor == 4 and sharded.persistent_workers


def test_resumable_loader_is_unwrapped() -> None:
    loader = make_resumable(DataLoader(range(8), batch_size=2, shuffle=True))
    assert is_dataloader_shuffled(loader)
    sharded = use_distributed_sampler(loader, world_size=2, rank=1)
    assert type(sharded.batch_sampler) is BatchSampler
    assert isinstance(sharded.sampler, DistributedSampler)
    assert requires_distributed_sampler(loader, True, True)
    assert not requires_distributed_sampler(sharded, True, True)
    assert not requires_distributed_sampler(loader, False, True)


class _ArgsLoader(DataLoader):
    """A subclass whose __init__ arguments are not stored as attributes."""

    def __init__(self, scale: int, dataset: Any, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.factor = scale


def test_subclass_arguments_are_recovered_when_captured() -> None:
    with capture_init_arguments():
        loader = _ArgsLoader(3, range(6), batch_size=2)
        loader.extra = "kept"
    new = update_dataloader(loader, SequentialSampler(range(6)))
    assert type(new) is _ArgsLoader and new.factor == 3 and new.batch_size == 2
    assert new.extra == "kept"  # attributes set after __init__ are replayed
    # outside the context the patches are gone
    assert DataLoader.__init__.__name__ == "__init__" and not hasattr(DataLoader.__init__, "__wrapped__")


def test_subclass_arguments_missing_raise_clear_error() -> None:
    loader = _ArgsLoader(3, range(6), batch_size=2)
    with pytest.raises(MisconfigurationException, match=r"The missing attributes are \['scale'\]") as err:
        update_dataloader(loader, SequentialSampler(range(6)))
    assert "define `self.scale` inside your `__init__`" in str(err.value)


class _NoKwargsLoader(DataLoader):
    def __init__(self, dataset: Any) -> None:
        super().__init__(dataset, batch_size=2)


def test_subclass_without_kwargs_raise_clear_error() -> None:
    loader = _NoKwargsLoader(range(6))
    with pytest.raises(
        MisconfigurationException,
        match=r"The missing arguments are \['batch_sampler', 'sampler', 'shuffle'\]",
    ):
        update_dataloader(loader, SequentialSampler(range(6)))


class _SizedBatchSampler(BatchSampler):
    """A batch sampler with an extra required argument."""

    def __init__(self, tag: str, sampler: Sampler, batch_size: int, drop_last: bool = False) -> None:
        super().__init__(sampler, batch_size, drop_last)
        self.tag = tag


def test_custom_batch_sampler_is_recreated_around_the_new_sampler() -> None:
    with capture_init_arguments():
        loader = DataLoader(range(10), batch_sampler=_SizedBatchSampler("t", RandomSampler(range(10)), 3))
    sharded = use_distributed_sampler(loader, world_size=2, rank=0)
    batch_sampler = sharded.batch_sampler
    assert type(batch_sampler) is _SizedBatchSampler and batch_sampler.tag == "t"
    assert isinstance(batch_sampler.sampler, DistributedSampler) and batch_sampler.batch_size == 3
    assert sum(len(b) for b in sharded) == 5


def test_lookalike_batch_sampler_without_capture() -> None:
    class Lookalike(BatchSampler):
        pass

    loader = DataLoader(range(10), batch_sampler=Lookalike(SequentialSampler(range(10)), 4, True))
    sharded = use_distributed_sampler(loader, world_size=2, rank=1)
    assert type(sharded.batch_sampler) is Lookalike and sharded.batch_sampler.drop_last
    assert [b.tolist() for b in sharded] == [[1, 3, 5, 7]]


def test_foreign_batch_sampler_is_rejected() -> None:
    class Foreign:
        def __iter__(self) -> Any:
            return iter([[0, 1]])

        def __len__(self) -> int:
            return 1

    loader = DataLoader(range(2), batch_sampler=Foreign())
    with pytest.raises(TypeError, match="doesn't subclass PyTorch's `BatchSampler`"):
        use_distributed_sampler(loader, world_size=2, rank=0)


def test_predict_mode_wraps_and_keeps_every_sample() -> None:
    loader = DataLoader(range(7), batch_size=2, drop_last=True)
    predict = use_distributed_sampler(loader, world_size=2, rank=0, mode=RunningStage.PREDICTING)
    assert isinstance(predict.batch_sampler, IndexBatchSamplerWrapper)
    assert not predict.batch_sampler.drop_last
    assert [b.tolist() for b in predict] == [[0, 2], [4, 6]]
    assert predict.batch_sampler.seen_batch_indices == [[0, 2], [4, 6]]
    # without distribution, update_dataloader still records indices for prediction
    single = update_dataloader(loader, loader.sampler, mode=RunningStage.PREDICTING)
    assert [b.tolist() for b in single] == [[0, 1], [2, 3], [4, 5], [6]]


def test_is_dataloader_shuffled() -> None:
    assert is_dataloader_shuffled(DataLoader(range(3), shuffle=True))
    assert not is_dataloader_shuffled(DataLoader(range(3)))
    with capture_init_arguments():
        captured = DataLoader(range(3), None, True)
    assert is_dataloader_shuffled(captured)
    assert not is_dataloader_shuffled([1, 2])


def test_auto_add_worker_init_fn(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = DataLoader(range(3))
    monkeypatch.setenv("PL_SEED_WORKERS", "0")
    auto_add_worker_init_fn(loader, rank=0)
    assert loader.worker_init_fn is None
    monkeypatch.setenv("PL_SEED_WORKERS", "1")
    auto_add_worker_init_fn(loader, rank=3)
    assert isinstance(loader.worker_init_fn, partial)
    assert loader.worker_init_fn.func is pl_worker_init_function and loader.worker_init_fn.keywords == {
        "rank": 3
    }
    user = DataLoader(range(3), worker_init_fn=_init_fn)
    auto_add_worker_init_fn(user, rank=0)
    assert user.worker_init_fn is _init_fn


def test_update_dataloader_rejects_non_loaders() -> None:
    with pytest.raises(ValueError, match="needs to subclass `torch.utils.data.DataLoader`"):
        update_dataloader([1, 2], SequentialSampler(range(2)))  # type: ignore[arg-type]
