from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import lit as L


@pytest.fixture(autouse=True)
def _quiet_and_seeded() -> Any:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def make_trainer(tmp_path: Any, **kwargs: Any) -> L.Trainer:
    """A quiet Trainer: no bar, summary, logger or checkpointing unless asked for."""
    defaults: dict[str, Any] = {
        "default_root_dir": tmp_path,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
    }
    defaults.update(kwargs)
    return L.Trainer(**defaults)


def xy_loader(n: int = 20, batch_size: int = 4, features: int = 32, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    return DataLoader(TensorDataset(x), batch_size=batch_size)
