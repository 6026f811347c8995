"""True half precision (``"16-true"`` / ``"bf16-true"``): everything in ``float16`` or ``bfloat16``."""

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

__all__ = ["HalfPrecision"]

_HALF_CHOICES = ("16-true", "bf16-true")


class HalfPrecision(Precision):
    """Train with parameters, inputs and new tensors in half precision, without autocast or loss scaling.

    Args:
        precision: ``"16-true"`` for ``torch.float16`` (default) or ``"bf16-true"`` for ``torch.bfloat16``.

    Raises:
        ValueError: If ``precision`` is not one of the two choices.

    Example:
        >>> precision = HalfPrecision("bf16-true")
        >>> precision.convert_module(torch.nn.Linear(2, 1)).weight.dtype
        torch.bfloat16
        >>> with precision.forward_context():
        ...     torch.zeros(1).dtype
        torch.bfloat16
    """

    precision: str = "16-true"

    def __init__(self, precision: str = "16-true") -> None:
        if precision not in _HALF_CHOICES:
            raise ValueError(
                f"`{type(self).__name__}(precision={precision!r})` is not supported. Choose '16-true'"
                " (torch.float16) or 'bf16-true' (torch.bfloat16); for autocast use"
                " `MixedPrecision('16-mixed' | 'bf16-mixed', device)` instead."
            )
        self.precision = precision
        self._desired_input_dtype = torch.bfloat16 if precision == "bf16-true" else torch.float16

    @classmethod
    @override
    def register_precisions(cls, registry: Registry[Precision]) -> None:
        registry.register(
            "16-true", cls, description="Parameters and inputs in torch.float16", precision="16-true"
        )
        registry.register(
            "bf16-true", cls, description="Parameters and inputs in torch.bfloat16", precision="bf16-true"
        )

    @override
    def convert_module(self, module: Module) -> Module:
        return module.to(dtype=self._desired_input_dtype)

    @override
    def tensor_init_context(self) -> AbstractContextManager[Any]:
        return default_dtype(self._desired_input_dtype)

    @override
    def module_init_context(self) -> AbstractContextManager[Any]:
        return default_dtype(self._desired_input_dtype)

    @override
    def forward_context(self) -> AbstractContextManager[Any]:
        return default_dtype(self._desired_input_dtype)

    @override
    def convert_input(self, data: Any) -> Any:
        return convert_floating_point(data, self._desired_input_dtype)
