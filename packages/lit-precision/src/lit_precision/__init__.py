"""lit-precision: precision plugins (``32-true``, ``64-true``, ``16-true``/``bf16-true``, ``16-mixed``/``bf16-mixed``).

A precision plugin converts modules and inputs to a dtype, provides the autocast contexts around forward passes,
scales the loss, unscales and clips gradients, and steps the optimizer. The plugins implement
:class:`lit_hooks.PrecisionProtocol` and depend only on ``lit-hooks`` and torch; ``lit-strategies`` composes them
and ``lit`` turns ``Trainer(precision=...)`` flags into them with :func:`precision_from_str`.
"""

from __future__ import annotations

import sys

from lit_hooks import register_classes
from lit_precision._amp import MixedPrecision
from lit_precision._double import DoublePrecision
from lit_precision._half import HalfPrecision
from lit_precision._precision import (
    _PRECISION_INPUT,
    _PRECISION_INPUT_INT,
    _PRECISION_INPUT_STR,
    _PRECISION_INPUT_STR_ALIAS,
    _PRECISION_INPUT_STR_ALIAS_CONVERSION,
    Precision,
    clip_gradients_,
)
from lit_precision._registry import PRECISION_REGISTRY, normalize_precision, precision_from_str
from lit_precision._utils import convert_floating_point, default_dtype

__all__ = [
    "PRECISION_REGISTRY",
    "_PRECISION_INPUT",
    "_PRECISION_INPUT_INT",
    "_PRECISION_INPUT_STR",
    "_PRECISION_INPUT_STR_ALIAS",
    "_PRECISION_INPUT_STR_ALIAS_CONVERSION",
    "DoublePrecision",
    "HalfPrecision",
    "MixedPrecision",
    "Precision",
    "clip_gradients_",
    "convert_floating_point",
    "default_dtype",
    "normalize_precision",
    "precision_from_str",
]

PRECISION_REGISTRY.register("32-true", Precision, description="Full single precision (torch.float32)")
register_classes(PRECISION_REGISTRY, "register_precisions", sys.modules[__name__], Precision)
