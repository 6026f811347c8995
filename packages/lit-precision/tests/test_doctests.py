"""Every docstring example in `lit_precision` runs (doctest) and passes."""

from __future__ import annotations

import pytest

from lit_hooks.testing import docstring_example_modules, run_docstring_examples

MODULES = docstring_example_modules("lit_precision")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    run_docstring_examples(name)


def test_the_package_has_examples() -> None:
    import doctest
    import importlib

    finder = doctest.DocTestFinder()
    assert any(t.examples for name in MODULES for t in finder.find(importlib.import_module(name)))
