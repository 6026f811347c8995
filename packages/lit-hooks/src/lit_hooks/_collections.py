"""Collection helpers: walk nested containers, attribute dictionaries and hook-override detection."""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from functools import cached_property, partial
from typing import Any

__all__ = [
    "AttributeDict",
    "apply_to_collection",
    "apply_to_collections",
    "is_overridden",
]

_DType = type | tuple[type, ...] | Any


def _is_namedtuple(obj: object) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def _is_dataclass_instance(obj: object) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def apply_to_collection(
    data: Any,
    dtype: _DType,
    function: Callable[..., Any],
    *args: Any,
    wrong_dtype: type | tuple[type, ...] | None = None,
    include_none: bool = True,
    allow_frozen: bool = False,
    **kwargs: Any,
) -> Any:
    """Apply ``function`` to every element of type ``dtype`` found in a nested collection.

    Containers are rebuilt with their own type: mappings (``dict``, ``OrderedDict``, ``defaultdict`` keeping its
    ``default_factory``, other ``Mapping`` types built from an ordered mapping), sequences (``list``, ``tuple``,
    namedtuples), sets and dataclass instances (a copy with the mapped fields; non-``init`` fields are kept).
    Strings and bytes are leaves. Anything else that does not match ``dtype`` is returned unchanged.

    Args:
        data: The (possibly nested) collection.
        dtype: The type(s) ``function`` is applied to.
        function: Called as ``function(element, *args, **kwargs)``.
        *args: Extra positional arguments for ``function``.
        wrong_dtype: Elements of these types are not passed to ``function`` even if they match ``dtype``
            (they are still descended into when they are collections).
        include_none: When ``False``, elements for which ``function`` returned ``None`` are dropped from
            sequences and mappings (dataclass fields keep their old value).
        allow_frozen: When ``True``, a frozen dataclass is returned as a copy with its original field values
            instead of raising.
        **kwargs: Extra keyword arguments for ``function``.

    Returns:
        The collection with the same structure and every matching element replaced.

    Raises:
        ValueError: If a frozen dataclass holds matching elements and ``allow_frozen`` is ``False``.

    Example:
        >>> apply_to_collection({"a": 1, "b": [2, "x"]}, int, lambda x: x * 10)
        {'a': 10, 'b': [20, 'x']}
    """
    if include_none and wrong_dtype is None and not allow_frozen:
        # fast paths for the shapes that dominate batches: a single element and flat homogeneous containers
        if isinstance(data, dtype):
            return function(data, *args, **kwargs)
        cls = data.__class__
        if cls is list and all(isinstance(x, dtype) for x in data):
            return [function(x, *args, **kwargs) for x in data]
        if cls is tuple and all(isinstance(x, dtype) for x in data):
            return tuple(function(x, *args, **kwargs) for x in data)
        if cls is dict and all(isinstance(x, dtype) for x in data.values()):
            return {k: function(v, *args, **kwargs) for k, v in data.items()}
    return _apply(data, dtype, function, args, kwargs, wrong_dtype, include_none, allow_frozen)


def _apply(
    data: Any,
    dtype: _DType,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wrong_dtype: type | tuple[type, ...] | None,
    include_none: bool,
    allow_frozen: bool,
) -> Any:
    if isinstance(data, dtype) and (wrong_dtype is None or not isinstance(data, wrong_dtype)):
        return function(data, *args, **kwargs)

    def recurse(value: Any) -> Any:
        return _apply(value, dtype, function, args, kwargs, wrong_dtype, include_none, allow_frozen)

    if _is_dataclass_instance(data):
        return _apply_to_dataclass(data, recurse, include_none, allow_frozen)

    elem_type = type(data)
    if isinstance(data, Mapping):
        items = []
        for key, value in data.items():
            new_value = recurse(value)
            if include_none or new_value is not None:
                items.append((key, new_value))
        if isinstance(data, defaultdict):
            return elem_type(data.default_factory, OrderedDict(items))
        return elem_type(OrderedDict(items))

    if isinstance(data, (str, bytes, bytearray)):
        return data

    namedtuple_ = _is_namedtuple(data)
    if namedtuple_ or isinstance(data, Sequence):
        out = []
        for value in data:
            new_value = recurse(value)
            if include_none or new_value is not None:
                out.append(new_value)
        return elem_type(*out) if namedtuple_ else elem_type(out)

    if isinstance(data, AbstractSet):
        out_set = []
        for value in data:
            new_value = recurse(value)
            if include_none or new_value is not None:
                out_set.append(new_value)
        return elem_type(out_set)

    return data


def _apply_to_dataclass(
    data: Any, recurse: Callable[[Any], Any], include_none: bool, allow_frozen: bool
) -> Any:
    if type(data).__dataclass_params__.frozen:  # type: ignore[attr-defined]
        if allow_frozen:
            return copy.copy(data)
        raise ValueError(
            f"`apply_to_collection` got an instance of the frozen dataclass {type(data).__qualname__}, whose"
            " fields cannot be replaced. Pass `allow_frozen=True` to leave frozen dataclasses untouched, or make"
            " the dataclass mutable (`frozen=False`)."
        )
    # a shallow copy keeps attributes that are not dataclass fields (set in ``__post_init__`` or later)
    result = copy.copy(data)
    for field in dataclasses.fields(data):
        if not field.init:
            continue
        old_value = getattr(data, field.name)
        new_value = recurse(old_value)
        if not include_none and new_value is None:
            new_value = old_value
        setattr(result, field.name, new_value)
    # values cached from the old field values are stale now
    for name, attr in vars(type(data)).items():
        if isinstance(attr, cached_property):
            vars(result).pop(name, None)
    return result


def apply_to_collections(
    data1: Any,
    data2: Any,
    dtype: _DType,
    function: Callable[..., Any],
    *args: Any,
    wrong_dtype: type | tuple[type, ...] | None = None,
    **kwargs: Any,
) -> Any:
    """Walk two collections of the same structure in lock-step and apply ``function(x1, x2, *args, **kwargs)``.

    Elements of type ``dtype`` in ``data1`` are combined with the element at the same position in ``data2``. When
    ``data2`` is ``None`` this is :func:`apply_to_collection` on ``data1`` (called with a single element); when
    ``data1`` is ``None`` the two are swapped.

    Args:
        data1: The first collection.
        data2: The second collection, or ``None``.
        dtype: The type(s) ``function`` is applied to.
        function: The function to apply.
        *args: Extra positional arguments for ``function``.
        wrong_dtype: Types excluded from ``dtype``.
        **kwargs: Extra keyword arguments for ``function``.

    Raises:
        ValueError: If two sequences have different lengths.
        KeyError: If a mapping key is missing from one of the mappings.
        TypeError: If dataclass inputs do not have matching types/fields.

    Example:
        >>> apply_to_collections([1, {"a": 2}], [10, {"a": 20}], int, lambda a, b: a + b)
        [11, {'a': 22}]
    """
    if data1 is None:
        if data2 is None:
            return None
        data1, data2 = data2, None

    if data2 is None:
        return apply_to_collection(data1, dtype, function, *args, wrong_dtype=wrong_dtype, **kwargs)

    if isinstance(data1, dtype) and (wrong_dtype is None or not isinstance(data1, wrong_dtype)):
        return function(data1, data2, *args, **kwargs)

    def recurse(a: Any, b: Any) -> Any:
        return apply_to_collections(a, b, dtype, function, *args, wrong_dtype=wrong_dtype, **kwargs)

    elem_type = type(data1)
    if isinstance(data1, Mapping):
        keys = list(data1.keys()) + [k for k in data2 if k not in data1]
        missing = [k for k in keys if k not in data1 or k not in data2]
        if missing:
            raise KeyError(
                f"`apply_to_collections` needs both mappings to have the same keys, but {missing!r} appear in"
                " only one of them."
            )
        return elem_type({k: recurse(data1[k], data2[k]) for k in keys})

    if isinstance(data1, (str, bytes, bytearray)):
        return apply_to_collection(data1, dtype, function, *args, wrong_dtype=wrong_dtype, **kwargs)

    namedtuple_ = _is_namedtuple(data1)
    if namedtuple_ or isinstance(data1, Sequence):
        if len(data1) != len(data2):
            raise ValueError(
                f"`apply_to_collections` got sequences of different sizes ({len(data1)} and {len(data2)})."
                " Pass collections with the same structure."
            )
        out = [recurse(a, b) for a, b in zip(data1, data2)]
        return elem_type(*out) if namedtuple_ else elem_type(out)

    if _is_dataclass_instance(data1):
        if not _is_dataclass_instance(data2):
            raise TypeError(
                "`apply_to_collections` expected two dataclass instances of the same type, but got"
                f" {type(data1).__qualname__} and {type(data2).__qualname__}."
            )
        fields1, fields2 = dataclasses.fields(data1), dataclasses.fields(data2)
        if [f.name for f in fields1] != [f.name for f in fields2]:
            raise TypeError(
                f"`apply_to_collections` got dataclasses with different fields: {[f.name for f in fields1]}"
                f" and {[f.name for f in fields2]}."
            )
        if type(data1).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            raise ValueError(
                f"`apply_to_collections` cannot write into the frozen dataclass {type(data1).__qualname__}."
                " Make it mutable (`frozen=False`)."
            )
        result = copy.copy(data1)
        for field in fields1:
            if field.init:
                setattr(result, field.name, recurse(getattr(data1, field.name), getattr(data2, field.name)))
        return result

    return apply_to_collection(data1, dtype, function, *args, wrong_dtype=wrong_dtype, **kwargs)


class AttributeDict(dict):
    """A ``dict`` whose keys can also be read and written as attributes.

    Its ``repr`` lists one ``"key": value`` line per key, sorted and aligned (the format Lightning prints for
    ``hparams``).

    Example:
        >>> hp = AttributeDict(lr=0.1, layers=2)
        >>> hp.lr
        0.1
        >>> hp.batch_size = 32
        >>> hp
        "batch_size": 32
        "layers":     2
        "lr":         0.1
    """

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute {key!r}. Available keys: {sorted(map(str, self))}"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delattr__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        del self[key]

    def __repr__(self) -> str:
        if not self:
            return ""
        width = max(len(str(k)) for k in self) + 3
        rows = []
        for key in sorted(self):
            label = f'"{key}":'
            rows.append(f"{label:{width}s} {self[key]}")
        return "\n".join(rows)


def _unwrap(attr: Any) -> Any:
    """Peel ``functools.wraps``/``@contextmanager`` wrappers, ``partial`` and ``Mock(wraps=...)`` layers."""
    if hasattr(attr, "__wrapped__"):
        attr = attr.__wrapped__
    mock_module = sys.modules.get("unittest.mock")
    if mock_module is not None and isinstance(attr, mock_module.Mock):
        return attr._mock_wraps
    if isinstance(attr, partial):
        return attr.func
    return attr


def _code_of(attr: Any) -> Any:
    func = getattr(attr, "__func__", attr)  # bound methods and classmethods
    return getattr(func, "__code__", func)


def _infer_parent(method_name: str, instance: object) -> type | None:
    from lit_hooks._callback import Callback
    from lit_hooks._module_hooks import CheckpointHooks, DataHooks, ModelHooks

    cls = instance if isinstance(instance, type) else type(instance)
    # framework classes (e.g. a LightningModule) mark themselves as the reference implementation
    for klass in cls.__mro__:
        if vars(klass).get("__lit_hook_parent__") and hasattr(klass, method_name):
            return klass
    if issubclass(cls, Callback):
        return Callback
    hook_bases = (ModelHooks, DataHooks, CheckpointHooks)
    for base in hook_bases:
        if issubclass(cls, base) and method_name in vars(base):
            return base
    # a framework class built on the hook mixins (e.g. a LightningModule) that defines ``method_name``:
    # the most basic such class in the MRO is the reference implementation
    for klass in reversed(cls.__mro__):
        if klass not in hook_bases and issubclass(klass, hook_bases) and method_name in vars(klass):
            return klass
    return None


def is_overridden(method_name: str, instance: object | None = None, parent: type | None = None) -> bool:
    """Return whether ``instance`` (an object or a class) overrides ``parent.<method_name>``.

    ``functools.wraps``-style wrappers, ``functools.partial``, ``unittest.mock.Mock(wraps=...)``, bound methods and
    classmethods are unwrapped before the code objects are compared.

    Args:
        method_name: The hook or method name, e.g. ``"on_train_batch_end"``.
        instance: The object (or class) to inspect. ``None`` gives ``False``.
        parent: The class holding the default implementation. When ``None`` it is inferred for subclasses of
            :class:`~lit_hooks.Callback`, :class:`~lit_hooks.ModelHooks`, :class:`~lit_hooks.DataHooks` and
            :class:`~lit_hooks.CheckpointHooks` (and classes built on them, such as a ``LightningModule``).
            A framework class can declare itself the reference with a class attribute
            ``__lit_hook_parent__ = True`` (not inherited by subclasses): the most derived such class that
            defines ``method_name`` is used.

    Raises:
        ValueError: If ``parent`` cannot be inferred, or ``parent`` does not define ``method_name``.

    Example:
        >>> from lit_hooks import Callback
        >>> class Printer(Callback):
        ...     def on_fit_start(self, trainer, pl_module):
        ...         print("fit starts")
        >>> is_overridden("on_fit_start", Printer()), is_overridden("on_fit_end", Printer())
        (True, False)
    """
    if instance is None:
        return False
    if parent is None:
        parent = _infer_parent(method_name, instance)
        if parent is None:
            raise ValueError(
                f"`is_overridden({method_name!r}, ...)` cannot infer the parent class of"
                f" {type(instance).__qualname__}: it is not a Callback, ModelHooks, DataHooks or CheckpointHooks"
                f" subclass that defines {method_name!r}. Pass `parent=` explicitly."
            )
    instance_attr = getattr(instance, method_name, None)
    if instance_attr is None:
        return False
    instance_attr = _unwrap(instance_attr)
    if instance_attr is None:
        return False
    parent_attr = getattr(parent, method_name, None)
    if parent_attr is None:
        raise ValueError(
            f"`is_overridden` needs the parent class {parent.__qualname__} to define {method_name!r}, but it"
            " does not. Pass the class that holds the default implementation as `parent=`."
        )
    if hasattr(parent_attr, "__wrapped__"):
        parent_attr = parent_attr.__wrapped__
    return _code_of(instance_attr) != _code_of(parent_attr)
