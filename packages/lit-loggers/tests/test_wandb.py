"""WandbLogger with the real wandb package in offline mode, read back from the run folder it writes."""

from __future__ import annotations

import glob
import json
import os
import struct
import time
import wave

import pytest
import torch

from lit_hooks import MisconfigurationException

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

from lit_loggers import WandbLogger  # noqa: E402

_BLOCK = 32768  # wandb's run file is a LevelDB-style log: 32 KiB blocks of (crc, length, type) framed chunks


def _parse_run_file(run_dir: str) -> list:
    """Parse the complete records written so far to the ``run-<id>.wandb`` file in ``run_dir``."""
    paths = glob.glob(os.path.join(run_dir, "run-*.wandb"))
    assert len(paths) <= 1, paths
    if not paths:
        return []
    data = open(paths[0], "rb").read()
    if len(data) < 7:
        return []
    assert data[:4] == b":W&B"
    pos, chunks, pending = 7, [], b""
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if pos + 7 + length > len(data):
            break  # a chunk still being written
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            chunks.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            chunks.append(pending + chunk)
    records = []
    for chunk in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        records.append(record)
    return records


def read_run_file(run_dir: str, timeout: float = 60.0) -> list:
    """Every record of the finished run in ``run_dir``, once wandb has written all of them.

    ``run.finish()`` returns after the run's exit was acknowledged, but it only *informs* wandb's service process
    that the run is over: the service writes out its buffered run file and closes it afterwards (under load the
    file can still hold just its header). So wait until the run's final ``exit`` record is in the file: every
    record logged before ``finish()`` precedes it.
    """
    deadline = time.monotonic() + timeout
    while True:
        records = _parse_run_file(run_dir)
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            return records
        if time.monotonic() > deadline:
            kinds = [r.WhichOneof("record_type") for r in records]
            raise AssertionError(f"No exit record in the run file of {run_dir} after {timeout}s: {kinds}")
        time.sleep(0.05)


def of_type(records, kind):
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def history_rows(records):
    rows = []
    for history in of_type(records, "history"):
        row = {}
        for item in history.item:
            key = "/".join(item.nested_key) if item.nested_key else item.key
            row[key] = json.loads(item.value_json)
        rows.append(row)
    return rows


def config_updates(records):
    out = {}
    for config in of_type(records, "config"):
        for item in config.update:
            out[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return out


@pytest.fixture(autouse=True)
def offline_env(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    if wandb.run is not None:
        wandb.run.finish()


def run_dir_of(logger) -> str:
    return os.path.dirname(logger.experiment.dir)


def test_offline_run_config_metrics_and_axes(tmp_path):
    logger = WandbLogger(name="first", save_dir=tmp_path, offline=True, project="proj", prefix="train")
    assert (logger.name, logger.save_dir, logger.version) == ("proj", str(tmp_path), None)
    logger.log_hyperparams(
        {
            "lr": 0.1,
            "cls": torch.nn.ReLU,
            "factory": lambda: 3,
            "nested": {"opt": torch.optim.Adam, "wd": 0.0},
        }
    )
    logger.log_metrics({"loss": torch.tensor(0.5), "acc": 1}, step=3)
    logger.log_metrics({"loss": 0.25}, step=4)
    run_dir = run_dir_of(logger)
    assert os.path.basename(run_dir).startswith("offline-run-")
    assert logger.version == logger.experiment.id
    logger.finalize("success")
    logger.experiment.finish()

    records = read_run_file(run_dir)
    [run] = of_type(records, "run")
    assert (run.run_id, run.project, run.display_name) == (logger.version, "proj", "first")
    metrics = of_type(records, "metric")
    assert any(m.name == "trainer/global_step" for m in metrics)
    assert any(m.glob_name == "*" and m.step_metric == "trainer/global_step" for m in metrics)
    config = config_updates(records)
    assert config["lr"] == 0.1
    assert config["cls"] == "ReLU"
    assert config["factory"] == 3
    assert config["nested"] == {"opt": "torch.optim.adam.Adam", "wd": 0.0}
    rows = history_rows(records)
    assert [(r["trainer/global_step"], r["train-loss"]) for r in rows] == [(3, 0.5), (4, 0.25)]
    assert rows[0]["train-acc"] == 1


def test_resume_by_version_and_reuse_of_the_active_run(tmp_path):
    first = WandbLogger(save_dir=tmp_path, offline=True, project="proj")
    first.log_metrics({"a": 1.0}, step=0)
    run_id = first.experiment.id
    with pytest.warns(UserWarning, match="There is a wandb run already in progress"):
        reused = WandbLogger(save_dir=tmp_path, offline=True, project="proj").experiment
    assert reused is first.experiment
    first_dir = run_dir_of(first)
    first.experiment.finish()
    assert [r["a"] for r in history_rows(read_run_file(first_dir))] == [1.0]  # written out before resuming

    resumed = WandbLogger(save_dir=tmp_path, offline=True, project="proj", version=run_id)
    assert resumed.version == run_id  # known before the run starts
    resumed.log_metrics({"a": 2.0}, step=1)
    assert resumed.experiment.id == run_id
    run_dir = run_dir_of(resumed)
    resumed.experiment.finish()
    assert [r["a"] for r in history_rows(read_run_file(run_dir))] == [2.0]


def test_given_experiment_is_used(tmp_path):
    run = wandb.init(mode="offline", dir=str(tmp_path), project="given")
    logger = WandbLogger(experiment=run)
    assert logger.experiment is run and logger.version == run.id
    logger.log_metrics({"x": 1.0}, step=2)
    run.finish()
    assert history_rows(read_run_file(os.path.dirname(run.dir)))[0]["x"] == 1.0


def test_tables_text_images_audio_and_video(tmp_path):
    import numpy as np

    logger = WandbLogger(save_dir=tmp_path, offline=True, project="media")
    logger.log_table("table", columns=["a", "b"], data=[[1, "x"], [2, "y"]], step=1)
    logger.log_text("text", columns=["t"], data=[["hello"]], step=2)
    logger.log_image("img", [np.zeros((4, 4, 3), dtype=np.uint8)], step=3, caption=["black"])
    with pytest.raises(ValueError, match="Expected 1 items but only found 2 for caption"):
        logger.log_image("img", [np.zeros((4, 4, 3), dtype=np.uint8)], caption=["a", "b"])
    with pytest.raises(TypeError, match="Expected a list as 'images'"):
        logger.log_image("img", np.zeros((4, 4, 3)))  # type: ignore[arg-type]

    pytest.importorskip("PIL")
    from PIL import Image

    frames = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:], duration=100)
    logger.log_video("vid", [str(tmp_path / "clip.gif")], step=4, caption=["clip"])

    with wave.open(str(tmp_path / "beep.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)
    has_soundfile = True
    try:
        import soundfile  # noqa: F401
    except ImportError:
        has_soundfile = False
    if has_soundfile:
        logger.log_audio("aud", [str(tmp_path / "beep.wav")], step=5, caption=["beep"])
    else:  # wandb's own boundary: audio needs soundfile
        with pytest.raises(Exception, match="soundfile"):
            logger.log_audio("aud", [str(tmp_path / "beep.wav")], step=5)

    files_dir = logger.experiment.dir
    run_dir = run_dir_of(logger)
    logger.experiment.finish()

    [table_file] = glob.glob(os.path.join(files_dir, "media", "table", "table_*.table.json"))
    table = json.load(open(table_file))
    assert table["columns"] == ["a", "b"] and table["data"] == [[1, "x"], [2, "y"]]
    [text_file] = glob.glob(os.path.join(files_dir, "media", "table", "text_*.table.json"))
    assert json.load(open(text_file))["data"] == [["hello"]]
    [image_file] = glob.glob(os.path.join(files_dir, "media", "images", "img_*.png"))
    assert Image.open(image_file).size == (4, 4)
    assert glob.glob(os.path.join(files_dir, "media", "videos", "vid_*.gif"))
    rows = history_rows(read_run_file(run_dir))
    assert [row["trainer/global_step"] for row in rows] == [1, 2, 3, 4] + ([5] if has_soundfile else [])
    by_step = {row["trainer/global_step"]: row for row in rows}
    assert by_step[1]["table/_type"] == "table-file"
    assert by_step[3]["img/_type"] == "images/separated"
    assert by_step[3]["img/captions"] == ["black"]
    assert by_step[4]["vid/_type"] == "videos"
    if has_soundfile:
        assert glob.glob(os.path.join(files_dir, "media", "audio", "aud_*.wav"))
        assert by_step[5]["aud/_type"] == "audio"


def test_watch_logs_gradients_and_parameters(tmp_path):
    logger = WandbLogger(save_dir=tmp_path, offline=True, project="watch")
    model = torch.nn.Linear(2, 1)
    logger.watch(model, log="all", log_freq=1)
    for step in range(2):
        model(torch.randn(3, 2)).sum().backward()
        logger.log_metrics({"loss": 1.0}, step=step)
    run_dir = run_dir_of(logger)
    logger.experiment.finish()
    keys = set().union(*history_rows(read_run_file(run_dir)))
    assert {"gradients/weight/_type", "parameters/weight/_type", "parameters/bias/values"} <= keys


class _Ckpt:
    def __init__(self, path, score):
        self.dirpath = os.path.dirname(path)
        self.save_top_k = 1
        self.monitor = "val_loss"
        self.mode = "min"
        self.best_k_models = {path: torch.tensor(score)}
        self.best_model_path = path
        self.best_model_score = torch.tensor(score)
        self.last_model_path = ""
        self.current_score = None


@pytest.mark.parametrize("log_model", ["all", True])
def test_log_model_logs_checkpoint_artifacts_offline(tmp_path, log_model):
    # `offline=True` forbids log_model (Lightning's rule); wandb's own offline mode records artifacts for a later sync
    logger = WandbLogger(
        save_dir=tmp_path, project="models", log_model=log_model, checkpoint_name="my-model", mode="offline"
    )
    path = str(tmp_path / "epoch=0.ckpt")
    with open(path, "wb") as file:
        file.write(b"weights")
    logger.after_save_checkpoint(_Ckpt(path, 0.5))
    logger.log_metrics({"marker": 1.0}, step=0)  # the run file keeps the order of what the run logged
    run_dir = run_dir_of(logger)
    logger.finalize("success")
    logger.experiment.finish()
    records = read_run_file(run_dir)

    def label(record):
        kind = record.WhichOneof("record_type")
        if kind == "artifact" and record.artifact.type == "model":
            return "artifact"
        if kind == "history" and "marker" in history_rows([record])[0]:
            return "marker"
        return None

    order = [label(r) for r in records if label(r)]
    # "all" uploads at once; True keeps the checkpoint for the end of training (finalize)
    assert order == (["artifact", "marker"] if log_model == "all" else ["marker", "artifact"])
    artifacts = [a for a in of_type(records, "artifact") if a.type == "model"]
    assert len(artifacts) == 1
    [artifact] = artifacts
    assert artifact.name == "my-model"
    assert set(artifact.aliases) >= {"latest", "best"}
    metadata = json.loads(artifact.metadata)
    assert metadata["score"] == 0.5 and metadata["original_filename"] == "epoch=0.ckpt"
    assert metadata["_Ckpt"] == {"monitor": "val_loss", "mode": "min", "save_top_k": 1}
    assert [c.path for c in artifact.manifest.contents] == ["model.ckpt"]


def test_offline_with_log_model_is_rejected(tmp_path):
    with pytest.raises(
        MisconfigurationException, match="log_model=True and offline=True is an invalid configuration"
    ):
        WandbLogger(save_dir=tmp_path, offline=True, log_model=True)
    with pytest.raises(ValueError, match="`add_file_policy` must be"):
        WandbLogger(save_dir=tmp_path, add_file_policy="copy")  # type: ignore[arg-type]


def test_artifacts_cannot_be_used_offline(tmp_path):
    """The network boundary: wandb refuses artifact look-ups in offline mode, with this error."""
    logger = WandbLogger(save_dir=tmp_path, offline=True, project="art")
    _ = logger.experiment
    with pytest.raises(TypeError, match="Cannot use artifact when in offline mode."):
        logger.use_artifact("entity/art/data:v0", artifact_type="dataset")
    with pytest.raises(TypeError, match="Cannot use artifact when in offline mode."):
        WandbLogger.download_artifact("entity/art/data:v0", save_dir=tmp_path / "dl")
    logger.experiment.finish()


def test_logger_pickles_and_reattaches_to_the_same_run(tmp_path):
    import pickle

    logger = WandbLogger(save_dir=tmp_path, offline=True, project="pickle")
    state = pickle.dumps(logger)  # creates the run first, like Lightning, so that workers attach to it
    run_id = logger.experiment.id
    clone = pickle.loads(state)
    assert clone._experiment is None and clone.version == run_id
    logger.experiment.finish()
