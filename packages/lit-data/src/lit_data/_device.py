"""Moving batches to a device."""

from __future__ import annotations

from abc import ABC
from typing import Any

import torch
from torch import Tensor

from lit_hooks import apply_to_collection

__all__ = ["TransferableDataType", "move_data_to_device"]


class TransferableDataType(ABC):  # noqa: B024, RUF100 - a structural type
    """Matches any object with a callable ``to`` method, e.g. ``isinstance(batch, TransferableDataType)``.

    Example:
        >>> isinstance(torch.zeros(1), TransferableDataType), isinstance({}, TransferableDataType)
        (True, False)
    """

    @classmethod
    def __subclasshook__(cls, subclass: Any) -> Any:
        if cls is TransferableDataType:
            return callable(getattr(subclass, "to", None)) or NotImplemented
        return NotImplemented


def _tensor_mover(device: torch.device) -> Any:
    """A function moving one tensor to ``device``: no call at all when it is already there."""
    if device.type == "cpu":

        def to_cpu(data: Tensor) -> Tensor:
            return data if data.is_cpu else data.to(device)

        return to_cpu

    index = device.index
    device_type = device.type
    if index is None and device_type == "cuda" and torch.cuda.is_available():
        index = torch.cuda.current_device()  # what ``.to("cuda")`` targets

    def to_accelerator(data: Tensor) -> Tensor:
        if data.device.type == device_type and (index is None or data.get_device() == index):
            return data
        # a non-blocking copy only overlaps with compute when the source is pinned host memory
        non_blocking = device_type == "cuda" and data.is_cpu and data.is_pinned()
        return data.to(device, non_blocking=non_blocking)

    return to_accelerator


def move_data_to_device(batch: Any, device: torch.device | str | int) -> Any:
    """Move every tensor (and every object with ``.to``) in ``batch`` to ``device``.

    Tensors, dicts, lists, tuples, namedtuples, dataclasses and sets are walked (see
    :func:`lit_hooks.apply_to_collection`); other objects with a ``to`` method are called as ``obj.to(device)``.
    A tensor already on ``device`` is returned as is (no copy, no call). Transfers are non-blocking only for pinned
    CPU memory going to a CUDA device, the one case where that overlaps the copy with compute.

    Args:
        batch: A tensor, a collection of them or any object with ``to(device)``.
        device: The target device.

    Returns:
        The same structure with the data on ``device``.

    Example:
        >>> batch = {"x": torch.zeros(2), "meta": ["a", 1]}
        >>> moved = move_data_to_device(batch, "cpu")
        >>> moved["x"] is batch["x"], moved["meta"]
        (True, ['a', 1])
    """
    if not isinstance(device, torch.device):
        device = torch.device(device)
    move_tensor = _tensor_mover(device)
    if isinstance(batch, Tensor):
        return move_tensor(batch)

    def move(data: Any) -> Any:
        if isinstance(data, Tensor):
            return move_tensor(data)
        moved = data.to(device)
        # some custom ``to`` implementations work in place and return ``None``
        return data if moved is None else moved

    return apply_to_collection(batch, TransferableDataType, move)
