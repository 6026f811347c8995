"""The examples in the docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lit_hooks._callback",
    "lit_hooks._collections",
    "lit_hooks._enums",
    "lit_hooks._errors",
    "lit_hooks._hparams",
    "lit_hooks._imports",
    "lit_hooks._rank_zero",
    "lit_hooks._registry",
    "lit_hooks.testing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
