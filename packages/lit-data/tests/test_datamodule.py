from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, RandomSampler, SequentialSampler, TensorDataset

from lit_data import LightningDataModule, datamodule_checkpoint_entries, restore_datamodule_state
from lit_hooks import is_overridden


class CountingDataModule(LightningDataModule):
    def __init__(self, batch_size: int = 2, root: str = "/data") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.count = 0

    def setup(self, stage: str) -> None:
        self.train_set = TensorDataset(torch.arange(6.0))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size)

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.count = state_dict["count"]


class _Stream(IterableDataset):
    def __iter__(self) -> Any:
        return iter(range(3))


def test_defaults_and_hooks() -> None:
    dm = LightningDataModule()
    assert dm.trainer is None and dm.name is None
    assert dm.prepare_data_per_node is True and dm.allow_zero_length_dataloader_with_multiple_devices is False
    assert (
        dm.state_dict() == {} and dm.load_state_dict({}) is None and dm.on_exception(RuntimeError()) is None
    )
    assert dm.on_before_batch_transfer(1, 0) == 1 and dm.on_after_batch_transfer(2, 0) == 2
    assert dm.transfer_batch_to_device([torch.zeros(1)], torch.device("cpu"), 0)[0].device.type == "cpu"
    assert LightningDataModule.CHECKPOINT_HYPER_PARAMS_KEY == "datamodule_hyper_parameters"
    assert LightningDataModule.CHECKPOINT_HYPER_PARAMS_NAME == "datamodule_hparams_name"
    assert LightningDataModule.CHECKPOINT_HYPER_PARAMS_TYPE == "datamodule_hparams_type"


def test_from_datasets() -> None:
    train = TensorDataset(torch.arange(10))
    dm = LightningDataModule.from_datasets(train, val_dataset=[train, _Stream()], batch_size=4, num_workers=0)
    train_loader = dm.train_dataloader()
    assert isinstance(train_loader.sampler, RandomSampler) and train_loader.batch_size == 4
    assert train_loader.pin_memory
    val_loaders = dm.val_dataloader()
    assert isinstance(val_loaders, list) and isinstance(val_loaders[0].sampler, SequentialSampler)
    assert isinstance(val_loaders[1].dataset, _Stream)
    assert is_overridden("train_dataloader", dm) and is_overridden("val_dataloader", dm)
    assert not is_overridden("test_dataloader", dm)


def test_from_datasets_forwards_known_init_arguments() -> None:
    dm = CountingDataModule.from_datasets(TensorDataset(torch.arange(4)), batch_size=3, root="/x")
    assert dm.hparams == {"batch_size": 3, "root": "/x"}

    class WithKwargs(LightningDataModule):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__()
            self.kwargs = kwargs

    assert WithKwargs.from_datasets(batch_size=5, num_workers=1).kwargs == {"batch_size": 5, "num_workers": 1}


def test_checkpoint_entries_and_restore() -> None:
    dm = CountingDataModule(batch_size=8)
    dm.count = 4
    entries = datamodule_checkpoint_entries(dm)
    assert entries == {
        "datamodule_hparams_name": "kwargs",
        "datamodule_hyper_parameters": {"batch_size": 8, "root": "/data"},
        "CountingDataModule": {"count": 4},
    }
    other = CountingDataModule()
    assert restore_datamodule_state(other, entries) and other.count == 4
    assert not restore_datamodule_state(LightningDataModule(), entries)
    assert datamodule_checkpoint_entries(LightningDataModule()) == {}


def _lightning_checkpoint(path: Path, **extra: Any) -> Path:
    checkpoint = {
        "epoch": 1,
        "global_step": 8,
        "pytorch-lightning_version": "2.6.5",
        "state_dict": {},
        "loops": {},
        "datamodule_hparams_name": "kwargs",
        "datamodule_hyper_parameters": {"batch_size": 16, "root": "/ckpt"},
        "CountingDataModule": {"count": 9},
        **extra,
    }
    torch.save(checkpoint, path)
    return path


def test_load_from_checkpoint(tmp_path: Path) -> None:
    path = _lightning_checkpoint(tmp_path / "last.ckpt")
    dm = CountingDataModule.load_from_checkpoint(path)
    assert dm.hparams == {"batch_size": 16, "root": "/ckpt"} and dm.count == 9
    overridden = CountingDataModule.load_from_checkpoint(str(path), batch_size=32, unknown=1)
    assert overridden.hparams.batch_size == 32
    with open(path, "rb") as f:
        assert CountingDataModule.load_from_checkpoint(f).count == 9


def test_load_from_checkpoint_on_instance_raises(tmp_path: Path) -> None:
    path = _lightning_checkpoint(tmp_path / "a.ckpt")
    with pytest.raises(TypeError, match="cannot be called on an instance"):
        CountingDataModule().load_from_checkpoint(path)


def test_load_from_checkpoint_with_hparams_file(tmp_path: Path) -> None:
    path = _lightning_checkpoint(tmp_path / "a.ckpt")
    yaml_file = tmp_path / "hparams.yaml"
    yaml_file.write_text("batch_size: 3\nroot: /yaml\n")
    assert CountingDataModule.load_from_checkpoint(path, hparams_file=yaml_file).hparams.root == "/yaml"
    csv_file = tmp_path / "hparams.csv"
    csv_file.write_text("key,value\nbatch_size,5\nroot,/csv\n")
    assert CountingDataModule.load_from_checkpoint(path, hparams_file=csv_file).hparams == {
        "batch_size": 5,
        "root": "/csv",
    }
    with pytest.raises(ValueError, match=".csv, .yml or .yaml"):
        CountingDataModule.load_from_checkpoint(path, hparams_file=tmp_path / "h.json")


class _Opaque:
    pass


def test_safe_loading_and_bad_files(tmp_path: Path) -> None:
    unsafe = _lightning_checkpoint(tmp_path / "unsafe.ckpt", extra_object=_Opaque())
    with pytest.raises(ValueError, match="(?s)unsafe.ckpt.*pass `weights_only=False`"):
        CountingDataModule.load_from_checkpoint(unsafe)
    assert CountingDataModule.load_from_checkpoint(unsafe, weights_only=False).count == 9
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Could not load the checkpoint .*corrupt.ckpt"):
        CountingDataModule.load_from_checkpoint(corrupt)
    foreign = tmp_path / "foreign.ckpt"
    torch.save([1, 2], foreign)
    with pytest.raises(ValueError, match="holds a list, not a checkpoint dictionary"):
        CountingDataModule.load_from_checkpoint(foreign)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        CountingDataModule.load_from_checkpoint(tmp_path / "missing.ckpt")


def test_str_lists_dataset_sizes() -> None:
    dm = LightningDataModule.from_datasets(
        TensorDataset(torch.arange(10)), val_dataset=[_Stream(), TensorDataset(torch.arange(3))]
    )
    lines = str(dm).split(os.linesep)
    assert lines[0] == "{Train dataloader: size=10}"
    assert lines[1] == "{Validation dataloader: 1. size=NA ; 2. size=3}"
    assert lines[2] == "{Test dataloader: None}"
