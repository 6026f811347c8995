"""Parameter conversion, prefixes, versions, checkpoint scanning and the hparams YAML writer."""

from __future__ import annotations

import dataclasses
import enum
import os
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lit_hooks import AttributeDict
from lit_hooks.testing import RecordingLogger
from lit_loggers.utilities import (
    _add_prefix,
    _convert_json_serializable,
    _convert_params,
    _flatten_dict,
    _log_hyperparams,
    _merge_hparams,
    _sanitize_callable_params,
    _sanitize_params,
    _scan_checkpoints,
    _version,
    hparams_to_yaml_data,
    save_hparams_to_yaml,
)


@dataclasses.dataclass
class Optim:
    name: str = "adam"
    betas: tuple = (0.9, 0.99)


class Color(enum.Enum):
    RED = 1


def test_convert_params_accepts_namespace_dict_dataclass_none():
    assert _convert_params(None) == {}
    assert _convert_params(Namespace(a=1, b="x")) == {"a": 1, "b": "x"}
    assert _convert_params(AttributeDict(a=1)) == {"a": 1}
    assert _convert_params(Optim()) == {"name": "adam", "betas": (0.9, 0.99)}
    params = {"a": 1}
    converted = _convert_params(params)
    assert converted == params and converted is not params
    with pytest.raises(TypeError, match=r"got list: \[1, 2\]"):
        _convert_params([1, 2])


def test_flatten_dict_nested_namespace_dataclass_and_list_of_dicts():
    params = {
        "model": {"layers": 2, "act": {"name": "relu"}},
        "ns": Namespace(x=1),
        "opt": Optim(),
        "dl": [{"a": 1}, {"b": 2}],
        "plain_list": [1, 2],
        "empty": [],
        5: {"k": None},
    }
    assert _flatten_dict(params) == {
        "model/layers": 2,
        "model/act/name": "relu",
        "ns/x": 1,
        "opt/name": "adam",
        "opt/betas": (0.9, 0.99),
        "dl/0/a": 1,
        "dl/1/b": 2,
        "plain_list": [1, 2],
        "empty": [],
        "5/k": None,
    }
    assert _flatten_dict({"a": {"b": 1}}, delimiter=".") == {"a.b": 1}


_leaf = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.none())
_key = st.text(alphabet="abcxyz", min_size=1, max_size=4)
_nested = st.recursive(
    _leaf, lambda children: st.dictionaries(_key, children, min_size=1, max_size=4), max_leaves=20
)


def _leaves(tree):
    if isinstance(tree, dict):
        for key, value in tree.items():
            for path, leaf in _leaves(value):
                yield (key, *path), leaf
    else:
        yield (), tree


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_key, _nested, max_size=5))
def test_flatten_dict_keeps_every_leaf_under_its_joined_path(tree):
    flat = _flatten_dict(tree)
    expected = {"/".join(path): leaf for path, leaf in _leaves(tree)}
    assert flat == expected


def test_sanitize_callable_params_follows_lightning():
    def return_something():
        return "something"

    def wrapper_something():
        return return_something

    def needs_args(x):
        return x

    params = Namespace(
        foo="bar",
        something=return_something,
        wrapper_something_wo_name=(lambda: lambda: "1"),
        wrapper_something=wrapper_something,
        needs_args=needs_args,
        cls=torch.nn.Linear,
        module=torch.nn.Identity(),
    )
    out = _sanitize_callable_params(params)
    assert out["foo"] == "bar"
    assert out["something"] == "something"
    assert out["wrapper_something"] == "wrapper_something"
    assert out["wrapper_something_wo_name"] == "<lambda>"
    assert out["needs_args"] == "needs_args"
    assert out["cls"] == "Linear"
    assert isinstance(out["module"], torch.nn.Identity)  # modules are not called


def test_sanitize_params_makes_non_primitives_text_and_numpy_scalars_python():
    params = {
        "float": 0.3,
        "int": 1,
        "string": "abc",
        "bool": True,
        "list": [1, 2, 3],
        "namespace": Namespace(foo=3),
        "layer": torch.nn.BatchNorm1d,
        "np_int": np.int64(3),
        "np_float": np.float32(0.5),
        "np_bool": np.bool_(True),
        "tensor": torch.tensor(1.0),
    }
    out = _sanitize_params(params)
    assert out["list"] == "[1, 2, 3]"
    assert out["namespace"] == "Namespace(foo=3)"
    assert out["layer"] == "<class 'torch.nn.modules.batchnorm.BatchNorm1d'>"
    assert out["np_int"] == 3 and type(out["np_int"]) is int
    assert out["np_float"] == 0.5 and type(out["np_float"]) is float
    assert out["np_bool"] is True
    assert isinstance(out["tensor"], torch.Tensor)
    assert params["list"] == [1, 2, 3]  # input untouched


def test_convert_json_serializable():
    out = _convert_json_serializable({"a": 1, "b": [1, "x"], "c": Path("/x"), "d": {"e": object}})
    assert out["a"] == 1 and out["b"] == [1, "x"]
    assert out["c"] == "/x"
    assert out["d"].startswith("{'e': <class 'object'>")


def test_add_prefix_and_version():
    metrics = {"loss": 1.0, "acc": 0.5}
    assert _add_prefix(metrics, "", "-") is metrics
    assert _add_prefix(metrics, "train", "-") == {"train-loss": 1.0, "train-acc": 0.5}
    assert _add_prefix(metrics, "train", "/") == {"train/loss": 1.0, "train/acc": 0.5}
    assert _version([RecordingLogger(version=4)]) == 4
    assert (
        _version([RecordingLogger(version=1), RecordingLogger(version="a"), RecordingLogger(version=1)])
        == "1_a"
    )
    assert _version([RecordingLogger(version=1), RecordingLogger(version=2)], separator="-") == "1-2"


class _Ckpt:
    """The attributes a checkpoint callback exposes (lit-loggers tests cannot import lit-callbacks)."""

    def __init__(self, last="", best="", best_k=None, score=None, current=None):
        self.last_model_path = last
        self.best_model_path = best
        self.best_k_models = best_k or {}
        self.best_model_score = score
        self.current_score = current


def test_scan_checkpoints_returns_new_and_rewritten_files_oldest_first(tmp_path):
    paths = []
    for index, name in enumerate(["a.ckpt", "b.ckpt", "last.ckpt"]):
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (1000 + index, 1000 + index))
        paths.append(str(path))
    a, b, last = paths
    callback = _Ckpt(
        last=last,
        best=b,
        best_k={a: torch.tensor(0.5), b: torch.tensor(0.2)},
        score=torch.tensor(0.2),
        current=0.7,
    )
    found = _scan_checkpoints(callback, {})
    assert [(t, p, tag) for t, p, _, tag in found] == [
        (1000, a, "best_k"),
        (1001, b, "best_k"),
        (1002, last, "latest"),
    ]
    assert found[0][2] == torch.tensor(0.5)

    logged = {p: t for t, p, _, _ in found}
    assert _scan_checkpoints(callback, logged) == []
    os.utime(last, (2000, 2000))  # rewritten in place, e.g. last.ckpt
    assert [p for _, p, _, _ in _scan_checkpoints(callback, logged)] == [last]
    callback.best_k_models[str(tmp_path / "missing.ckpt")] = 1.0
    assert [p for _, p, _, _ in _scan_checkpoints(callback, logged)] == [last]
    assert _scan_checkpoints(object(), {}) == []


def test_hparams_to_yaml_data_is_plain_and_readable():
    data = hparams_to_yaml_data(
        {
            "ns": Namespace(x=1),
            "ad": AttributeDict(y=2),
            "opt": Optim(),
            "color": Color.RED,
            "tuple": (1, (2, 3)),
            "set": {3, 1},
            "path": Path("/data"),
            "scalar_tensor": torch.tensor(2.5),
            "small_tensor": torch.tensor([1, 2]),
            "np": np.float64(0.25),
            "array": np.arange(3),
            "cls": torch.nn.Linear,
            "fn": os.path.join,
            "obj": object.__new__(Optim),
            7: "int key",
        }
    )
    assert data["ns"] == {"x": 1}
    assert data["ad"] == {"y": 2}
    assert data["opt"] == {"name": "adam", "betas": [0.9, 0.99]}
    assert data["color"] == "RED"
    assert data["tuple"] == [1, [2, 3]]
    assert data["set"] == [1, 3]
    assert data["path"] == "/data"
    assert data["scalar_tensor"] == 2.5
    assert data["small_tensor"] == [1, 2]
    assert data["np"] == 0.25 and data["array"] == [0, 1, 2]
    assert data["cls"] == "torch.nn.modules.linear.Linear"
    assert data["fn"] == "posixpath.join"
    assert data["7"] == "int key"
    # safe_dump accepts it, i.e. nothing but plain data is left
    assert yaml.safe_load(yaml.safe_dump(data)) == data


def test_save_hparams_to_yaml_round_trip(tmp_path):
    path = tmp_path / "hparams.yaml"
    save_hparams_to_yaml(path, Namespace(lr=0.1, nested={"layers": (1, 2)}, act=torch.nn.ReLU))
    text = path.read_text()
    assert "!!python" not in text
    assert yaml.safe_load(text) == {
        "act": "torch.nn.modules.activation.ReLU",
        "lr": 0.1,
        "nested": {"layers": [1, 2]},
    }
    with pytest.raises(RuntimeError, match="Missing folder"):
        save_hparams_to_yaml(tmp_path / "nope" / "hparams.yaml", {})


def test_save_hparams_to_yaml_without_pyyaml_writes_json_that_yaml_reads(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_yaml(name, *args, **kwargs):
        if name == "yaml":
            raise ImportError("no yaml")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_yaml)
    save_hparams_to_yaml(tmp_path / "h.yaml", {"a": {"b": [1, 2]}, "c": "x"})
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert yaml.safe_load((tmp_path / "h.yaml").read_text()) == {"a": {"b": [1, 2]}, "c": "x"}


def test_merge_hparams_rejects_conflicts():
    assert _merge_hparams({"a": 1, "_class_path": "x"}, {"b": 2, "_class_path": "y"}) == {
        "a": 1,
        "b": 2,
        "_class_path": "y",
    }
    assert _merge_hparams({"a": 1}, {"a": 1}) == {"a": 1}
    with pytest.raises(RuntimeError, match=r"the keys \['a', 'c'\] are present in both"):
        _merge_hparams({"a": 1, "c": 1}, {"a": 2, "c": 1.0})
    tensor = torch.tensor(1)
    assert _merge_hparams({"t": tensor}, {"t": tensor}) == {"t": tensor}
    with pytest.raises(RuntimeError):
        _merge_hparams({"t": tensor}, {"t": torch.tensor(1)})


class _Module(torch.nn.Module):
    def __init__(self, log=True, hparams=None):
        super().__init__()
        self._log_hyperparams = log
        self.hparams_initial = hparams or {}


def test_log_hyperparams_logs_merged_hparams_graph_and_saves_each_logger():
    loggers = [RecordingLogger(), RecordingLogger()]
    module = _Module(hparams={"lr": 0.1, "_class_path": "m.M"})
    datamodule = _Module(hparams={"batch_size": 4})
    _log_hyperparams(loggers, module, datamodule)
    for logger in loggers:
        assert logger.hparams == {"lr": 0.1, "batch_size": 4}
        assert logger.graphs == ["_Module"]
        assert logger.saved == 1
    only_dm = RecordingLogger()
    _log_hyperparams([only_dm], _Module(log=False, hparams={"lr": 1}), datamodule)
    assert only_dm.hparams == {"batch_size": 4} and only_dm.saved == 1
    nothing = RecordingLogger()
    _log_hyperparams([nothing], _Module(log=False), None)
    assert nothing.hparams_calls == 0 and nothing.saved == 1
    _log_hyperparams([], module)  # no loggers: nothing to do


def test_scan_checkpoints_uses_modification_time(tmp_path):
    path = tmp_path / "m.ckpt"
    path.write_bytes(b"1")
    callback = _Ckpt(last=str(path), current=1.0)
    [(mtime, p, score, tag)] = _scan_checkpoints(callback, {})
    assert (p, score, tag) == (str(path), 1.0, "latest")
    assert mtime == pytest.approx(path.stat().st_mtime)
    assert mtime <= time.time()
