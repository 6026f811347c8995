"""Every docstring example in `lit_data` runs (doctest) and passes."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lit_data

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(lit_data.__path__, prefix="lit_data.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", ["lit_data", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_there_are_examples() -> None:
    attempted = 0
    for name in ["lit_data", *MODULES]:
        finder = doctest.DocTestFinder()
        attempted += sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
    assert attempted > 0
