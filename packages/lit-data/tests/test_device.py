from __future__ import annotations

import dataclasses
from collections import namedtuple
from typing import Any

import pytest
import torch

from lit_data import TransferableDataType, move_data_to_device

Point = namedtuple("Point", "x y")


@dataclasses.dataclass
class Batch:
    inputs: torch.Tensor
    labels: list[torch.Tensor]
    name: str = "b"


class _Custom:
    def __init__(self) -> None:
        self.moved_to: Any = None

    def to(self, device: Any) -> _Custom:
        self.moved_to = device
        return self


class _InPlace:
    def __init__(self) -> None:
        self.calls = 0

    def to(self, device: Any) -> None:
        self.calls += 1


def test_collections_are_walked_and_rebuilt() -> None:
    tensor = torch.zeros(2)
    custom = _Custom()
    batch = {"a": [tensor, (tensor, "s")], "p": Point(tensor, 3), "d": Batch(tensor, [tensor]), "c": custom}
    moved = move_data_to_device(batch, "cpu")
    assert moved["a"][0] is tensor and moved["a"][1][1] == "s"
    assert isinstance(moved["p"], Point) and moved["p"].y == 3
    assert isinstance(moved["d"], Batch) and moved["d"].labels[0] is tensor and moved["d"].name == "b"
    assert moved["c"] is custom and custom.moved_to == torch.device("cpu")


def test_no_copy_on_same_device() -> None:
    tensor = torch.arange(3)
    assert move_data_to_device(tensor, torch.device("cpu")) is tensor
    assert move_data_to_device([tensor], "cpu")[0] is tensor


def test_in_place_to_returns_the_object() -> None:
    obj = _InPlace()
    assert move_data_to_device(obj, "cpu") is obj and obj.calls == 1


def test_transferable_data_type() -> None:
    assert isinstance(torch.zeros(1), TransferableDataType)
    assert isinstance(_Custom(), TransferableDataType)
    assert not isinstance({"a": 1}, TransferableDataType)


def test_meta_device_moves() -> None:
    moved = move_data_to_device({"x": torch.zeros(2)}, "meta")
    assert moved["x"].device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_non_blocking_only_for_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    original = torch.Tensor.to

    def spy(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(kwargs.get("non_blocking", False))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", spy)
    pinned = torch.zeros(4).pin_memory()
    plain = torch.zeros(4)
    moved = move_data_to_device([pinned, plain], "cuda:0")
    assert calls == [True, False]
    assert move_data_to_device(moved[0], "cuda:0") is moved[0]
    torch.cuda.synchronize()
