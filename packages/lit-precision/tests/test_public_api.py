"""The public API of `lit_precision` is pinned: changing it must be deliberate (update this list)."""

from __future__ import annotations

import lit_precision

EXPECTED = [
    "DoublePrecision",
    "HalfPrecision",
    "MixedPrecision",
    "PRECISION_REGISTRY",
    "Precision",
    "_PRECISION_INPUT",
    "_PRECISION_INPUT_INT",
    "_PRECISION_INPUT_STR",
    "_PRECISION_INPUT_STR_ALIAS",
    "_PRECISION_INPUT_STR_ALIAS_CONVERSION",
    "clip_gradients_",
    "convert_floating_point",
    "default_dtype",
    "normalize_precision",
    "precision_from_str",
]


def test_public_api_is_pinned() -> None:
    assert sorted(lit_precision.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in EXPECTED:
        assert getattr(lit_precision, name) is not None, name
