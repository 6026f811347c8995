from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from lit_hooks import Registry, register_classes


class _Strategy:
    def __init__(self, start_method: str = "popen", **kwargs: Any) -> None:
        self.start_method = start_method
        self.kwargs = kwargs


def test_register_as_call_and_decorator_with_init_params() -> None:
    registry: Registry[Any] = Registry("strategy")
    assert registry.register("ddp", _Strategy, description="Distributed", start_method="popen") is _Strategy
    registry.register("ddp_spawn", _Strategy, start_method="spawn", find_unused=True)

    @registry.register("single_device", description="One device")
    class Single:
        pass

    assert isinstance(registry.get("single_device"), Single)
    spawn = registry.get("ddp_spawn")
    assert (spawn.start_method, spawn.kwargs) == ("spawn", {"find_unused": True})
    assert registry.get("ddp") is not registry.get("ddp")  # a fresh object every time
    assert registry.available() == ["ddp", "ddp_spawn", "single_device"]
    assert list(registry) == registry.available() and len(registry) == 3
    assert "ddp" in registry and "fsdp" not in registry
    assert registry.describe("ddp") == {
        "factory": _Strategy,
        "description": "Distributed",
        "init_params": {"start_method": "popen"},
    }
    assert registry.info("ddp_spawn")["init_params"] == {"start_method": "spawn", "find_unused": True}


def test_duplicates_and_override() -> None:
    registry: Registry[Any] = Registry("strategy")
    registry.register("ddp", _Strategy)
    with pytest.raises(ValueError) as err:
        registry.register("ddp", _Strategy)
    assert str(err.value).startswith("'ddp' is already registered in the strategy registry")
    assert str(err.value).endswith("HINT: Use `override=True`.")
    registry.register("ddp", _Strategy, override=True, start_method="fork")
    assert registry.get("ddp").start_method == "fork"


def test_unknown_names_list_the_available_ones() -> None:
    registry: Registry[Any] = Registry("strategy")
    for name in ("ddp_spawn", "fsdp", "ddp"):
        registry.register(name, _Strategy)
    with pytest.raises(KeyError) as err:
        registry.get("ddpp")
    assert (
        err.value.args[0]
        == "'ddpp' not found in the strategy registry. Available names: ddp, ddp_spawn, fsdp"
    )
    assert registry.get("ddpp", default=None) is None
    with pytest.raises(KeyError, match="Available names"):
        registry.remove("nope")
    registry.remove("fsdp")
    assert registry.available() == ["ddp", "ddp_spawn"]
    empty: Registry[Any] = Registry("precision")
    with pytest.raises(KeyError, match="Available names: none"):
        empty.get("16-mixed")


def test_invalid_registrations() -> None:
    registry: Registry[Any] = Registry("strategy")
    with pytest.raises(TypeError, match="non-empty string"):
        registry.register("", _Strategy)
    with pytest.raises(TypeError, match="non-empty string"):
        registry.register(3, _Strategy)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="Only callables"):
        registry.register("x", 5)  # type: ignore[call-overload]
    assert "x" not in registry


class _Base:
    @classmethod
    def register_things(cls, registry: Registry[Any]) -> None:
        pass


class _A(_Base):
    @classmethod
    def register_things(cls, registry: Registry[Any]) -> None:
        registry.register("a", cls)
        registry.register("a_fast", cls, fast=True)


class _B(_Base):
    @classmethod
    def register_things(cls, registry: Registry[Any]) -> None:
        registry.register("b", cls)


class _C(_Base):
    """Does not override the registration method: skipped."""


class _Unrelated:
    @classmethod
    def register_things(cls, registry: Registry[Any]) -> None:
        registry.register("unrelated", cls)


def test_register_classes_scans_a_module() -> None:
    module = types.ModuleType("fake_plugins")
    module.__dict__.update(Base=_Base, A=_A, AliasOfA=_A, B=_B, C=_C, Unrelated=_Unrelated)
    registry: Registry[Any] = Registry("thing")
    register_classes(registry, "register_things", module, _Base)
    assert registry.available() == ["a", "a_fast", "b"]
    assert registry.describe("a_fast")["init_params"] == {"fast": True}
    assert sys.modules.get("fake_plugins") is None
