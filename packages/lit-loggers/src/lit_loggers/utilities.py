"""Helpers shared by the loggers: parameter conversion, metric prefixes, versions and checkpoint scanning.

The names keep Lightning's leading underscores (``_flatten_dict``, ``_scan_checkpoints`` ...) so code written against
``lightning.fabric.utilities.logger`` / ``lightning.pytorch.loggers.utilities`` finds the same helpers here.
Nothing in this module imports a third-party back-end at import time.
"""

from __future__ import annotations

import enum
import inspect
import json
import os
import sys
from argparse import Namespace
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path, PurePath
from typing import Any, Union

import torch
from torch import Tensor

__all__ = [
    "_add_prefix",
    "_convert_json_serializable",
    "_convert_params",
    "_flatten_dict",
    "_is_json_serializable",
    "_log_hyperparams",
    "_merge_hparams",
    "_sanitize_callable_params",
    "_sanitize_params",
    "_scan_checkpoints",
    "_version",
    "hparams_to_yaml_data",
    "save_hparams_to_yaml",
]

_PARAMS = Union[Mapping[str, Any], Namespace, None, Any]


def _convert_params(params: _PARAMS) -> dict[str, Any]:
    """Return the hyper-parameters ``params`` as a new ``dict``.

    Accepts ``None`` (gives ``{}``), an :class:`argparse.Namespace`, any mapping (``dict``, ``AttributeDict``,
    OmegaConf ``DictConfig``...) and dataclass instances (their fields, not deep-copied).

    Raises:
        TypeError: For anything else, e.g. a list.

    Example:
        >>> _convert_params(Namespace(lr=0.1))
        {'lr': 0.1}
        >>> _convert_params(None)
        {}
    """
    if params is None:
        return {}
    if isinstance(params, Namespace):
        return dict(vars(params))
    if is_dataclass(params) and not isinstance(params, type):
        return {f.name: getattr(params, f.name) for f in fields(params)}
    if isinstance(params, Mapping):
        return dict(params)
    raise TypeError(
        f"Hyper-parameters must be a dict, an `argparse.Namespace` or a dataclass instance, got"
        f" {type(params).__name__}: {params!r}. Wrap the values in a dict, e.g. `log_hyperparams({{'name': value}})`."
    )


def _nested_to_mapping(value: Any) -> Any:
    """Return a ``dict`` view of Namespaces and dataclass instances, ``value`` unchanged otherwise."""
    if isinstance(value, Namespace):
        return vars(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    return value


def _flatten_dict(params: Mapping[Any, Any], delimiter: str = "/", parent_key: str = "") -> dict[str, Any]:
    """Flatten nested mappings into one level, joining keys with ``delimiter``.

    Nested Namespaces and dataclass instances are flattened like dicts, and so are lists whose items are all
    mappings (their index becomes a key part). Other values, including lists of scalars, are kept as they are.

    Example:
        >>> _flatten_dict({"a": {"b": 1}, 5: {"c": 2}, "l": [{"x": 1}, {"y": 2}], "s": [1, 2]})
        {'a/b': 1, '5/c': 2, 'l/0/x': 1, 'l/1/y': 2, 's': [1, 2]}
    """
    result: dict[str, Any] = {}
    for key, value in params.items():
        new_key = f"{parent_key}{delimiter}{key}" if parent_key else str(key)
        value = _nested_to_mapping(value)
        if isinstance(value, Mapping):
            result.update(_flatten_dict(value, delimiter=delimiter, parent_key=new_key))
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) for item in value):
            for index, item in enumerate(value):
                result.update(
                    _flatten_dict(item, delimiter=delimiter, parent_key=f"{new_key}{delimiter}{index}")
                )
        else:
            result[new_key] = value
    return result


def _sanitize_callable(value: Any) -> Any:
    if inspect.isclass(value):
        return value.__name__
    if callable(value) and not isinstance(value, (torch.nn.Module, Tensor)):
        # Lightning semantics: a zero-argument callable may produce the value to log (e.g. a factory); a
        # callable that returns another callable, or that cannot be called without arguments, is logged by name.
        try:
            produced = value()
        except Exception:
            return getattr(value, "__name__", None)
        if callable(produced):
            return getattr(value, "__name__", None)
        return produced
    return value


def _sanitize_callable_params(params: Mapping[str, Any] | Namespace) -> dict[str, Any]:
    """Replace classes by their name and callables by what they return when called without arguments.

    A callable that fails without arguments, or that returns another callable, is replaced by its ``__name__``.

    Example:
        >>> def make(): return "made"
        >>> _sanitize_callable_params({"cls": int, "fn": make, "nested": lambda: print, "n": 1})
        {'cls': 'int', 'fn': 'made', 'nested': '<lambda>', 'n': 1}
    """
    return {key: _sanitize_callable(value) for key, value in _convert_params(params).items()}


def _sanitize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``params`` whose values are ``bool``/``int``/``float``/``str``/``Tensor``.

    NumPy scalars become Python numbers, every other value becomes its ``str()``.

    Example:
        >>> _sanitize_params({"lr": 0.1, "layers": [1, 2], "ns": Namespace(a=1), "act": "relu"})
        {'lr': 0.1, 'layers': '[1, 2]', 'ns': 'Namespace(a=1)', 'act': 'relu'}
    """
    result: dict[str, Any] = {}
    numpy = sys.modules.get("numpy")
    for key, value in params.items():
        if numpy is not None and isinstance(value, (numpy.bool_, numpy.integer, numpy.floating)):
            value = value.item()
        if type(value) not in (bool, int, float, str, Tensor):
            value = str(value)
        result[key] = value
    return result


def _is_json_serializable(value: Any) -> bool:
    """Return whether ``json.dumps(value)`` succeeds."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    try:
        json.dumps(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def _convert_json_serializable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``params`` where values that JSON cannot encode are replaced by their ``str()``."""
    return {key: value if _is_json_serializable(value) else str(value) for key, value in params.items()}


def _add_prefix(metrics: Mapping[str, Any], prefix: str, separator: str) -> Mapping[str, Any]:
    """Return ``metrics`` with ``f"{prefix}{separator}"`` put before every key (``metrics`` itself when no prefix).

    Example:
        >>> _add_prefix({"loss": 1.0}, "train", "-")
        {'train-loss': 1.0}
    """
    if not prefix:
        return metrics
    return {f"{prefix}{separator}{key}": value for key, value in metrics.items()}


def _version(loggers: list[Any], separator: str = "_") -> int | str:
    """Return the version shown for several loggers: the single logger's version, or the distinct versions joined.

    Example:
        >>> class L:
        ...     def __init__(self, version): self.version = version
        >>> _version([L(3)]), _version([L(0), L("abc"), L(0)])
        (3, '0_abc')
    """
    if len(loggers) == 1:
        return loggers[0].version
    return separator.join(dict.fromkeys(str(logger.version) for logger in loggers))


def _scan_checkpoints(
    checkpoint_callback: Any, logged_model_time: Mapping[str, float]
) -> list[tuple[float, str, Any, str]]:
    """Return the checkpoints of ``checkpoint_callback`` that still have to be logged, oldest first.

    Reads, when present, ``last_model_path``/``current_score`` (tag ``"latest"``), ``best_model_path``/
    ``best_model_score`` (tag ``"best"``) and ``best_k_models`` (tag ``"best_k"``). A file is returned when it
    exists and was not logged yet, or was rewritten since (its modification time is newer than the one recorded in
    ``logged_model_time``).

    Args:
        checkpoint_callback: A ``ModelCheckpoint``-like object.
        logged_model_time: Maps each already logged path to the modification time it had when logged.

    Returns:
        A list of ``(modification_time, path, score, tag)`` tuples sorted by modification time.
    """
    checkpoints: dict[str, tuple[Any, str]] = {}
    if hasattr(checkpoint_callback, "last_model_path") and hasattr(checkpoint_callback, "current_score"):
        checkpoints[checkpoint_callback.last_model_path] = (checkpoint_callback.current_score, "latest")
    if hasattr(checkpoint_callback, "best_model_path") and hasattr(checkpoint_callback, "best_model_score"):
        checkpoints[checkpoint_callback.best_model_path] = (checkpoint_callback.best_model_score, "best")
    for path, score in getattr(checkpoint_callback, "best_k_models", {}).items():
        checkpoints[path] = (score, "best_k")

    found = []
    for path, (score, tag) in checkpoints.items():
        if not path or not os.path.isfile(path):
            continue
        mtime = Path(path).stat().st_mtime
        if path in logged_model_time and logged_model_time[path] >= mtime:
            continue
        found.append((mtime, path, score, tag))
    return sorted(found, key=lambda item: (item[0], item[1]))


# --------------------------------------------------------------------------------------------------------------------
# hyper-parameters as plain, readable data


def _qualified_name(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{module}.{name}" if module and module != "builtins" else str(name)


_MAX_TENSOR_ITEMS = 1000


def hparams_to_yaml_data(value: Any) -> Any:
    """Convert ``value`` into plain data (dicts, lists, ``str``/``int``/``float``/``bool``/``None``) for YAML.

    Namespaces, mappings and dataclass instances become dicts with ``str`` keys; tuples and sets become lists;
    enums become their name; paths become strings; tensors and NumPy values become numbers or lists; classes and
    functions become their qualified name; anything else becomes its ``repr``. The result can be written with
    ``yaml.safe_dump`` and read back without executing code.

    Example:
        >>> import enum
        >>> class Mode(enum.Enum):
        ...     FAST = 1
        >>> hparams_to_yaml_data({"mode": Mode.FAST, "shape": (2, 3), "ns": Namespace(a=1), "cls": dict})
        {'mode': 'FAST', 'shape': [2, 3], 'ns': {'a': 1}, 'cls': 'dict'}
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    for plain in (bool, int, float, str):
        if isinstance(value, plain):  # a subclass of a plain type: drop the subclass
            return plain.__new__(plain, value) if plain is not bool else bool(value)
    value = _nested_to_mapping(value)
    if isinstance(value, Mapping):
        return {str(key): hparams_to_yaml_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [hparams_to_yaml_data(item) for item in items]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Tensor):
        if value.numel() == 1:
            return value.item()
        if value.numel() <= _MAX_TENSOR_ITEMS:
            return value.tolist()
        return repr(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.generic):
            return value.item()
        if isinstance(value, numpy.ndarray):
            return value.tolist() if value.size <= _MAX_TENSOR_ITEMS else repr(value)
    if (
        inspect.isclass(value)
        or inspect.isfunction(value)
        or inspect.ismethod(value)
        or inspect.isbuiltin(value)
    ):
        return _qualified_name(value)
    return repr(value)


def _write_text(path: str, text: str) -> None:
    if "://" in path:
        from lit_loggers._fs import get_filesystem

        fs = get_filesystem(path)
        with fs.open(path, "w") as file:
            file.write(text)
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as file:
        file.write(text)
    os.replace(tmp, path)


def save_hparams_to_yaml(config_yaml: str | os.PathLike[str], hparams: _PARAMS) -> None:
    """Write ``hparams`` to the YAML file ``config_yaml`` as plain, readable data.

    Values are converted with :func:`hparams_to_yaml_data`, so the file loads with ``yaml.safe_load`` (no Python
    object tags). Uses PyYAML when it is installed and falls back to JSON text, which YAML parsers read as well.

    Raises:
        RuntimeError: When the folder of ``config_yaml`` does not exist.
    """
    path = os.fspath(config_yaml)
    if "://" not in path and not os.path.isdir(os.path.dirname(path) or "."):
        raise RuntimeError(f"Missing folder: {os.path.dirname(path)}. Create it before saving {path!r}.")
    data = hparams_to_yaml_data(_convert_params(hparams))
    try:
        import yaml  # pants: no-infer-dep
    except ImportError:
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    else:
        text = yaml.safe_dump(data, default_flow_style=False, sort_keys=True, allow_unicode=True)
    _write_text(path, text)


# --------------------------------------------------------------------------------------------------------------------
# what a trainer does with hyper-parameters at the start of a run


def _merge_hparams(
    module_hparams: Mapping[str, Any], datamodule_hparams: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge a module's and a datamodule's initial hyper-parameters.

    Raises:
        RuntimeError: When a key is present in both with different values (or types).
    """
    inconsistent = []
    for key in module_hparams.keys() & datamodule_hparams.keys():
        if key == "_class_path":
            continue
        left, right = module_hparams[key], datamodule_hparams[key]
        if type(left) is not type(right):
            inconsistent.append(key)
        elif isinstance(left, Tensor):
            if left is not right:
                inconsistent.append(key)
        elif left != right:
            inconsistent.append(key)
    if inconsistent:
        raise RuntimeError(
            f"Error while merging hparams: the keys {sorted(inconsistent)} are present in both the LightningModule's"
            " and LightningDataModule's hparams but have different values. Give them the same value or rename one."
        )
    return {**module_hparams, **datamodule_hparams}


def _log_hyperparams(loggers: Iterable[Any], module: Any, datamodule: Any = None) -> None:
    """Log the initial hyper-parameters of ``module`` (and ``datamodule``), the model graph, then save, per logger.

    This is what a trainer does at the start of ``fit``/``validate``/``test``/``predict`` when hyper-parameter
    logging is enabled. ``module`` and ``datamodule`` are duck-typed: they may define ``_log_hyperparams`` (bool)
    and ``hparams_initial`` (mapping), as ``HyperparametersMixin`` does.
    """
    loggers = list(loggers)
    if not loggers:
        return
    log_module = bool(getattr(module, "_log_hyperparams", False))
    log_datamodule = datamodule is not None and bool(getattr(datamodule, "_log_hyperparams", False))
    hparams: dict[str, Any] | None = None
    if log_module and log_datamodule:
        hparams = _merge_hparams(module.hparams_initial, datamodule.hparams_initial)
    elif log_module:
        hparams = dict(module.hparams_initial)
    elif log_datamodule:
        hparams = dict(datamodule.hparams_initial)
    if hparams is not None:
        hparams = {key: value for key, value in hparams.items() if key != "_class_path"}
    for logger in loggers:
        if hparams is not None:
            logger.log_hyperparams(hparams)
        if module is not None:
            logger.log_graph(module)
        logger.save()
