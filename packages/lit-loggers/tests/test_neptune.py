"""NeptuneLogger with the real neptune client in offline mode, read back from the operations it stores."""

from __future__ import annotations

import glob
import json
import os

import pytest
import torch

pytest.importorskip("neptune")

from lit_loggers import NeptuneLogger  # noqa: E402

_QUIET = {
    "capture_stdout": False,
    "capture_stderr": False,
    "capture_hardware_metrics": False,
    "capture_traceback": False,
    "source_files": [],
    "git_ref": False,
}


def read_operations(root: str) -> list[dict]:
    [run_dir] = glob.glob(os.path.join(root, ".neptune", "offline", "run__*"))
    operations = []
    for path in sorted(glob.glob(os.path.join(run_dir, "data-*.log"))):
        with open(path) as file:
            operations += [json.loads(line)["obj"] for line in file if line.strip()]
    return operations


def assigned(operations: list[dict]) -> dict[str, object]:
    return {"/".join(op["path"]): op["value"] for op in operations if op["type"].startswith("Assign")}


def series(operations: list[dict], path: str) -> list[tuple[float, float]]:
    out = []
    for op in operations:
        if op["type"] == "LogFloats" and "/".join(op["path"]) == path:
            out += [(v["step"], v["value"]) for v in op["values"]]
    return out


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    return tmp_path


def test_offline_run_hyperparams_metrics_status(in_tmp):
    logger = NeptuneLogger(project="ws/proj", name="first", mode="offline", **_QUIET)
    assert logger.save_dir == os.path.join(str(in_tmp), ".neptune")
    logger.log_hyperparams({"lr": 0.1, "net": {"layers": 2, "act": torch.nn.ReLU}, "tags": (1, 2)})
    for step in range(3):
        logger.log_metrics({"loss": torch.tensor(1.0 / (step + 1)), "epoch": 0}, step=step)
    assert logger.version == "OFFLINE" and logger.name == "first"
    logger.log_model_summary(torch.nn.Linear(2, 1))
    logger.finalize("success")
    logger.run.stop()

    operations = read_operations(str(in_tmp))
    values = assigned(operations)
    assert values["sys/name"] == "first"
    assert values["training/hyperparams/lr"] == 0.1
    assert values["training/hyperparams/net/layers"] == 2
    assert values["training/hyperparams/net/act"] == "<class 'torch.nn.modules.activation.ReLU'>"
    assert values["training/hyperparams/tags"] == "(1, 2)"
    assert values["training/status"] == "success"
    assert values["source_code/integrations/lit-loggers"]
    assert series(operations, "training/loss") == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert series(operations, "training/epoch") == [(0, 0.0), (1, 0.0), (2, 0.0)]
    [summary] = [op for op in operations if op["path"] == ["training", "model", "summary"]]
    assert (summary["type"], summary["ext"]) == ("UploadFile", "txt")
    [stored] = glob.glob(
        os.path.join(str(in_tmp), ".neptune", "offline", "run__*", "**", summary["tmp_file_name"])
    )
    assert open(stored).read() == "Linear(in_features=2, out_features=1, bias=True)"


class _Ckpt:
    def __init__(self, dirpath):
        self.dirpath = str(dirpath)
        self.best_k_models = {}
        self.best_model_path = ""
        self.best_model_score = None
        self.last_model_path = ""

    def save(self, name, score):
        path = os.path.join(self.dirpath, name)
        with open(path, "wb") as file:
            file.write(b"weights")
        self.best_k_models = {path: torch.tensor(score)}
        self.best_model_path = path
        self.best_model_score = torch.tensor(score)


def test_checkpoints_are_uploaded_and_stale_ones_removed(in_tmp):
    logger = NeptuneLogger(project="ws/proj", mode="offline", prefix="fit", **_QUIET)
    callback = _Ckpt(in_tmp)
    callback.save("epoch=0.ckpt", 0.5)
    logger.after_save_checkpoint(callback)
    callback.save("epoch=1.ckpt", 0.25)
    logger.after_save_checkpoint(callback)
    logger.run.stop()
    operations = read_operations(str(in_tmp))
    uploads = [
        "/".join(op["path"]) for op in operations if op["type"] == "UploadFile" and op["path"][0] == "fit"
    ]
    assert uploads == ["fit/model/checkpoints/epoch=0", "fit/model/checkpoints/epoch=1"]
    deleted = ["/".join(op["path"]) for op in operations if op["type"] == "DeleteAttribute"]
    assert deleted == ["fit/model/checkpoints/epoch=0"]
    values = assigned(operations)
    assert values["fit/model/best_model_path"] == os.path.join(str(in_tmp), "epoch=1.ckpt")
    assert values["fit/model/best_model_score"] == 0.25


def test_existing_run_is_used_and_conflicting_arguments_rejected(in_tmp):
    import neptune

    run = neptune.init_run(project="ws/proj", mode="offline", **_QUIET)
    with pytest.raises(ValueError, match=r"can't pass run-creation arguments too; got \['project'\]"):
        NeptuneLogger(run=run, project="ws/other")
    logger = NeptuneLogger(run=run)
    assert logger.experiment is run and logger.version == "OFFLINE"
    logger.log_metrics({"x": 1.0}, step=0)
    run.stop()
    assert series(read_operations(str(in_tmp)), "training/x") == [(0, 1.0)]
