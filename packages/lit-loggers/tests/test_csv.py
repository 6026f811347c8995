"""CSVLogger: folder scheme, Lightning-identical metrics.csv, hparams.yaml, flushing and failure safety."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from argparse import Namespace

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lit_loggers import CSVLogger, ExperimentWriter


def read_rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_folder_scheme_and_versions(tmp_path):
    logger = CSVLogger(tmp_path, name="exp")
    assert logger.version == 0
    assert logger.save_dir == str(tmp_path)
    assert logger.root_dir == os.path.join(tmp_path, "exp")
    assert logger.log_dir == os.path.join(tmp_path, "exp", "version_0")
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    assert os.path.isfile(os.path.join(logger.log_dir, "metrics.csv"))
    # the next logger picks the next free version; gaps and non-numeric folders are handled
    os.makedirs(tmp_path / "exp" / "version_7")
    os.makedirs(tmp_path / "exp" / "version_x")
    (tmp_path / "exp" / "version_9").write_text("a file, not a version")
    assert CSVLogger(tmp_path, name="exp").version == 8
    assert CSVLogger(tmp_path, name="exp", version=3).log_dir == os.path.join(tmp_path, "exp", "version_3")
    assert CSVLogger(tmp_path, name="exp", version="custom").log_dir == os.path.join(
        tmp_path, "exp", "custom"
    )
    unnamed = CSVLogger(tmp_path, name=None)
    assert unnamed.name == ""
    assert unnamed.log_dir == os.path.join(tmp_path, "version_0")


def test_metrics_csv_matches_lightning_byte_for_byte(tmp_path):
    logger = CSVLogger(tmp_path, name="exp", flush_logs_every_n_steps=2, prefix="train")
    logger.log_metrics({"loss": 1.0, "epoch": 0}, step=0)
    logger.log_metrics({"loss": torch.tensor(0.5), "epoch": 0}, step=1)
    logger.log_metrics({"val_acc": 0.25, "epoch": 0}, step=1)
    logger.log_metrics({"loss": 0.125, "epoch": 1, "lr": 3}, step=2)
    logger.finalize("success")
    # written by lightning.pytorch.loggers.CSVLogger 2.6.5 for the same calls
    expected = (
        "step,train-epoch,train-loss,train-lr,train-val_acc\n"
        "0,0,1.0,,\n1,0,0.5,,\n1,0,,,0.25\n2,1,0.125,3,\n"
    )
    with open(os.path.join(logger.log_dir, "metrics.csv"), newline="") as file:
        assert file.read().replace("\r\n", "\n") == expected


def test_rows_are_buffered_until_the_flush_step(tmp_path):
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=3)
    path = os.path.join(logger.log_dir, "metrics.csv")
    logger.log_metrics({"a": 1}, step=0)
    logger.log_metrics({"a": 2}, step=1)
    assert not os.path.exists(path)
    logger.log_metrics({"a": 3}, step=2)  # (2 + 1) % 3 == 0
    assert [r["a"] for r in read_rows(path)] == ["1", "2", "3"]
    logger.log_metrics({"a": 4}, step=3)
    assert len(read_rows(path)) == 3
    logger.save()
    assert [r["step"] for r in read_rows(path)] == ["0", "1", "2", "3"]


def test_step_defaults_to_the_number_of_rows_logged(tmp_path):
    logger = CSVLogger(tmp_path, flush_logs_every_n_steps=1)
    for value in (1.0, 2.0, 3.0):
        logger.log_metrics({"a": value})
    logger.finalize("success")
    assert [r["step"] for r in read_rows(os.path.join(logger.log_dir, "metrics.csv"))] == ["0", "1", "2"]


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "c", "loss", "z"]), st.integers(-5, 5), min_size=1, max_size=4
        ),
        min_size=1,
        max_size=12,
    ),
    flush_every=st.integers(1, 5),
    save_points=st.sets(st.integers(0, 11)),
)
def test_new_columns_never_lose_rows(tmp_path_factory, rows, flush_every, save_points):
    logger = CSVLogger(tmp_path_factory.mktemp("csv"), flush_logs_every_n_steps=flush_every)
    for step, row in enumerate(rows):
        logger.log_metrics(row, step=step)
        if step in save_points:
            logger.save()
    logger.finalize("success")
    path = os.path.join(logger.log_dir, "metrics.csv")
    with open(path, newline="") as file:
        header = next(csv.reader(file))
    assert header == sorted({key for row in rows for key in row} | {"step"})
    read = read_rows(path)
    assert len(read) == len(rows)
    for step, (row, got) in enumerate(zip(rows, read)):
        assert got == {
            key: str(row[key]) if key in row else ("" if key != "step" else str(step)) for key in header
        }


def test_hparams_yaml_is_merged_and_readable(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_hyperparams(Namespace(lr=0.1, net={"layers": (2, 3)}, act=torch.nn.ReLU))
    logger.log_hyperparams({"batch_size": 4})
    path = os.path.join(logger.log_dir, "hparams.yaml")
    text = open(path).read()
    assert "!!python" not in text
    assert yaml.safe_load(text) == {
        "act": "torch.nn.modules.activation.ReLU",
        "batch_size": 4,
        "lr": 0.1,
        "net": {"layers": [2, 3]},
    }
    assert logger.experiment.hparams["batch_size"] == 4


def test_existing_log_dir_warns_and_replaces_the_metrics_file(tmp_path):
    first = CSVLogger(tmp_path, version=0)
    first.log_metrics({"old": 1.0}, step=0)
    first.finalize("success")
    second = CSVLogger(tmp_path, version=0)
    with pytest.warns(UserWarning, match="exists and is not empty"):
        second.log_metrics({"new": 2.0}, step=0)
    second.finalize("success")
    assert read_rows(os.path.join(second.log_dir, "metrics.csv")) == [{"new": "2.0", "step": "0"}]


def test_finalize_without_experiment_creates_nothing(tmp_path):
    logger = CSVLogger(tmp_path / "logs")
    logger.finalize("success")
    assert not (tmp_path / "logs").exists()


def test_logging_after_finalize_appends(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_metrics({"a": 1}, step=0)
    logger.finalize("success")
    logger.log_metrics({"a": 2, "b": 5}, step=1)
    logger.finalize("success")
    assert read_rows(os.path.join(logger.log_dir, "metrics.csv")) == [
        {"a": "1", "b": "", "step": "0"},
        {"a": "2", "b": "5", "step": "1"},
    ]


def test_bad_values_and_arguments_are_rejected(tmp_path):
    logger = CSVLogger(tmp_path)
    with pytest.raises(ValueError, match=r"'x' is a tensor of shape \(2,\)"):
        logger.log_metrics({"x": torch.ones(2)}, step=0)
    with pytest.raises(ValueError, match="must be >= 1, got 0"):
        CSVLogger(tmp_path, flush_logs_every_n_steps=0)
    with pytest.raises(TypeError, match="positive int, got 2.5"):
        CSVLogger(tmp_path, flush_logs_every_n_steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`version` must be None"):
        CSVLogger(tmp_path, version=-1)


def test_values_are_converted_without_keeping_graphs(tmp_path):
    import numpy as np

    weight = torch.ones(1, requires_grad=True)
    logger = CSVLogger(tmp_path)
    logger.log_metrics({"loss": (weight * 2).sum(), "np": np.float32(0.5), "flag": True, "text": "x"}, step=0)
    stored = logger.experiment.metrics[0]
    assert stored == {"loss": 2.0, "np": 0.5, "flag": True, "text": "x", "step": 0}
    assert all(not isinstance(v, torch.Tensor) for v in stored.values())


def test_fsspec_memory_filesystem():
    fsspec = pytest.importorskip("fsspec")
    logger = CSVLogger("memory://csvlogs", name="exp")
    logger.log_hyperparams({"lr": 0.5})
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    logger.log_metrics({"b": 2.0}, step=1)
    logger.finalize("success")
    fs = fsspec.filesystem("memory")
    with fs.open("memory://csvlogs/exp/version_0/metrics.csv", "r") as file:
        assert file.read().replace("\r\n", "\n") == "a,b,step\n1.0,,0\n,2.0,1\n"
    with fs.open("memory://csvlogs/exp/version_0/hparams.yaml", "r") as file:
        assert yaml.safe_load(file.read()) == {"lr": 0.5}
    assert CSVLogger("memory://csvlogs", name="exp").version == 1


def test_experiment_writer_can_be_pickled_mid_run(tmp_path):
    import pickle

    writer = ExperimentWriter(str(tmp_path / "run"))
    writer.log_metrics({"a": 1}, 0)
    writer.save()
    clone = pickle.loads(pickle.dumps(writer))
    clone.log_metrics({"a": 2}, 1)
    clone.save()
    assert [r["a"] for r in read_rows(writer.metrics_file_path)] == ["1", "2"]


_CRASHING_SCRIPT = """
import sys
from lit_loggers import CSVLogger
logger = CSVLogger(sys.argv[1], flush_logs_every_n_steps=1000)
for step in range(5):
    logger.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
raise RuntimeError("training crashed")
"""


def test_rows_buffered_when_training_raises_are_written_at_exit(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CRASHING_SCRIPT), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1 and "training crashed" in result.stderr
    rows = read_rows(tmp_path / "lightning_logs" / "version_0" / "metrics.csv")
    assert [r["step"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert float(rows[-1]["loss"]) == pytest.approx(0.2)
