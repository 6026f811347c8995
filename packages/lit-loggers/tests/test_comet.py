"""CometLogger with the real comet_ml package as an OfflineExperiment, read back from its archive."""

from __future__ import annotations

import glob
import json
import os
import zipfile

import pytest
import torch

# no network in tests: comet_ml's error tracking (enabled when comet_ml is imported) would contact its service
os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
pytest.importorskip("comet_ml")

from lit_loggers import CometLogger  # noqa: E402

_QUIET = {
    "log_code": False,
    "log_git_metadata": False,
    "log_git_patch": False,
    "log_env_details": False,
    "log_env_gpu": False,
    "log_env_host": False,
    "log_env_cpu": False,
    "auto_output_logging": False,
    "display_summary_level": 0,
}


def read_archive(directory: str) -> tuple[dict, list[dict]]:
    [path] = glob.glob(os.path.join(directory, "*.zip"))
    with zipfile.ZipFile(path) as archive:
        experiment = json.loads(archive.read("experiment.json"))
        messages = [json.loads(line) for line in archive.read("messages.json").decode().splitlines()]
    return experiment, messages


def test_offline_experiment_params_metrics_epoch_and_graph(tmp_path):
    logger = CometLogger(
        online=False, project="lit-proj", offline_directory=str(tmp_path), prefix="train", **_QUIET
    )
    assert logger.save_dir == str(tmp_path)
    assert logger.name == "lit-proj"
    key = logger.version
    assert isinstance(key, str) and len(key) == 32
    logger.log_hyperparams({"lr": 0.1, "net": {"layers": 2}})
    logger.log_metrics({"loss": torch.tensor(0.5), "epoch": 1}, step=3)
    logger.log_metrics({"loss": 0.25}, step=4)
    logger.log_graph(torch.nn.Linear(2, 1))
    logger.finalize("success")
    logger.experiment.end()

    experiment, messages = read_archive(str(tmp_path))
    assert experiment["offline_id"] == key
    assert experiment["project_name"] == "lit-proj"
    params = {
        m["payload"]["param"]["paramName"]: m["payload"]["param"]["paramValue"]
        for m in messages
        if m["type"] == "parameter_msg" and m["payload"]["param"].get("source") == "manual"
    }
    assert params == {"lr": 0.1, "net|layers": 2}
    metrics = [m["payload"]["metric"] for m in messages if m["type"] == "metric_msg"]
    loss = [(m["step"], m["epoch"], m["metricValue"]) for m in metrics if m["metricName"] == "train_loss"]
    assert loss == [(3, 1, 0.5), (4, 1, 0.25)]  # comet keeps the current epoch
    assert not any(m["metricName"].endswith("epoch") for m in metrics)  # the epoch is not a metric
    others = {m["payload"]["key"]: m["payload"]["value"] for m in messages if m["type"] == "log_other"}
    assert others["Created from"] == "pytorch-lightning"
    graphs = [m["payload"]["graph"] for m in messages if m["type"] == "graph"]
    assert graphs and "Linear(in_features=2, out_features=1" in graphs[0]


def test_old_argument_names_are_accepted(tmp_path, caplog):
    logger = CometLogger(
        offline=True, project_name="old", save_dir=str(tmp_path), experiment_name="named", **_QUIET
    )
    assert logger.name == "old"
    assert logger.save_dir == str(tmp_path)
    assert "`project_name` is deprecated" in caplog.text
    logger.experiment.end()
    experiment, _ = read_archive(str(tmp_path))
    assert experiment["project_name"] == "old"


def test_invalid_mode_is_rejected():
    with pytest.raises(
        ValueError, match="`mode` must be None, 'get_or_create', 'get' or 'create', got 'append'"
    ):
        CometLogger(online=False, mode="append")  # type: ignore[arg-type]
