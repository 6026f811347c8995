"""save_hyperparameters against what Lightning 2.6.5 records for the same class definitions."""

from __future__ import annotations

import dataclasses
import enum
import math
from argparse import Namespace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lit_hooks import (
    AttributeDict,
    HyperparametersMixin,
    given_hyperparameters_context,
    hparams_to_plain,
    save_hyperparameters,
)


class Auto(HyperparametersMixin):
    def __init__(self, arg1: Any, arg2: Any = 2, *args: Any, flag: bool = False, **kwargs: Any) -> None:
        super().__init__()
        self.save_hyperparameters()


class Named(HyperparametersMixin):
    def __init__(self, arg1: Any, arg2: Any, arg3: float = 3.14) -> None:
        super().__init__()
        self.save_hyperparameters("arg1", "arg3")


class IgnoreStr(HyperparametersMixin):
    def __init__(self, arg1: Any, arg2: Any, arg3: float = 3.14) -> None:
        super().__init__()
        self.save_hyperparameters(ignore="arg2")


class IgnoreList(HyperparametersMixin):
    def __init__(self, arg1: Any, arg2: Any, arg3: float = 3.14) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["arg1", "arg3", "missing"])


class SingleDict(HyperparametersMixin):
    def __init__(self, config: dict[str, Any], other: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters(config)


class SingleNamespace(HyperparametersMixin):
    def __init__(self, params: Namespace) -> None:
        super().__init__()
        self.save_hyperparameters(params)


class Parent(HyperparametersMixin):
    def __init__(self, a: Any, b: Any = 2) -> None:
        super().__init__()
        self.save_hyperparameters()


class Child(Parent):
    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class ChildSaves(Parent):
    def __init__(self, c: Any, d: str = "x", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore="a")


class Reassigned(HyperparametersMixin):
    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        lr = lr * 10
        self.save_hyperparameters()


@dataclasses.dataclass
class Cfg:
    width: int = 4
    tags: tuple[str, ...] = ("a",)


class HoldsDataclass(HyperparametersMixin):
    def __init__(self, cfg: Cfg, n: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()


class NoArgs(HyperparametersMixin):
    def __init__(self) -> None:
        super().__init__()
        self.save_hyperparameters()


class EmptyContainer(HyperparametersMixin):
    def __init__(self, x: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters({})


@dataclasses.dataclass
class DataclassModule(HyperparametersMixin):
    width: int = 3
    depth: int = 2
    skip: int = dataclasses.field(default=0, init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.save_hyperparameters(ignore="depth")


class LoggerFalse(HyperparametersMixin):
    def __init__(self, x: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)


# (object, hparams, _hparams_name, _log_hyperparams) as recorded by Lightning 2.6.5 for the same classes
CASES = [
    (
        lambda: Auto(1, 5, 7, 8, flag=True, extra="e", more=[1, 2]),
        {"arg1": 1, "arg2": 5, "flag": True, "extra": "e", "more": [1, 2]},
        "kwargs",
        True,
    ),
    (lambda: Named(1, "abc"), {"arg1": 1, "arg3": 3.14}, "kwargs", True),
    (lambda: IgnoreStr(1, "abc"), {"arg1": 1, "arg3": 3.14}, "kwargs", True),
    (lambda: IgnoreList(1, "abc"), {"arg2": "abc"}, "kwargs", True),
    (lambda: SingleDict({"lr": 0.1, "layers": 2}), {"lr": 0.1, "layers": 2}, "config", True),
    (lambda: SingleNamespace(Namespace(p1=1, p2="abc")), {"p1": 1, "p2": "abc"}, "params", True),
    (lambda: Child(c=3, a=1), {"a": 1, "b": 2, "c": 3}, "kwargs", True),
    (lambda: ChildSaves(c=3, a=1, b=5), {"b": 5, "c": 3, "d": "x"}, "kwargs", True),
    (lambda: Reassigned(), {"lr": 1.0}, "kwargs", True),
    (lambda: HoldsDataclass(Cfg(), n=2), {"cfg": Cfg(width=4, tags=("a",)), "n": 2}, "kwargs", True),
    (lambda: NoArgs(), {}, None, True),
    (lambda: EmptyContainer(), {}, "<unset>", True),
    (lambda: DataclassModule(width=5), {"width": 5}, "kwargs", True),
    (lambda: LoggerFalse(), {"x": 1}, "kwargs", False),
]


@pytest.mark.parametrize(("make", "hparams", "name", "log"), CASES)
def test_matches_lightning(make: Any, hparams: dict[str, Any], name: str | None, log: bool) -> None:
    obj = make()
    assert type(obj.hparams) is AttributeDict
    assert dict(obj.hparams) == hparams
    assert list(obj.hparams) == list(hparams)  # same order too
    assert getattr(obj, "_hparams_name", "<unset>") == name
    assert dict(obj.hparams_initial) == hparams
    assert obj._log_hyperparams is log


def test_hparams_repr_and_initial_is_frozen() -> None:
    obj = Named(1, "abc")
    assert repr(obj.hparams) == '"arg1": 1\n"arg3": 3.14'
    obj.hparams.arg1 = 99
    assert obj.hparams_initial["arg1"] == 1 and obj.hparams["arg1"] == 99
    obj.hparams_initial["arg3"] = 0
    assert obj.hparams_initial["arg3"] == 3.14


def test_unknown_name_and_bad_containers() -> None:
    class AskMissing(HyperparametersMixin):
        def __init__(self, a: int = 1) -> None:
            super().__init__()
            self.save_hyperparameters("b")

    with pytest.raises(ValueError, match=r"\['b'\].*Available: \['a'\]"):
        AskMissing()

    class Primitive(HyperparametersMixin):
        def __init__(self, a: int = 1) -> None:
            super().__init__()
            self.save_hyperparameters(5)

    with pytest.raises(ValueError, match="primitive 5"):
        Primitive()

    class Unsupported(HyperparametersMixin):
        def __init__(self, a: Any = None) -> None:
            super().__init__()
            self.save_hyperparameters([1, 2])

    with pytest.raises(ValueError, match="unsupported container of type list"):
        Unsupported()


def test_module_values_warn() -> None:
    class WithModule(HyperparametersMixin):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.save_hyperparameters()

    with pytest.warns(UserWarning, match=r"'net' is an `nn.Module`.*ignore=\['net'\]"):
        WithModule(torch.nn.Linear(1, 1))


def test_given_hyperparameters_override_the_stack() -> None:
    with given_hyperparameters_context({"lr": 0.5}, "pkg.module.Named"):
        obj = Parent(a=1)
    assert dict(obj.hparams) == {"lr": 0.5, "_instantiator": "pkg.module.Named"}
    assert dict(Parent(a=1).hparams) == {"a": 1, "b": 2}


def test_free_function_and_explicit_frame() -> None:
    import inspect

    class Manual(HyperparametersMixin):
        def __init__(self, alpha: float = 1.0, beta: str = "b") -> None:
            super().__init__()
            save_hyperparameters(self, ignore=["beta"], frame=inspect.currentframe())

    assert dict(Manual(alpha=2.0).hparams) == {"alpha": 2.0}


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Opt:
    name: str = "adam"
    betas: tuple[float, float] = (0.9, 0.99)


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque object>"


def test_hparams_to_plain_converts_everything_to_plain_data(tmp_path: Path) -> None:
    def activation(x: Any) -> Any:
        return x

    hparams = AttributeDict(
        lr=np.float32(0.5),
        steps=np.int64(3),
        shape=(2, 3),
        path=Path("/data/x"),
        ns=Namespace(a=1, nested=Namespace(b=[1, (2, 3)])),
        opt=Opt(),
        color=Color.RED,
        dtype=torch.float16,
        device=torch.device("cpu"),
        scalar=torch.tensor(2.5),
        vector=torch.tensor([1, 2]),
        array=np.arange(3),
        tags={"b", "a"},
        cls=torch.nn.Linear,
        fn=activation,
        obj=_Opaque(),
        keys={1: "int key", Color.RED: "enum key", (1, 2): "tuple key"},
        nothing=None,
        inf=math.inf,
    )
    plain = hparams_to_plain(hparams)
    assert type(plain) is dict
    expected_subset = {
        "lr": 0.5,
        "steps": 3,
        "shape": [2, 3],
        "path": "/data/x",
        "ns": {"a": 1, "nested": {"b": [1, [2, 3]]}},
        "opt": {"name": "adam", "betas": [0.9, 0.99]},
        "color": "red",
        "dtype": "torch.float16",
        "device": "cpu",
        "scalar": 2.5,
        "vector": [1, 2],
        "array": [0, 1, 2],
        "tags": ["a", "b"],
        "cls": "torch.nn.modules.linear.Linear",
        "keys": {1: "int key", "red": "enum key", "(1, 2)": "tuple key"},
        "nothing": None,
        "inf": math.inf,
    }
    assert {k: plain[k] for k in expected_subset} == expected_subset
    assert plain["fn"].endswith("activation")
    assert plain["obj"] == "<opaque object>"
    assert type(plain["steps"]) is int and type(plain["lr"]) is float

    path = tmp_path / "hp.pt"
    torch.save({"hyper_parameters": plain}, path)
    assert torch.load(path, weights_only=True)["hyper_parameters"] == plain


def test_hparams_to_plain_handles_cycles() -> None:
    cyclic: dict[str, Any] = {"a": 1}
    cyclic["self"] = cyclic
    assert hparams_to_plain(cyclic) == {"a": 1, "self": "<recursive dict>"}
    shared = [1]
    assert hparams_to_plain({"x": shared, "y": shared}) == {"x": [1], "y": [1]}
