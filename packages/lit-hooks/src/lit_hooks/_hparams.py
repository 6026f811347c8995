"""``save_hyperparameters``: record the constructor arguments of modules and data modules.

The arguments are found by walking up the call stack from ``save_hyperparameters`` through the ``__init__``
frames of the object's classes, so a subclass's arguments override its parents'. :func:`hparams_to_plain` turns
the result into plain data that can be stored in a checkpoint loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
import types
from argparse import Namespace
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from pathlib import PurePath
from typing import Any

import torch

from lit_hooks._collections import AttributeDict
from lit_hooks._rank_zero import rank_zero_warn

__all__ = [
    "HyperparametersMixin",
    "given_hyperparameters_context",
    "hparams_to_plain",
    "save_hyperparameters",
]

_PRIMITIVE_TYPES = (bool, int, float, str)
_ALLOWED_CONFIG_TYPES = (AttributeDict, MutableMapping, Namespace)

# hyper-parameters handed over by an instantiator (e.g. a CLI) instead of being read from the call stack
_given_hyperparameters: ContextVar[dict[str, Any] | None] = ContextVar("_given_hyperparameters", default=None)


@contextmanager
def given_hyperparameters_context(hparams: dict[str, Any], instantiator: str) -> Iterator[None]:
    """Within this context, ``save_hyperparameters()`` records ``hparams`` (plus ``_instantiator``) verbatim.

    A tool that builds objects from a configuration (a CLI) uses it so that the recorded hyper-parameters are
    the configuration it was given, including ``_instantiator``, the dotted path of the callable that can build
    the object again.
    """
    given = dict(hparams)
    given["_instantiator"] = instantiator
    token = _given_hyperparameters.set(given)
    try:
        yield
    finally:
        _given_hyperparameters.reset(token)


class HyperparametersMixin:
    """Adds :meth:`save_hyperparameters`, :attr:`hparams` and :attr:`hparams_initial` to a class.

    Example:
        >>> class Net(HyperparametersMixin):
        ...     def __init__(self, hidden: int = 32, lr: float = 0.1, verbose: bool = False) -> None:
        ...         super().__init__()
        ...         self.save_hyperparameters(ignore="verbose")
        >>> Net(hidden=64).hparams
        "hidden": 64
        "lr":     0.1
    """

    __jit_unused_properties__: list[str] = ["hparams", "hparams_initial"]
    _log_hyperparams: bool = False

    def __init__(self) -> None:
        super().__init__()
        self._log_hyperparams = False

    def save_hyperparameters(
        self,
        *args: Any,
        ignore: Sequence[str] | str | None = None,
        frame: types.FrameType | None = None,
        logger: bool = True,
    ) -> None:
        """Record constructor arguments in :attr:`hparams` (and a frozen copy in :attr:`hparams_initial`).

        Args:
            *args: Nothing to record every ``__init__`` argument; names of the arguments to record; or a single
                ``dict``/``Namespace``/mapping object to record as the hyper-parameters.
            ignore: An argument name or a list of names not to record.
            frame: The ``__init__`` frame to read the arguments from (defaults to the caller's).
            logger: Whether loggers should receive these hyper-parameters.
        """
        self._log_hyperparams = logger
        given = _given_hyperparameters.get()
        current = inspect.currentframe()
        try:
            if given is None and frame is None and current is not None:
                frame = current.f_back
            save_hyperparameters(self, *args, ignore=ignore, frame=frame, given_hparams=given)
        finally:
            del current, frame

    def _set_hparams(self, hp: MutableMapping | Namespace | str) -> None:
        hp = self._to_hparams_dict(hp)
        if isinstance(hp, dict) and isinstance(self.hparams, dict):
            self.hparams.update(hp)
        else:
            self._hparams = hp

    def remove_ignored_hparams(self, ignore_list: list[str]) -> None:
        """Drop ``ignore_list`` from the recorded hyper-parameters (a subclass can drop its parents' entries)."""
        for key in ignore_list:
            self.hparams.pop(key, None)

    @staticmethod
    def _to_hparams_dict(hp: MutableMapping | Namespace | str) -> MutableMapping | AttributeDict:
        if isinstance(hp, Namespace):
            hp = vars(hp)
        if isinstance(hp, dict):
            return AttributeDict(hp)
        if isinstance(hp, _PRIMITIVE_TYPES):
            raise ValueError(
                f"`save_hyperparameters` got the primitive {hp!r} as hyper-parameter container. Pass the names of"
                " `__init__` arguments as strings, or a dict/Namespace holding the hyper-parameters."
            )
        if not isinstance(hp, _ALLOWED_CONFIG_TYPES):
            raise ValueError(
                f"`save_hyperparameters` got an unsupported container of type {type(hp).__name__}. Expected a"
                " dict, an AttributeDict, another mutable mapping or an argparse.Namespace."
            )
        return hp

    @property
    def hparams(self) -> AttributeDict | MutableMapping:
        """The recorded hyper-parameters; the user may change them. See :attr:`hparams_initial`."""
        if "_hparams" not in self.__dict__:
            self._hparams: AttributeDict | MutableMapping = AttributeDict()
        return self._hparams

    @property
    def hparams_initial(self) -> AttributeDict:
        """A copy of the hyper-parameters as they were recorded; changing it has no effect."""
        if "_hparams_initial" not in self.__dict__:
            return AttributeDict()
        return copy.deepcopy(self._hparams_initial)


def _init_args_of(frame: types.FrameType) -> tuple[Any, dict[str, Any]]:
    """Return ``(self, arguments)`` of an ``__init__`` frame, or ``(None, {})`` for other frames."""
    local_vars = frame.f_locals
    if frame.f_code.co_name != "__init__" or "__class__" not in local_vars:
        return None, {}
    cls = local_vars["__class__"]
    parameters = inspect.signature(cls.__init__).parameters
    names = list(parameters)
    self_name = names[0] if names else "self"
    var_positional = next((p.name for p in parameters.values() if p.kind is p.VAR_POSITIONAL), None)
    var_keyword = next((p.name for p in parameters.values() if p.kind is p.VAR_KEYWORD), None)
    arguments = {name: local_vars[name] for name in names if name in local_vars}
    if var_keyword is not None:
        arguments.update(arguments.get(var_keyword) or {})
    excluded = {self_name, var_positional, var_keyword, "__class__", "frame", "frame_args"}
    return local_vars.get(self_name), {k: v for k, v in arguments.items() if k not in excluded}


def _collect_init_args(frame: types.FrameType, classes: tuple[type, ...]) -> list[dict[str, Any]]:
    """Arguments of the consecutive ``__init__`` frames above ``frame``, the outermost (most derived) last."""
    collected: list[dict[str, Any]] = []
    inside = False
    current: types.FrameType | None = frame
    while current is not None and current.f_back is not None:
        has_class_cell = "__class__" in current.f_locals
        owner, arguments = _init_args_of(current)
        if has_class_cell and (not classes or isinstance(owner, classes)):
            collected.append(arguments)
            inside = True
        elif inside:
            break
        current = current.f_back
    del current
    return collected


def _matches(value: Any, target: Any) -> bool:
    if value is target:
        return True
    try:
        return bool(value == target)
    except Exception:  # e.g. tensors/arrays whose equality is element-wise
        return False


def save_hyperparameters(
    obj: Any,
    *args: Any,
    ignore: Sequence[str] | str | None = None,
    frame: types.FrameType | None = None,
    given_hparams: dict[str, Any] | None = None,
) -> None:
    """Record hyper-parameters on ``obj`` (a :class:`HyperparametersMixin`); see its ``save_hyperparameters``.

    Args:
        obj: The object to record the hyper-parameters on.
        *args: Argument names to record, or a single dict/Namespace to record, or nothing (record everything).
        ignore: Argument name(s) not to record.
        frame: The frame to start the ``__init__`` search from (defaults to the caller's).
        given_hparams: Record these instead of inspecting the call stack.

    Raises:
        ValueError: If a requested argument name is not an ``__init__`` argument, or the container type is
            not supported.
    """
    if len(args) == 1 and not isinstance(args, str) and not args[0]:
        return  # an empty container: nothing to record

    current = inspect.currentframe()
    try:
        if frame is None and current is not None:
            frame = current.f_back
        if not isinstance(frame, types.FrameType):
            raise AttributeError(
                "`save_hyperparameters` needs a frame to read the `__init__` arguments from."
            )

        if given_hparams is not None:
            init_args = dict(given_hparams)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            init_args = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
        else:
            init_args = {}
            classes = (HyperparametersMixin,) if isinstance(obj, HyperparametersMixin) else ()
            for arguments in _collect_init_args(frame, classes):
                init_args.update(arguments)
    finally:
        del current, frame

    if ignore is None:
        ignore_list: list[str] = []
    elif isinstance(ignore, str):
        ignore_list = [ignore]
    elif isinstance(ignore, (list, tuple)):
        ignore_list = [name for name in ignore if isinstance(name, str)]
    else:
        raise TypeError(f"`ignore` must be a string or a list of strings, but got {ignore!r}.")
    ignore_list = list(dict.fromkeys(ignore_list))
    init_args = {k: v for k, v in init_args.items() if k not in ignore_list}

    hp: Any
    if not args:
        hp = init_args
        obj._hparams_name = "kwargs" if hp else None
    else:
        non_str = [arg for arg in args if not isinstance(arg, str)]
        if len(non_str) == 1:
            hp = non_str[0]
            names = [k for k, v in init_args.items() if _matches(v, hp)]
            obj._hparams_name = names[0] if names else None
        else:
            missing = [arg for arg in args if isinstance(arg, str) and arg not in init_args]
            if missing:
                raise ValueError(
                    f"`save_hyperparameters` was asked to record {missing!r}, which are not (or no longer, after"
                    f" `ignore`) arguments of `{type(obj).__name__}.__init__`. Available: {sorted(init_args)}."
                )
            hp = {arg: init_args[arg] for arg in args if isinstance(arg, str)}
            obj._hparams_name = "kwargs"

    obj._set_hparams(hp)
    obj.remove_ignored_hparams(ignore_list)

    for key, value in obj.hparams.items():
        if isinstance(value, torch.nn.Module):
            rank_zero_warn(
                f"Attribute {key!r} is an `nn.Module`, whose weights are already saved in checkpoints. Consider"
                f" `self.save_hyperparameters(ignore=[{key!r}])`."
            )

    obj._hparams_initial = copy.deepcopy(obj._hparams)


def _plain_key(key: Any, seen: set[int]) -> Any:
    plain = hparams_to_plain(key, _seen=seen)
    try:
        hash(plain)
    except TypeError:
        return repr(key)
    return plain


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return f"{module}.{qualname}" if module and module != "builtins" else str(qualname)


def hparams_to_plain(obj: Any, *, _seen: set[int] | None = None) -> Any:
    """Convert hyper-parameters to plain data: dicts, lists, ``str``, ``int``, ``float``, ``bool`` and ``None``.

    ``Namespace``/``AttributeDict``/mappings become dicts, dataclasses and namedtuples dicts of their fields,
    tuples/sets lists, enums their value, paths, dtypes and devices strings, NumPy and tensor values numbers or
    lists, classes and functions their dotted name; anything else becomes its ``repr``. The result loads with
    ``torch.load(weights_only=True)``.

    Example:
        >>> from argparse import Namespace
        >>> from pathlib import Path
        >>> hparams_to_plain(Namespace(lr=0.1, dims=(4, 8), root=Path("/data")))
        {'lr': 0.1, 'dims': [4, 8], 'root': '/data'}
    """
    if obj is None or type(obj) in _PRIMITIVE_TYPES:
        return obj
    if isinstance(obj, Enum):
        return hparams_to_plain(obj.value, _seen=_seen)
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if isinstance(obj, torch.Tensor):
        return obj.item() if obj.dim() == 0 else obj.detach().cpu().tolist()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(obj, numpy.generic):
            return hparams_to_plain(obj.item(), _seen=_seen)
        if isinstance(obj, numpy.ndarray):
            return obj.tolist()
    if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
        return _qualified_name(obj)

    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return f"<recursive {type(obj).__name__}>"
    seen.add(id(obj))
    try:
        if isinstance(obj, Namespace):
            return {_plain_key(k, seen): hparams_to_plain(v, _seen=seen) for k, v in vars(obj).items()}
        if isinstance(obj, Mapping):
            return {_plain_key(k, seen): hparams_to_plain(v, _seen=seen) for k, v in obj.items()}
        if dataclasses.is_dataclass(obj):
            return {
                f.name: hparams_to_plain(getattr(obj, f.name), _seen=seen) for f in dataclasses.fields(obj)
            }
        if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
            return {k: hparams_to_plain(v, _seen=seen) for k, v in obj._asdict().items()}
        if isinstance(obj, (list, tuple)):
            return [hparams_to_plain(v, _seen=seen) for v in obj]
        if isinstance(obj, (set, frozenset)):
            items = [hparams_to_plain(v, _seen=seen) for v in obj]
            try:
                return sorted(items)
            except TypeError:
                return sorted(items, key=repr)
        return repr(obj)
    finally:
        seen.discard(id(obj))
