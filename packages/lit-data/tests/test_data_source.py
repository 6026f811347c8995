from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from lit_data import (
    CombinedLoader,
    DataHookSelector,
    DataLoaderSource,
    LightningDataModule,
    check_dataloader_iterable,
    extract_batch_size,
    has_len,
    has_len_all_ranks,
    num_batches,
    parse_num_batches,
    prepare_dataloader,
    request_dataloader,
    resolve_dataloaders,
    resolve_datamodule_argument,
    run_prepare_data,
    should_reload_dataloaders,
    suggested_max_num_workers,
)
from lit_hooks import DataHooks, MisconfigurationException, RunningStage
from lit_hooks.testing import FakeStrategy


class _Stream(IterableDataset):
    def __iter__(self) -> Any:
        return iter(range(4))


class _SizedStream(_Stream):
    def __len__(self) -> int:
        return 4


class _TwoRanks(FakeStrategy):
    """Two processes whose loader lengths sum to ``total``."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.reduced: list[str | None] = []

    @property
    def world_size(self) -> int:
        return 2

    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: str | None = "mean") -> Any:
        self.reduced.append(reduce_op)
        return torch.tensor(self.total)


@pytest.mark.parametrize(
    ("length", "limit", "expected"),
    [(10, 1.0, 10), (10, 0.25, 2), (10, 3, 3), (10, 20, 10), (0, 0.5, 0), (float("inf"), 1.0, float("inf")),
     (float("inf"), 5, 5), (10, 0, 0), (10, 0.0, 0)],
)  # fmt: skip
def test_parse_num_batches(length: float, limit: float, expected: float) -> None:
    assert parse_num_batches(RunningStage.TRAINING, length, limit) == expected


def test_parse_num_batches_errors() -> None:
    with pytest.raises(
        MisconfigurationException, match=r"`Trainer\(limit_train_batches\)` must be `1.0` or an int"
    ):
        parse_num_batches("train", float("inf"), 0.5)
    with pytest.raises(MisconfigurationException, match=r"Try at least `limit_val_batches=0.1`"):
        parse_num_batches("validate", 10, 0.05)


def test_num_batches_for_loaders() -> None:
    assert num_batches(DataLoader(range(10), batch_size=2), 0.5) == 2
    assert num_batches(DataLoader(_Stream()), 3) == 3
    assert num_batches(DataLoader(_Stream())) == float("inf")
    with pytest.raises(MisconfigurationException):
        num_batches(DataLoader(_Stream()), 0.5)


def test_has_len_warnings() -> None:
    assert not has_len(DataLoader(_Stream()))
    with pytest.warns(UserWarning, match="returned 0 length"):
        assert has_len([])
    with pytest.warns(UserWarning, match="Your `IterableDataset` has `__len__` defined"):
        assert has_len(DataLoader(_SizedStream()))


def test_has_len_all_ranks() -> None:
    single = FakeStrategy()
    assert has_len_all_ranks(DataLoader(range(3)), single)
    assert not has_len_all_ranks(DataLoader(_Stream()), single)
    two = _TwoRanks(total=5)
    assert has_len_all_ranks(DataLoader(range(3)), two) and two.reduced == ["sum"]
    with pytest.raises(RuntimeError, match="within local rank has zero length"):
        has_len_all_ranks([], two)
    with pytest.warns(UserWarning, match="local rank has zero length"):
        assert has_len_all_ranks([], two, allow_zero_length_dataloader_with_multiple_devices=True)
    with pytest.warns(UserWarning, match="across ranks is zero"):
        has_len_all_ranks([], _TwoRanks(total=0))


def test_resolve_dataloaders_modes_and_limits() -> None:
    train = resolve_dataloaders({"a": [1, 2, 3], "b": [4]}, stage="train")
    assert train.mode == "max_size_cycle"
    assert [b for b, _, _ in train] == [{"a": 1, "b": 4}, {"a": 2, "b": 4}, {"a": 3, "b": 4}]
    val = resolve_dataloaders(
        [DataLoader(range(4)), DataLoader(range(6))], stage="validate", limit_batches=0.5
    )
    assert val.mode == "sequential" and val.limits == [2, 3]
    assert [(b.item(), i, d) for b, i, d in val] == [(0, 0, 0), (1, 1, 0), (0, 0, 1), (1, 1, 1), (2, 2, 1)]
    existing = CombinedLoader([1], "min_size")
    assert resolve_dataloaders(existing, stage="test") is existing
    infinite = resolve_dataloaders(DataLoader(_Stream()), stage="train", limit_batches=2)
    assert infinite.limits == [2]


def test_zero_length_loader_warns_and_yields_nothing() -> None:
    with pytest.warns(UserWarning, match="across ranks is zero"):
        combined = resolve_dataloaders(DataLoader(range(0)), stage="validate", limit_batches=1.0)
    assert combined.limits == [0] and list(combined) == []


def test_extract_batch_size() -> None:
    assert extract_batch_size(torch.zeros(5, 2)) == 5
    assert extract_batch_size(torch.tensor(3.0)) == 1
    assert extract_batch_size({"x": [torch.zeros(2, 1)], "y": (torch.zeros(2),)}) == 2
    with pytest.warns(UserWarning, match="ambiguous collection"):
        assert extract_batch_size([torch.zeros(7), torch.zeros(3)]) == 7
    with pytest.raises(MisconfigurationException, match="could not infer the batch_size"):
        extract_batch_size({"a": "text"})


class _Module(DataHooks):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def train_dataloader(self) -> DataLoader:
        return DataLoader(range(4), batch_size=2, shuffle=True)

    def prepare_data(self) -> None:
        self.calls.append("module.prepare_data")

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return batch


class _DataModule(LightningDataModule):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def prepare_data(self) -> None:
        self.log.append("datamodule.prepare_data")

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch


def test_data_loader_source_and_request() -> None:
    module = _Module()
    source = DataLoaderSource(module, "train_dataloader")
    assert source.is_module() and source.is_defined()
    assert not DataLoaderSource(module, "val_dataloader").is_defined()
    loader = request_dataloader(source)
    # created inside the capture context: its arguments were recorded for re-creation
    assert getattr(loader, "__lit_saved_kwargs") == {"batch_size": 2, "shuffle": True}
    direct = DataLoaderSource([1, 2], "val_dataloader")
    assert not direct.is_module() and direct.dataloader() == [1, 2]
    calls: list[str] = []
    assert (
        DataLoaderSource(module, "train_dataloader").dataloader(lambda obj, name: calls.append(name)) is None
    )
    assert calls == ["train_dataloader"]


def test_missing_dataloader_hook_raises() -> None:
    source = DataLoaderSource(_Module(), "val_dataloader")
    with pytest.raises(MisconfigurationException, match="`val_dataloader` is not implemented"):
        source.dataloader()


def test_check_dataloader_iterable_messages() -> None:
    module = _Module()
    check_dataloader_iterable(DataLoader(range(2)), DataLoaderSource(None, "train_dataloader"), "fit")
    with pytest.raises(TypeError, match=r"passed to `Trainer.fit\(train_dataloaders=...\)`. Found 5"):
        check_dataloader_iterable(5, DataLoaderSource(5, "train_dataloader"), "fit")
    with pytest.raises(TypeError, match=r"implement `def val_dataloader\(self\):`"):
        check_dataloader_iterable(5, DataLoaderSource(module, "val_dataloader"), "validate")
    with pytest.raises(TypeError, match=r"returned from `_Module.train_dataloader\(\)`"):
        check_dataloader_iterable(5, DataLoaderSource(module, "train_dataloader"), "fit")


def test_datamodule_and_dataloaders_conflict() -> None:
    datamodule = _DataModule([])
    assert resolve_datamodule_argument("fit", datamodule) == (None, datamodule)
    with pytest.raises(
        MisconfigurationException, match="You cannot pass `train_dataloader` or `val_dataloaders`"
    ):
        resolve_datamodule_argument("fit", [1], datamodule)
    with pytest.raises(
        MisconfigurationException, match="You cannot pass `train_dataloader` or `val_dataloaders`"
    ):
        resolve_datamodule_argument("fit", None, datamodule, val_dataloaders=[1])
    with pytest.raises(MisconfigurationException, match=r"trainer.test\(dataloaders=..., datamodule=...\)"):
        resolve_datamodule_argument("test", [1], datamodule)
    assert resolve_datamodule_argument("predict", [1]) == ([1], None)


def test_hook_selector_prefers_the_datamodule() -> None:
    module, datamodule = _Module(), _DataModule([])
    selector = DataHookSelector(module, datamodule)
    assert selector.get_instance("transfer_batch_to_device") is datamodule
    with pytest.warns(UserWarning, match="overridden `on_before_batch_transfer` in `LightningModule`"):
        assert selector.get_instance("on_before_batch_transfer") is module
    assert selector.get_instance("on_after_batch_transfer") is module
    assert DataHookSelector(module, None).get_instance("transfer_batch_to_device") is module
    with pytest.raises(ValueError, match="is not a shared hook"):
        selector.get_instance("setup")


def test_prepare_data_order_and_ranks() -> None:
    module = _Module()
    datamodule = _DataModule(module.calls)
    barriers: list[int] = []
    ran = run_prepare_data(datamodule, module, barrier=lambda: barriers.append(1))
    assert module.calls == ["datamodule.prepare_data", "module.prepare_data"] and ran == [
        "_DataModule",
        "_Module",
    ]
    assert len(barriers) == 2
    # per node: local rank zero of node 1 runs it; globally: only node 0
    assert run_prepare_data(datamodule, None, local_rank=0, node_rank=1) == ["_DataModule"]
    datamodule.prepare_data_per_node = False
    assert run_prepare_data(datamodule, None, local_rank=0, node_rank=1) == []
    assert run_prepare_data(datamodule, None, local_rank=1, node_rank=0) == []


def test_prepare_dataloader_distributed_and_epoch() -> None:
    loader = DataLoader(range(8), batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_dataloader(
            loader,
            "train",
            is_distributed=True,
            distributed_sampler_kwargs={"num_replicas": 2, "rank": 0},
            epoch=3,
        )
    assert isinstance(prepared.sampler, DistributedSampler)
    # training shuffles the distributed sampler (as Lightning does), and the epoch was set
    assert prepared.sampler.shuffle and prepared.sampler.epoch == 3
    with pytest.warns(UserWarning, match="strongly recommended that you turn shuffling off"):
        prepare_dataloader(DataLoader(range(4), shuffle=True), "validate", check_workers=False)
    same = prepare_dataloader(loader, "validate", check_workers=False)
    assert same is loader and isinstance(
        prepare_dataloader(DataLoader(range(4), shuffle=True), "train", check_workers=False).sampler,
        RandomSampler,
    )


def test_reload_schedule_and_workers() -> None:
    assert [should_reload_dataloaders(e, 0, 0) for e in range(3)] == [False] * 3
    assert should_reload_dataloaders(0, float("-inf"), 1)
    with pytest.raises(MisconfigurationException, match="should be an int >= 0, got -1"):
        should_reload_dataloaders(0, 0, -1)
    assert suggested_max_num_workers(1) >= 1
    with pytest.raises(ValueError, match="should be >= 1"):
        suggested_max_num_workers(0)
