from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict, defaultdict, namedtuple
from functools import cached_property
from typing import Any, NamedTuple
from unittest import mock

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from lit_hooks import (
    AttributeDict,
    Callback,
    CheckpointHooks,
    DataHooks,
    ModelHooks,
    apply_to_collection,
    apply_to_collections,
    is_overridden,
)

Point = namedtuple("Point", ["x", "y"])


class Pair(NamedTuple):
    first: Any
    second: Any


@dataclasses.dataclass
class Batch:
    inputs: Any
    target: Any
    note: str = "n"
    derived: int = dataclasses.field(default=0, init=False)

    @cached_property
    def total(self) -> Any:
        return self.inputs + self.target


@dataclasses.dataclass(frozen=True)
class Frozen:
    value: Any


def double(x: int) -> int:
    return x * 2


def test_single_element_and_non_matching_leaves() -> None:
    assert apply_to_collection(3, int, double) == 6
    assert apply_to_collection("text", int, double) == "text"
    assert apply_to_collection(b"xy", int, double) == b"xy"
    assert apply_to_collection(None, int, double) is None


def test_nested_builtin_containers_keep_their_types() -> None:
    data = {"a": [1, (2, 3)], "b": {"c": 4, "d": "keep"}, "e": {5, 6}, "f": frozenset({7})}
    out = apply_to_collection(data, int, double)
    assert out == {"a": [2, (4, 6)], "b": {"c": 8, "d": "keep"}, "e": {10, 12}, "f": frozenset({14})}
    assert type(out["a"][1]) is tuple and type(out["f"]) is frozenset
    assert out is not data and out["a"] is not data["a"]


def test_extra_args_and_kwargs_are_forwarded() -> None:
    out = apply_to_collection([1, 2], int, lambda x, a, b=0: x * a + b, 10, b=1)
    assert out == [11, 21]


def test_mappings_keep_their_class_and_default_factory() -> None:
    ordered = OrderedDict([("z", 1), ("a", 2)])
    out = apply_to_collection(ordered, int, double)
    assert type(out) is OrderedDict and list(out.items()) == [("z", 2), ("a", 4)]

    dd: defaultdict[str, list[int]] = defaultdict(list, {"x": [1]})
    out_dd = apply_to_collection(dd, int, double)
    assert type(out_dd) is defaultdict and out_dd.default_factory is list
    assert out_dd["x"] == [2] and out_dd["missing"] == []

    attr = AttributeDict(lr=1, name="n")
    out_attr = apply_to_collection(attr, int, double)
    assert type(out_attr) is AttributeDict and out_attr.lr == 2 and out_attr.name == "n"


def test_namedtuples() -> None:
    out = apply_to_collection(Point(1, [2]), int, double)
    assert out == Point(2, [4]) and type(out) is Point
    typed = apply_to_collection(Pair(torch.ones(1), "s"), torch.Tensor, lambda t: t + 1)
    assert type(typed) is Pair and typed.first.item() == 2.0 and typed.second == "s"


def test_dataclass_instances_are_copied_with_mapped_fields() -> None:
    batch = Batch(inputs=1, target=[2, 3])
    batch.derived = 42
    batch2 = Batch(inputs=1, target=2)
    assert batch2.total == 3  # cache the value
    out = apply_to_collection(batch2, int, double)
    assert type(out) is Batch and out is not batch2
    assert (out.inputs, out.target, out.note) == (2, 4, "n")
    assert out.total == 6  # the cached property was recomputed
    assert batch2.inputs == 1  # the input was not modified

    out_batch = apply_to_collection(batch, int, double)
    assert out_batch.derived == 42  # non-init fields are kept, not mapped
    assert out_batch.target == [4, 6]


def test_frozen_dataclasses_raise_unless_allowed() -> None:
    with pytest.raises(ValueError, match="frozen dataclass Frozen"):
        apply_to_collection(Frozen(1), int, double)
    out = apply_to_collection([Frozen(1), 2], int, double, allow_frozen=True)
    assert out == [Frozen(1), 4]


def test_wrong_dtype_and_include_none() -> None:
    data = [1, True, 2]
    assert apply_to_collection(data, int, double, wrong_dtype=bool) == [2, True, 4]
    drop_odd = apply_to_collection(
        {"a": [1, 2, 3], "b": 5, "c": Batch(1, 2)}, int, lambda x: None if x % 2 else x, include_none=False
    )
    assert drop_odd["a"] == [2] and "b" not in drop_odd
    assert (drop_odd["c"].inputs, drop_odd["c"].target) == (1, 2)  # dataclass fields keep the old value


def test_tensors_in_nested_batch() -> None:
    batch = {"x": torch.zeros(2), "meta": [Point(torch.ones(1), "id")]}
    out = apply_to_collection(batch, torch.Tensor, lambda t: t.double())
    assert out["x"].dtype == torch.float64
    assert out["meta"][0].x.dtype == torch.float64 and out["meta"][0].y == "id"


_leaves = st.one_of(st.integers(-100, 100), st.text(max_size=3), st.none(), st.booleans())
_trees = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), children, max_size=4),
    ),
    max_leaves=25,
)


@given(_trees)
def test_identity_function_preserves_any_structure(tree: Any) -> None:
    out = apply_to_collection(tree, (int, str), lambda x: x)
    assert out == tree
    assert type(out) is type(tree)


@given(_trees)
def test_mapping_twice_equals_mapping_the_composition(tree: Any) -> None:
    def inc(x: Any) -> Any:
        return x + 1 if type(x) is int else x

    twice = apply_to_collection(apply_to_collection(tree, int, inc), int, inc)
    assert twice == apply_to_collection(tree, int, lambda x: inc(inc(x)))


def test_apply_to_collections_zips_structures() -> None:
    a = {"x": [1, 2], "p": Point(1, 2), "b": Batch(1, 2)}
    b = {"x": [10, 20], "p": Point(3, 4), "b": Batch(5, 6)}
    out = apply_to_collections(a, b, int, lambda u, v: u + v)
    assert out["x"] == [11, 22] and out["p"] == Point(4, 6)
    assert (out["b"].inputs, out["b"].target) == (6, 8)
    # data2=None applies the function to data1 alone, data1=None swaps them
    assert apply_to_collections([1, 2], None, int, double) == [2, 4]
    assert apply_to_collections(None, [1, 2], int, double) == [2, 4]
    assert apply_to_collections(None, None, int, double) is None


def test_apply_to_collections_errors() -> None:
    with pytest.raises(ValueError, match="different sizes"):
        apply_to_collections([1, 2], [1], int, lambda u, v: u)
    with pytest.raises(KeyError, match="same keys"):
        apply_to_collections({"a": 1}, {"b": 1}, int, lambda u, v: u)
    with pytest.raises(TypeError, match="dataclass"):
        apply_to_collections(Batch(1, 2), [1, 2], int, lambda u, v: u)


def test_attribute_dict_access_and_repr() -> None:
    hp = AttributeDict({"key1": 1, "key2": "abc"})
    assert hp.key1 == 1
    hp.update({"my-key": 3.14})
    hp.new_key = 42
    hp.key1 = 2
    assert repr(hp) == '"key1":    2\n"key2":    abc\n"my-key":  3.14\n"new_key": 42'
    del hp.new_key
    assert "new_key" not in hp
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = hp.missing
    with pytest.raises(KeyError):
        del hp.missing
    assert repr(AttributeDict()) == ""


class _MyCallback(Callback):
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        pass

    @classmethod
    def state_dict_cls(cls) -> None:
        pass


class _Module(ModelHooks, DataHooks, CheckpointHooks):
    def on_train_start(self) -> None:
        pass

    def setup(self, stage: str) -> None:
        pass

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        return batch


class _Framework(ModelHooks, DataHooks, CheckpointHooks):
    """Stands in for a LightningModule: defines default step methods on top of the hook mixins."""

    def training_step(self, *args: Any) -> Any:
        return None

    def validation_step(self, *args: Any) -> Any:
        return None


class _UserModel(_Framework):
    def training_step(self, *args: Any) -> Any:
        return 1


def test_is_overridden_infers_the_parent() -> None:
    cb = _MyCallback()
    assert is_overridden("on_fit_start", cb)
    assert not is_overridden("on_fit_end", cb)
    assert is_overridden("on_fit_start", _MyCallback)  # classes work too

    module = _Module()
    assert is_overridden("on_train_start", module)
    assert not is_overridden("on_train_end", module)
    assert is_overridden("setup", module)
    assert not is_overridden("teardown", module)
    assert not is_overridden("on_save_checkpoint", module)

    user = _UserModel()
    assert is_overridden("training_step", user)
    assert not is_overridden("validation_step", user)
    assert not is_overridden("training_step", _Framework())
    assert not is_overridden("on_fit_start", None)


class _MarkedFramework(_Framework):
    """A framework class that overrides a hook default and declares itself the reference."""

    __lit_hook_parent__ = True

    def on_train_start(self) -> None:
        pass


class _UserOfMarked(_MarkedFramework):
    def on_train_end(self) -> None:
        pass


def test_is_overridden_uses_marked_framework_classes() -> None:
    user = _UserOfMarked()
    assert not is_overridden("on_train_start", user)  # the framework's own default is not a user override
    assert is_overridden("on_train_end", user)
    assert is_overridden("training_step", _UserModel())
    assert not is_overridden("training_step", user)


def test_is_overridden_unwraps_partial_wraps_and_mocks() -> None:
    cb = Callback()
    cb.on_fit_start = functools.partial(Callback.on_fit_start, cb)  # type: ignore[method-assign]
    assert not is_overridden("on_fit_start", cb)

    def custom(trainer: Any, pl_module: Any) -> None:
        pass

    cb.on_fit_end = functools.partial(custom)  # type: ignore[method-assign]
    assert is_overridden("on_fit_end", cb)

    @functools.wraps(custom)
    def wrapper(*args: Any) -> None:
        pass

    cb.on_train_end = wrapper  # type: ignore[method-assign]
    assert is_overridden("on_train_end", cb)

    cb.on_train_start = mock.Mock(wraps=Callback().on_train_start)  # type: ignore[method-assign]
    assert not is_overridden("on_train_start", cb)
    cb.on_test_start = mock.Mock(wraps=custom)  # type: ignore[method-assign]
    assert is_overridden("on_test_start", cb)


def test_is_overridden_errors() -> None:
    with pytest.raises(ValueError, match="cannot infer the parent"):
        is_overridden("forward", object())
    with pytest.raises(ValueError, match="does not"):
        is_overridden("state_dict_cls", _MyCallback(), parent=Callback)
    assert is_overridden("not_a_hook", _MyCallback(), parent=Callback) is False
    assert is_overridden("state_dict_cls", _MyCallback, parent=_MyCallback) is False
