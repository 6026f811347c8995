"""MLFlowLogger against real local MLflow stores (folder and SQLite), read back with MlflowClient."""

from __future__ import annotations

import os
import warnings
from argparse import Namespace

import pytest
import torch
import yaml

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

import lit_loggers._mlflow as mlflow_module  # noqa: E402
from lit_loggers import MLFlowLogger  # noqa: E402


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory):
    """One SQLite store for the module: creating its schema takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(params=["file", "sqlite"])
def store(request, tmp_path, monkeypatch, sqlite_uri):
    """A tracking URI of each kind; artifacts always go under ``tmp_path``."""
    monkeypatch.chdir(tmp_path)  # the SQLite store puts default artifacts under ./mlruns
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if request.param == "file":
        return f"file:{tmp_path / 'mlruns'}"
    return sqlite_uri


def metric_history(client, run_id, key):
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def test_run_params_metrics_and_status(store):
    logger = MLFlowLogger(experiment_name="exp", run_name="first", tracking_uri=store, tags={"team": "lit"})
    logger.log_hyperparams(Namespace(lr=0.1, net={"layers": 2, "act": torch.nn.ReLU}, long="x" * 7000))
    for step in range(3):
        logger.log_metrics({"loss": torch.tensor(1.0 / (step + 1)), "epoch": 0}, step=step)
    logger.finalize("success")

    client = MlflowClient(store)
    run = client.get_run(logger.run_id)
    assert logger.version == run.info.run_id
    assert logger.name == run.info.experiment_id == logger.experiment_id
    assert client.get_experiment(logger.experiment_id).name == "exp"
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.runName"] == "first"
    assert run.data.tags["team"] == "lit"
    params = run.data.params
    assert params["lr"] == "0.1"
    assert params["net/layers"] == "2"
    assert params["net/act"] == "torch.nn.modules.activation.ReLU"
    assert 250 <= len(params["long"]) < 7000  # truncated to MLflow's limit
    assert metric_history(client, logger.run_id, "loss") == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert metric_history(client, logger.run_id, "epoch") == [(0, 0.0), (1, 0.0), (2, 0.0)]


def test_failed_status_prefix_and_string_metrics(store):
    logger = MLFlowLogger(experiment_name="exp", tracking_uri=store, prefix="train")
    logger.log_metrics({"loss": 2.0, "note": "skip me"}, step=7)
    logger.finalize("failed")
    client = MlflowClient(store)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FAILED"
    assert set(run.data.metrics) == {"train-loss"}
    assert metric_history(client, logger.run_id, "train-loss") == [(7, 2.0)]


def test_metric_names_are_sanitised_with_one_warning_per_name(store):
    logger = MLFlowLogger(tracking_uri=store)
    with pytest.warns(RuntimeWarning, match="Replacing 'acc@1' with 'acc1'"):
        logger.log_metrics({"acc@1": 0.5, "val/loss": 1.0, "a:b c-d.e": 2.0, "val//x/": 3.0}, step=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logger.log_metrics({"acc@1": 0.75}, step=1)  # same name: no new warning
    logger.finalize("success")
    client = MlflowClient(store)
    assert set(client.get_run(logger.run_id).data.metrics) == {"acc1", "val/loss", "a:b c-d.e", "val/x"}
    assert metric_history(client, logger.run_id, "acc1") == [(0, 0.5), (1, 0.75)]


def test_sanitize_name_rules():
    assert mlflow_module._sanitize_name("ok/name_1.2 -x") == "ok/name_1.2 -x"
    assert mlflow_module._sanitize_name("bad#$chars") == "badchars"
    assert mlflow_module._sanitize_name("/lead//double/./up/../") == "lead/double/up"
    assert mlflow_module._sanitize_name("@@") == "_"


def test_resume_run_by_id_and_reuse_experiment_by_name(store):
    first = MLFlowLogger(experiment_name="shared", tracking_uri=store)
    first.log_metrics({"loss": 1.0}, step=0)
    first.finalize("success")
    resumed = MLFlowLogger(tracking_uri=store, run_id=first.run_id)
    resumed.log_metrics({"loss": 0.5}, step=1)
    resumed.finalize("success")
    assert resumed.experiment_id == first.experiment_id
    client = MlflowClient(store)
    assert metric_history(client, first.run_id, "loss") == [(0, 1.0), (1, 0.5)]
    second = MLFlowLogger(experiment_name="shared", tracking_uri=store)
    second.log_metrics({"loss": 2.0}, step=0)
    assert second.experiment_id == first.experiment_id
    assert second.run_id != first.run_id


@pytest.mark.parametrize("synchronous", [True, False])
def test_synchronous_flag(store, synchronous, monkeypatch):
    # background batches are held for 5 s before they are written: only a flush writes them sooner
    monkeypatch.setenv("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS", "5")
    logger = MLFlowLogger(tracking_uri=store, synchronous=synchronous)
    client = logger.experiment
    seen, read_in_finalize = [], []
    log_batch, get_run = client.log_batch, client.get_run

    def spy_log_batch(*args, **kwargs):
        seen.append(kwargs.get("synchronous"))
        return log_batch(*args, **kwargs)

    def spy_get_run(*args, **kwargs):
        run = get_run(*args, **kwargs)
        read_in_finalize.append(dict(run.data.metrics))
        return run

    monkeypatch.setattr(client, "log_batch", spy_log_batch)
    logger.log_hyperparams({"sync": synchronous})
    for step in range(3):
        logger.log_metrics({"m": float(step)}, step=step)
    monkeypatch.setattr(client, "get_run", spy_get_run)
    logger.finalize("success")
    assert seen == [synchronous] * 4
    # finalize writes pending background batches before it reads the run (a folder store can otherwise read a
    # metric file that a background thread has created but not yet written)
    assert all(metrics == {"m": 2.0} for metrics in read_in_finalize)
    reader = MlflowClient(store)
    run = reader.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"sync": str(synchronous)}
    assert run.data.metrics == {"m": 2.0}
    assert metric_history(reader, logger.run_id, "m") == [(0, 0.0), (1, 1.0), (2, 2.0)]


def test_save_dir_defaults_and_env_tracking_uri(tmp_path, monkeypatch, sqlite_uri):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    logger = MLFlowLogger(save_dir=str(tmp_path / "runs"))
    assert logger.save_dir == str(tmp_path / "runs")
    logger.log_metrics({"a": 1.0}, step=0)
    logger.finalize("success")
    assert (tmp_path / "runs").is_dir()
    assert MLFlowLogger(tracking_uri=f"file://{tmp_path}/x").save_dir == f"{tmp_path}/x"
    uri = sqlite_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    env_logger = MLFlowLogger()
    assert env_logger.save_dir is None
    env_logger.log_metrics({"a": 1.0}, step=0)
    assert MlflowClient(uri).get_run(env_logger.run_id).data.metrics == {"a": 1.0}


def test_artifact_location(tmp_path, monkeypatch, sqlite_uri):
    monkeypatch.chdir(tmp_path)
    uri = sqlite_uri
    location = (tmp_path / "artifacts").as_uri()
    logger = MLFlowLogger(experiment_name="with_artifacts", tracking_uri=uri, artifact_location=location)
    assert MlflowClient(uri).get_experiment(logger.experiment_id).artifact_location == location


class _Ckpt:
    """The attributes of a ModelCheckpoint callback that loggers read."""

    def __init__(self, dirpath, save_top_k=1):
        self.dirpath = str(dirpath)
        self.save_top_k = save_top_k
        self.monitor = "val_loss"
        self.mode = "min"
        self.save_last = True
        self.save_weights_only = False
        self.best_k_models = {}
        self.best_model_path = ""
        self.best_model_score = None
        self.last_model_path = ""
        self.current_score = None

    def save(self, name, score):
        path = os.path.join(self.dirpath, name)
        with open(path, "wb") as file:
            file.write(name.encode())
        self.best_k_models = {path: torch.tensor(score)}
        self.best_model_path = path
        self.best_model_score = torch.tensor(score)
        return path


def _artifact_paths(client, run_id, path=None):
    out = []
    for info in client.list_artifacts(run_id, path):
        out.extend(_artifact_paths(client, run_id, info.path) if info.is_dir else [info.path])
    return sorted(out)


@pytest.mark.parametrize("log_model", ["all", True])
def test_log_model_uploads_checkpoints(store, tmp_path, log_model):
    logger = MLFlowLogger(tracking_uri=store, log_model=log_model)
    callback = _Ckpt(tmp_path)
    callback.save("epoch=0.ckpt", 0.5)
    logger.after_save_checkpoint(callback)
    client = MlflowClient(store)
    expected_first = ["epoch=0/aliases.txt", "epoch=0/epoch=0.ckpt", "epoch=0/metadata.yaml"]
    if log_model == "all":
        assert _artifact_paths(client, logger.run_id) == expected_first
    else:
        assert _artifact_paths(client, logger.run_id) == []
    callback.save("epoch=1.ckpt", 0.25)
    logger.after_save_checkpoint(callback)
    logger.finalize("success")
    paths = _artifact_paths(client, logger.run_id)
    expected_second = ["epoch=1/aliases.txt", "epoch=1/epoch=1.ckpt", "epoch=1/metadata.yaml"]
    assert paths == (expected_first + expected_second if log_model == "all" else expected_second)
    local = client.download_artifacts(logger.run_id, "epoch=1", str(tmp_path / "dl"))
    metadata = yaml.safe_load(open(os.path.join(local, "metadata.yaml")))
    assert metadata["score"] == 0.25
    assert metadata["original_filename"] == "epoch=1.ckpt"
    assert metadata["Checkpoint"]["monitor"] == "val_loss" and metadata["Checkpoint"]["save_top_k"] == 1
    assert open(os.path.join(local, "aliases.txt")).read() == "['latest', 'best']"
    assert open(os.path.join(local, "epoch=1.ckpt"), "rb").read() == b"epoch=1.ckpt"


def test_log_model_true_with_save_top_k_minus_one_uploads_immediately(store, tmp_path):
    logger = MLFlowLogger(tracking_uri=store, log_model=True)
    callback = _Ckpt(tmp_path, save_top_k=-1)
    callback.save("a.ckpt", 1.0)
    logger.after_save_checkpoint(callback)
    assert _artifact_paths(MlflowClient(store), logger.run_id) == [
        "a/a.ckpt",
        "a/aliases.txt",
        "a/metadata.yaml",
    ]


def test_invalid_log_model_is_rejected(store):
    with pytest.raises(ValueError, match="`log_model` must be True, False or 'all', got 'some'"):
        MLFlowLogger(tracking_uri=store, log_model="some")  # type: ignore[arg-type]


def test_nothing_is_created_before_first_use_and_finalize_is_a_no_op(store):
    logger = MLFlowLogger(experiment_name="lazy", tracking_uri=store)
    logger.finalize("success")
    assert MlflowClient(store).get_experiment_by_name("lazy") is None
