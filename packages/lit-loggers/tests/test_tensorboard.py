"""TensorBoardLogger, read back with tensorboard's own EventAccumulator."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from argparse import Namespace

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked_crc32c
from tensorboard.plugins.hparams import plugin_data_pb2

import lit_loggers._tensorboard as tb_module
from lit_hooks import MissingExtraError
from lit_loggers import TensorBoardLogger
from lit_loggers._tfevents import encode_scalar_event, frame_records, masked_crc32c, masked_crc32c_batch


def load(log_dir: str) -> EventAccumulator:
    accumulator = EventAccumulator(log_dir, size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def logged_hparams(accumulator: EventAccumulator) -> dict:
    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    out = {}
    for key, value in data.session_start_info.hparams.items():
        out[key] = getattr(value, value.WhichOneof("kind"))
    return out


def test_scalars_steps_and_folders(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="exp")
    assert logger.version == 0
    assert logger.root_dir == os.path.join(tmp_path, "exp")
    assert logger.log_dir == os.path.join(tmp_path, "exp", "version_0")
    assert logger.save_dir == str(tmp_path)
    for step in range(250):  # more than one write batch
        logger.log_metrics({"loss": torch.tensor(1.0 / (step + 1)), "epoch": step // 100}, step=step)
    logger.log_metrics({"val/acc": 0.75}, step=249)
    logger.finalize("success")
    accumulator = load(logger.log_dir)
    assert set(accumulator.Tags()["scalars"]) == {"loss", "epoch", "val/acc"}
    loss = scalars(accumulator, "loss")
    assert [s for s, _ in loss] == list(range(250))
    assert [v for _, v in loss] == pytest.approx([1.0 / (s + 1) for s in range(250)], rel=1e-6)
    assert scalars(accumulator, "epoch")[-1] == (249, 2.0)
    assert scalars(accumulator, "val/acc") == [(249, 0.75)]
    assert TensorBoardLogger(tmp_path, name="exp").version == 1
    assert TensorBoardLogger(tmp_path, name="exp", version="run").log_dir == os.path.join(
        tmp_path, "exp", "run"
    )


def test_hparams_yaml_hp_metric_and_hparams_plugin(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    logger.log_hyperparams(
        Namespace(
            lr=0.01, layers=3, opt={"name": "adam", "betas": (0.9, 0.99)}, act=torch.nn.ReLU, use_bn=True
        )
    )
    logger.log_metrics({"hp_metric": 0.5}, step=10)
    logger.finalize("success")
    accumulator = load(logger.log_dir)
    assert scalars(accumulator, "hp_metric") == [(0, -1.0), (10, 0.5)]
    assert logged_hparams(accumulator) == {
        "lr": 0.01,
        "layers": 3.0,
        "opt/name": "adam",
        "opt/betas": "(0.9, 0.99)",
        "act": "<class 'torch.nn.modules.activation.ReLU'>",
        "use_bn": True,
    }
    with open(os.path.join(logger.log_dir, "hparams.yaml")) as file:
        assert yaml.safe_load(file) == {
            "act": "torch.nn.modules.activation.ReLU",
            "layers": 3,
            "lr": 0.01,
            "opt": {"betas": [0.9, 0.99], "name": "adam"},
            "use_bn": True,
        }


def test_hparams_with_metrics_and_without_default_hp_metric(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="a", default_hp_metric=False)
    logger.log_hyperparams({"lr": 0.1})
    logger.save()
    accumulator = load(logger.log_dir)
    assert "hp_metric" not in accumulator.Tags()["scalars"]
    with pytest.raises(KeyError, match="hparams"):
        accumulator.PluginTagToContent("hparams")
    assert yaml.safe_load(open(os.path.join(logger.log_dir, "hparams.yaml"))) == {"lr": 0.1}

    logger = TensorBoardLogger(tmp_path, name="b")
    logger.log_hyperparams({"lr": 0.1}, metrics={"val_loss": 0.3}, step=5)
    logger.log_hyperparams({"wd": 0.0}, metrics=0.7)
    logger.finalize("success")
    accumulator = load(logger.log_dir)
    assert scalars(accumulator, "val_loss") == [(5, pytest.approx(0.3))]
    assert scalars(accumulator, "hp_metric") == [(0, pytest.approx(0.7))]
    assert yaml.safe_load(open(os.path.join(logger.log_dir, "hparams.yaml"))) == {"lr": 0.1, "wd": 0.0}


def test_prefix_sub_dir_and_writer_kwargs(tmp_path):
    logger = TensorBoardLogger(tmp_path, name="exp", prefix="train", sub_dir="sub", filename_suffix=".mine")
    assert logger.log_dir == os.path.join(tmp_path, "exp", "version_0", "sub")
    logger.log_metrics({"loss": 1.0}, step=1)
    assert isinstance(logger.experiment, torch.utils.tensorboard.SummaryWriter)
    assert logger.experiment.filename_suffix == ".mine"
    logger.finalize("success")
    files = os.listdir(logger.log_dir)
    assert files and all(name.endswith(".mine") for name in files if "tfevents" in name)
    assert scalars(load(logger.log_dir), "train-loss") == [(1, 1.0)]


def test_sub_dir_expands_user_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TB_SUB", "expanded")
    logger = TensorBoardLogger(tmp_path, name="exp", version=1, sub_dir="$TB_SUB")
    assert logger.log_dir == os.path.join(tmp_path, "exp", "version_1", "expanded")
    assert logger.sub_dir == "$TB_SUB"


def test_max_queue_sets_the_write_batch(tmp_path):
    logger = TensorBoardLogger(tmp_path, max_queue=3)
    logger.log_metrics({"a": 1.0}, step=0)
    logger.log_metrics({"a": 2.0}, step=1)
    assert "a" not in load(logger.log_dir).Tags()["scalars"]
    logger.log_metrics({"a": 3.0}, step=2)
    assert scalars(load(logger.log_dir), "a") == [(0, 1.0), (1, 2.0), (2, 3.0)]


def test_dict_values_and_user_writer_calls(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"group": {"x": 1.0, "y": torch.tensor(2.0)}, "z": 3}, step=4)
    logger.experiment.add_text("note", "hello", 0)
    logger.finalize("success")
    assert scalars(load(logger.log_dir), "z") == [(4, 3.0)]
    assert scalars(load(os.path.join(logger.log_dir, "group_x")), "group") == [(4, 1.0)]
    assert scalars(load(os.path.join(logger.log_dir, "group_y")), "group") == [(4, 2.0)]
    assert "note/text_summary" in load(logger.log_dir).Tags()["tensors"]


def test_non_scalar_values_are_rejected(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    with pytest.raises(ValueError, match="You tried to log 'name' = 'abc'"):
        logger.log_metrics({"name": "abc"}, step=0)
    with pytest.raises(ValueError, match="tensor of shape"):
        logger.log_metrics({"t": torch.ones(3)}, step=0)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)
        self.example_input_array = torch.zeros(3, 4)

    def forward(self, x):
        return self.layer(x).relu()


def test_log_graph_uses_example_input_array(tmp_path):
    logger = TensorBoardLogger(tmp_path, log_graph=True)
    logger.log_graph(Net())
    logger.finalize("success")
    accumulator = load(logger.log_dir)
    assert accumulator.Tags()["graph"] is True
    assert any("Linear" in node.op or "linear" in node.name.lower() for node in accumulator.Graph().node)


def test_log_graph_is_off_by_default_and_warns_without_input(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    logger.log_graph(Net())
    assert logger._experiment is None  # nothing traced, no writer created
    logger = TensorBoardLogger(tmp_path, log_graph=True)
    with pytest.warns(UserWarning, match="example_input_array"):
        logger.log_graph(torch.nn.Linear(2, 2))
    with pytest.warns(UserWarning, match="has type list"):
        logger.log_graph(torch.nn.Linear(2, 2), [torch.zeros(2)])


def test_missing_backends_name_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(tb_module, "_TENSORBOARD_AVAILABLE", False)
    monkeypatch.setattr(tb_module, "_TENSORBOARDX_AVAILABLE", False)
    with pytest.raises(MissingExtraError, match=r"pip install 'lit-loggers\[tensorboard\]'") as info:
        TensorBoardLogger(tmp_path)
    assert (info.value.feature, info.value.extra) == ("TensorBoardLogger", "tensorboard")


def test_tensorboardx_writer_when_tensorboard_is_missing(monkeypatch, tmp_path):
    tensorboardX = pytest.importorskip("tensorboardX")
    monkeypatch.setattr(tb_module, "_TENSORBOARD_AVAILABLE", False)
    with pytest.warns(UserWarning, match="graph will not be logged"):
        logger = TensorBoardLogger(tmp_path, log_graph=True)
    logger.log_hyperparams({"lr": 0.5, "name": "x"})
    for step in range(3):
        logger.log_metrics({"loss": float(step)}, step=step)
    assert isinstance(logger.experiment, tensorboardX.SummaryWriter)
    logger.finalize("success")
    accumulator = load(logger.log_dir)
    assert scalars(accumulator, "loss") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert logged_hparams(accumulator) == {"lr": 0.5, "name": "x"}


def test_finalize_then_log_again_opens_a_new_file(tmp_path):
    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"a": 1.0}, step=0)
    logger.finalize("success")
    logger.log_metrics({"a": 2.0}, step=1)
    logger.finalize("success")
    assert scalars(load(logger.log_dir), "a") == [(0, 1.0), (1, 2.0)]


def test_logger_pickles_without_its_writers(tmp_path):
    import pickle

    logger = TensorBoardLogger(tmp_path)
    logger.log_metrics({"a": 1.0}, step=0)
    _ = logger.experiment
    clone = pickle.loads(pickle.dumps(logger))
    assert clone._experiment is None and clone._events is None
    assert clone.log_dir == logger.log_dir
    logger.finalize("success")


_CRASHING_SCRIPT = """
import sys
from lit_loggers import TensorBoardLogger
logger = TensorBoardLogger(sys.argv[1])
for step in range(7):
    logger.log_metrics({"loss": float(step)}, step=step)
raise RuntimeError("training crashed")
"""


def test_events_buffered_when_training_raises_are_written_at_exit(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASHING_SCRIPT), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1 and "training crashed" in result.stderr
    log_dir = os.path.join(tmp_path, "lightning_logs", "version_0")
    assert [s for s, _ in scalars(load(log_dir), "loss")] == list(range(7))


# ----------------------------------------------------------------------------------------------------------------
# the event-file format


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=700), min_size=1, max_size=20))
def test_crc_matches_tensorboards_reference(messages):
    expected = [tb_masked_crc32c(message) for message in messages]
    assert masked_crc32c_batch(messages) == expected
    assert [masked_crc32c(message) for message in messages] == expected


@settings(max_examples=100, deadline=None)
@given(
    step=st.integers(-(2**63), 2**63 - 1),
    wall_time=st.floats(0, 2e9),
    values=st.lists(
        st.tuples(st.text(min_size=1, max_size=30), st.floats(allow_nan=False, width=32)),
        min_size=1,
        max_size=5,
    ),
)
def test_hand_encoded_events_parse_as_tensorboard_events(step, wall_time, values):
    event = Event.FromString(encode_scalar_event(values, step, wall_time))
    assert event.step == step
    assert event.wall_time == wall_time
    assert [(v.tag, v.simple_value) for v in event.summary.value] == values


def test_record_framing(tmp_path):
    records = [encode_scalar_event([("a", 1.0)], i, 1.0) for i in range(3)]
    blob = frame_records(records)
    offset = 0
    for record in records:
        (length,) = struct.unpack_from("<Q", blob, offset)
        assert length == len(record)
        assert struct.unpack_from("<I", blob, offset + 8)[0] == tb_masked_crc32c(blob[offset : offset + 8])
        assert blob[offset + 12 : offset + 12 + length] == record
        assert struct.unpack_from("<I", blob, offset + 12 + length)[0] == tb_masked_crc32c(record)
        offset += 16 + length
    assert offset == len(blob)
