"""Double precision (``"64-true"``): parameters, inputs and new tensors in ``torch.float64``."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import torch
from torch.nn import Module
from typing_extensions import override

from lit_precision._precision import Precision
from lit_precision._utils import convert_floating_point, default_dtype

if TYPE_CHECKING:
    from lit_hooks import Registry

__all__ = ["DoublePrecision"]


class DoublePrecision(Precision):
    """Train in double precision (``"64-true"``).

    :meth:`convert_module` casts parameters and buffers to ``torch.float64``, floating-point inputs are converted
    by :meth:`convert_input`, and inside :meth:`forward_context` / :meth:`module_init_context` /
    :meth:`tensor_init_context` the default dtype is ``torch.float64`` so that tensors and layers created there are
    double too.

    Example:
        >>> precision = DoublePrecision()
        >>> model = precision.convert_module(torch.nn.Linear(2, 1))
        >>> model.weight.dtype
        torch.float64
        >>> precision.convert_input(torch.ones(2)).dtype
        torch.float64
    """

    precision: str = "64-true"

    @classmethod
    @override
    def register_precisions(cls, registry: Registry[Precision]) -> None:
        registry.register(
            "64-true", cls, description="Double precision (torch.float64) parameters and inputs"
        )

    @override
    def convert_module(self, module: Module) -> Module:
        return module.double()

    @override
    def tensor_init_context(self) -> AbstractContextManager[Any]:
        return default_dtype(torch.float64)

    @override
    def module_init_context(self) -> AbstractContextManager[Any]:
        return default_dtype(torch.float64)

    @override
    def forward_context(self) -> AbstractContextManager[Any]:
        return default_dtype(torch.float64)

    @override
    def convert_input(self, data: Any) -> Any:
        return convert_floating_point(data, torch.float64)
