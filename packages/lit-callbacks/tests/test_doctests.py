"""Every docstring example in `lit_callbacks` runs (doctest) and passes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lit_callbacks

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(lit_callbacks.__path__, prefix="lit_callbacks.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", ["lit_callbacks", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_there_are_examples() -> None:
    attempted = 0
    for name in ["lit_callbacks", *MODULES]:
        finder = doctest.DocTestFinder()
        attempted += sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
    assert attempted > 0
