"""Small dtype helpers shared by the precision plugins."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import torch
from torch import Tensor

from lit_hooks import apply_to_collection

__all__ = ["convert_floating_point", "default_dtype"]


def _convert_fp_tensor(tensor: Tensor, dst_type: torch.dtype) -> Tensor:
    # integer, boolean and complex tensors (labels, masks, indices) keep their dtype
    if tensor.is_floating_point() and tensor.dtype != dst_type:
        return tensor.to(dst_type)
    return tensor


def convert_floating_point(data: Any, dtype: torch.dtype) -> Any:
    """Cast every floating-point tensor in a (nested) collection to ``dtype``; other values are left alone.

    Args:
        data: A tensor or a nested collection (dicts, lists, tuples, dataclasses) holding tensors.
        dtype: The floating-point dtype to cast to.

    Returns:
        The same structure, with floating-point tensors of another dtype replaced by converted copies.

    Example:
        >>> batch = {"x": torch.ones(2), "y": torch.tensor([1, 0])}
        >>> out = convert_floating_point(batch, torch.float64)
        >>> out["x"].dtype, out["y"].dtype
        (torch.float64, torch.int64)
    """
    if isinstance(data, Tensor):
        return _convert_fp_tensor(data, dtype)
    return apply_to_collection(data, Tensor, _convert_fp_tensor, dst_type=dtype)


class default_dtype:
    """Context manager that sets ``torch``'s default floating-point dtype and restores the previous one on exit.

    Args:
        dtype: The default dtype inside the context.

    Example:
        >>> with default_dtype(torch.float64):
        ...     torch.zeros(1).dtype
        torch.float64
        >>> torch.zeros(1).dtype
        torch.float32
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self._new_dtype = dtype
        self._previous_dtype: torch.dtype | None = None

    def __enter__(self) -> None:
        self._previous_dtype = torch.get_default_dtype()
        torch.set_default_dtype(self._new_dtype)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._previous_dtype is not None:
            torch.set_default_dtype(self._previous_dtype)
            self._previous_dtype = None
