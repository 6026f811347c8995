"""The documentation covers the packages: a page per package naming its whole public API, and the guides."""

from __future__ import annotations

import importlib

import pytest
from _repo import repo_root

import lit  # noqa: F401  (the package tree these pages describe)

PACKAGES = [
    "lit-hooks",
    "lit-data",
    "lit-precision",
    "lit-strategies",
    "lit-loops",
    "lit-callbacks",
    "lit-loggers",
    "lit",
]


@pytest.mark.parametrize("dist", PACKAGES)
def test_package_page_lists_the_public_api(dist):
    page = (repo_root() / "docs" / "packages" / f"{dist}.md").read_text()
    module = importlib.import_module(dist.replace("-", "_"))
    missing = [name for name in module.__all__ if f"`{name}`" not in page]
    assert not missing, f"docs/packages/{dist}.md misses {missing}; run tools/gen-api-docs.py"


@pytest.mark.parametrize("dist", PACKAGES)
def test_package_readme_has_purpose_dependencies_and_example(dist):
    readme = (repo_root() / "packages" / dist / "README.md").read_text()
    assert "```python" in readme, f"{dist} README needs an example"
    assert "depend" in readme.lower(), f"{dist} README must say what it depends on"


def test_index_links_every_page_and_guide():
    docs = repo_root() / "docs"
    index = (docs / "index.md").read_text()
    for dist in PACKAGES:
        assert f"packages/{dist}.md" in index
    for guide in ("custom-loop", "embedding", "adding-a-strategy"):
        assert (docs / "guides" / f"{guide}.md").is_file()
        assert f"guides/{guide}.md" in index
    assert (docs / "design" / "contracts.md").is_file()
