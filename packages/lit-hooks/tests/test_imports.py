from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lit_hooks import MissingExtraError, RequirementCache, module_available
from lit_hooks._imports import _satisfies, _version_key


def test_requirement_cache_with_versions() -> None:
    assert RequirementCache("torch>=1.0")
    assert RequirementCache("torch>=1.0,<1000")
    assert not RequirementCache("torch<1.0")
    assert not RequirementCache("torch==0.1.*")
    message = str(RequirementCache("torch<1.0"))
    assert "torch<1.0" in message and "not met" in message and "pip install" in message
    assert str(RequirementCache("torch")) == "Requirement 'torch' met"


def test_requirement_cache_missing_distribution_and_module_fallback() -> None:
    missing = RequirementCache("surely-not-an-installed-distribution")
    assert not missing
    assert "is not installed" in str(missing)
    # no distribution metadata but an importable module: available when no version is requested
    assert RequirementCache("json")
    assert not RequirementCache("json>=1.0")
    assert RequirementCache("numpy", module="numpy")
    assert not RequirementCache("torch", module="torch.surely_not_a_submodule")


def test_requirement_cache_is_lazy_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = RequirementCache("torch>=1.0")
    assert cache._available is None  # nothing checked at construction
    assert cache
    calls: list[str] = []
    monkeypatch.setattr(RequirementCache, "_check", lambda self: calls.append("x"))
    assert cache and str(cache)
    assert calls == []


def test_requirement_cache_require_raises_missing_extra() -> None:
    RequirementCache("torch").require("Thing", "extra", "lit-x")
    with pytest.raises(MissingExtraError, match=r"pip install 'lit-loggers\[wandb\]'"):
        RequirementCache("surely-not-an-installed-distribution").require(
            "WandbLogger", "wandb", "lit-loggers"
        )


def test_invalid_requirements() -> None:
    with pytest.raises(ValueError, match="needs a requirement"):
        RequirementCache("")
    with pytest.raises(ValueError, match="Invalid version specifier"):
        bool(RequirementCache("torch=>1"))


@pytest.mark.parametrize(
    ("smaller", "larger"),
    [
        ("1.0", "1.0.1"),
        ("1.0.dev0", "1.0a1"),
        ("1.0a1", "1.0b1"),
        ("1.0b2", "1.0rc1"),
        ("1.0rc1", "1.0"),
        ("1.0", "1.0.post1"),
        ("1.9", "1.10"),
        ("2.13.0", "1!0.1"),
    ],
)
def test_version_ordering(smaller: str, larger: str) -> None:
    assert _version_key(smaller) < _version_key(larger)


@pytest.mark.parametrize(
    ("installed", "op", "wanted", "expected"),
    [
        ("2.13.0+cpu", ">=", "2.13", True),
        ("2.13.0+cpu", "==", "2.13.0", True),
        ("2.13.0+cpu", "==", "2.13.*", True),
        ("2.13.0", "!=", "2.13.*", False),
        ("2.1", "~=", "2.0", True),
        ("3.0", "~=", "2.0", False),
        ("1.0", ">", "1.0", False),
        ("1.0", "<=", "1.0", True),
        ("0.9", "<", "1.0", True),
        ("1.0", "==", "1.0.0", True),
    ],
)
def test_specifiers(installed: str, op: str, wanted: str, expected: bool) -> None:
    assert _satisfies(installed, op, wanted) is expected


def test_module_available_does_not_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "lit_probe_pkg" / "sub"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (package / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (package / "leaf.py").write_text("raise RuntimeError('imported!')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert module_available("lit_probe_pkg")
    assert module_available("lit_probe_pkg.sub.leaf")
    assert not module_available("lit_probe_pkg.sub.missing")
    assert not module_available("lit_probe_pkg.nope.leaf")
    assert not any(name.startswith("lit_probe_pkg") for name in sys.modules)
    assert not module_available("surely_not_a_module") and not module_available("a..b")
    assert module_available("torch") and module_available("torch.nn") and not module_available("torch.nope")
