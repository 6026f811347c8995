"""ModelCheckpoint and OnExceptionCheckpoint driven by the fake training loop, with real files on disk."""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from datetime import timedelta
from typing import Any

import pytest
import torch
from fake_trainer import BoringModule, FakeTrainer, RecordingLogger, loader
from hypothesis import given, settings
from hypothesis import strategies as st

from lit_callbacks import Checkpoint, ModelCheckpoint, OnExceptionCheckpoint
from lit_hooks import Callback, MisconfigurationException


def _files(directory: Any) -> list[str]:
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def _load(path: Any) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


def _fit(
    mc: Any,
    *,
    epochs: int = 2,
    batches: int = 4,
    val_values: list[float] | None = None,
    root: Any = ".",
    **trainer_kwargs: Any,
) -> FakeTrainer:
    callbacks = mc if isinstance(mc, list) else [mc]
    trainer = FakeTrainer(callbacks, max_epochs=epochs, default_root_dir=str(root), **trainer_kwargs)
    module = BoringModule(val_values=val_values)
    trainer.fit(module, loader(batches), loader(1) if val_values is not None else None)
    return trainer


# --------------------------------------------------------------------------------------------- construction
def test_class_attributes_and_state_key() -> None:
    assert issubclass(ModelCheckpoint, Checkpoint) and issubclass(OnExceptionCheckpoint, Checkpoint)
    assert issubclass(Checkpoint, Callback)
    assert (ModelCheckpoint.CHECKPOINT_JOIN_CHAR, ModelCheckpoint.CHECKPOINT_EQUALS_CHAR) == ("-", "=")
    assert (ModelCheckpoint.CHECKPOINT_NAME_LAST, ModelCheckpoint.FILE_EXTENSION) == ("last", ".ckpt")
    assert ModelCheckpoint.STARTING_VERSION == 1
    assert ModelCheckpoint().state_key == (
        "ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, 'every_n_epochs': 1,"
        " 'train_time_interval': None}"
    )
    mc = ModelCheckpoint(monitor="acc", mode="max", train_time_interval=timedelta(seconds=5))
    assert mc.state_key == (
        "ModelCheckpoint{'monitor': 'acc', 'mode': 'max', 'every_n_train_steps': 0, 'every_n_epochs': 0,"
        " 'train_time_interval': datetime.timedelta(seconds=5)}"
    )
    assert mc.every_n_epochs == 0
    assert float(mc.kth_value) == -math.inf and float(ModelCheckpoint().kth_value) == math.inf
    assert (mc.best_model_path, mc.last_model_path, mc.kth_best_model_path, mc.best_k_models) == (
        "",
        "",
        "",
        {},
    )
    assert mc.best_model_score is None and mc.current_score is None


def test_dirpath_is_made_absolute(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert ModelCheckpoint(dirpath="ckpts").dirpath == os.path.realpath(tmp_path / "ckpts")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ModelCheckpoint(dirpath="~/x").dirpath == os.path.realpath(tmp_path / "x")
    assert ModelCheckpoint(dirpath="s3://bucket/ckpts").dirpath == "s3://bucket/ckpts"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "avg"}, r"mode='avg'.*'min', 'max'"),
        ({"save_top_k": -2}, r"save_top_k=-2.*-1 \(keep every checkpoint\), 0"),
        ({"save_top_k": 3}, r"save_top_k=3, monitor=None.*one of -1, 0, 1"),
        ({"every_n_train_steps": -1}, r"every_n_train_steps=-1.*>= 0"),
        ({"every_n_epochs": -3}, r"every_n_epochs=-3.*>= 0"),
        ({"every_n_train_steps": 2, "train_time_interval": timedelta(seconds=1)}, r"mutually exclusive"),
        ({"every_n_train_steps": 2, "every_n_epochs": 1}, r"every_n_train_steps=2, every_n_epochs=1"),
        ({"save_last": "symlink"}, r"save_last='symlink'.*None, True, False, 'link'"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(MisconfigurationException, match=match):
        ModelCheckpoint(**kwargs)


def test_invalid_types_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"save_top_k=1.5.*must be an int"):
        ModelCheckpoint(save_top_k=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"train_time_interval=30.*timedelta"):
        ModelCheckpoint(train_time_interval=30)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"filename=''.*cannot be empty"):
        OnExceptionCheckpoint(".", filename="")


def test_link_needs_a_local_directory() -> None:
    mc = ModelCheckpoint(dirpath="s3://bucket/ckpts", save_last="link")
    with pytest.raises(ValueError, match=r"save_last='link'.*local directory.*s3://bucket/ckpts"):
        mc.setup(FakeTrainer(), BoringModule(), "fit")


# -------------------------------------------------------------------------------------------------- naming
@pytest.mark.parametrize(
    ("filename", "metrics", "kwargs", "auto", "expected"),
    [
        (None, {"epoch": 0, "step": 8}, {}, True, "epoch=0-step=8.ckpt"),
        ("{epoch}", {"epoch": torch.tensor(3)}, {}, True, "epoch=3.ckpt"),
        ("{epoch:03d}", {"epoch": 5}, {}, True, "epoch=005.ckpt"),
        (
            "{epoch}-{val_loss:.2f}",
            {"epoch": 2, "val_loss": torch.tensor(0.123456)},
            {},
            True,
            "epoch=2-val_loss=0.12.ckpt",
        ),
        (
            "epoch={epoch}-validation_loss={val_loss:.2f}",
            {"epoch": 2, "val_loss": 0.123456},
            {},
            False,
            "epoch=2-validation_loss=0.12.ckpt",
        ),
        ("{missing:d}", {}, {}, True, "missing=0.ckpt"),
        ("{missing:.2f}", {}, {}, True, "missing=0.00.ckpt"),
        ("{step}", {"step": 0}, {"ver": 3}, True, "step=0-v3.ckpt"),
        ("{epoch}", {"epoch": 1}, {"prefix": "run"}, True, "run-epoch=1.ckpt"),
        ("{epoch}-{epoch_test}", {"epoch": 1, "epoch_test": 7}, {}, True, "epoch=1-epoch_test=7.ckpt"),
        ("{val.acc:.1f}", {"val.acc": torch.tensor(0.87)}, {}, True, "val.acc=0.9.ckpt"),
        ("{{x}}-{epoch}", {"epoch": 4}, {}, True, "{x}-epoch=4.ckpt"),
    ],
)
def test_format_checkpoint_name(
    filename: str | None, metrics: dict[str, Any], kwargs: dict[str, Any], auto: bool, expected: str
) -> None:
    mc = ModelCheckpoint(filename=filename, auto_insert_metric_name=auto)
    assert mc.format_checkpoint_name(metrics, **kwargs) == expected
    assert "missing" not in metrics  # the caller's dict is not modified
    mc.dirpath = "/ckpts"
    assert mc.format_checkpoint_name(metrics, **kwargs) == os.path.join("/ckpts", expected)


def test_format_checkpoint_name_with_explicit_template() -> None:
    mc = ModelCheckpoint(filename="{epoch}-{step}")
    assert mc.format_checkpoint_name({"epoch": 2, "val_loss": 0.12}, filename="{epoch:d}") == "epoch=2.ckpt"
    assert mc.format_checkpoint_name({}, filename="last") == "last.ckpt"


# ---------------------------------------------------------------------------------------------- directories
def test_default_directory_and_name_without_logger(tmp_path: Any) -> None:
    mc = ModelCheckpoint()
    trainer = _fit(mc, root=tmp_path)
    ckpt_dir = tmp_path / "checkpoints"
    assert mc.dirpath == str(ckpt_dir)
    assert _files(ckpt_dir) == ["epoch=1-step=8.ckpt"]  # the epoch-0 file was replaced (save_top_k=1)
    assert mc.best_model_path == str(ckpt_dir / "epoch=1-step=8.ckpt")
    assert mc.best_model_score is None and mc.best_k_models == {}
    ckpt = _load(mc.best_model_path)
    assert (ckpt["epoch"], ckpt["global_step"]) == (1, 8)
    assert ckpt["callbacks"][mc.state_key]["best_model_path"] == mc.best_model_path
    assert "optimizer_states" in ckpt
    # the old file went through the strategy's checkpoint IO
    assert trainer.strategy.checkpoint_io.removed == [str(ckpt_dir / "epoch=0-step=4.ckpt")]
    assert not any(name.endswith(".tmp") for name in _files(ckpt_dir))


@pytest.mark.parametrize(("version", "sub"), [(3, "version_3"), ("run-a", "run-a")])
def test_default_directory_from_first_logger(tmp_path: Any, version: Any, sub: str) -> None:
    first, second = RecordingLogger(version=version, name="exp"), RecordingLogger(version=9, name="other")
    mc = ModelCheckpoint()
    _fit(mc, epochs=1, root=tmp_path, loggers=[first, second])
    assert mc.dirpath == os.path.join(str(tmp_path), "exp", sub, "checkpoints")
    assert _files(mc.dirpath) == ["epoch=0-step=4.ckpt"]
    first.save_dir = str(tmp_path / "logs")  # type: ignore[misc]
    mc2 = ModelCheckpoint()
    mc2.setup(FakeTrainer(loggers=[first], default_root_dir=str(tmp_path)), BoringModule(), "fit")
    assert mc2.dirpath == os.path.join(str(tmp_path / "logs"), "exp", sub, "checkpoints")


def test_warns_when_directory_is_not_empty(tmp_path: Any) -> None:
    (tmp_path / "other.txt").write_text("x")
    with pytest.warns(UserWarning, match="exists and is not empty"):
        ModelCheckpoint(dirpath=tmp_path).setup(FakeTrainer(), BoringModule(), "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ModelCheckpoint(dirpath=tmp_path, save_top_k=0).setup(FakeTrainer(), BoringModule(), "fit")
        ModelCheckpoint(dirpath=tmp_path).setup(FakeTrainer(), BoringModule(), "validate")


# ------------------------------------------------------------------------------------------------- top-k
def test_monitor_top_k_min(tmp_path: Any) -> None:
    mc = ModelCheckpoint(
        dirpath=tmp_path, filename="{epoch}-{val_loss:.2f}", monitor="val_loss", save_top_k=2
    )
    _fit(mc, epochs=5, batches=1, val_values=[3.0, 1.0, 2.0, 0.5, 4.0])
    assert _files(tmp_path) == ["epoch=1-val_loss=1.00.ckpt", "epoch=3-val_loss=0.50.ckpt"]
    assert mc.best_model_path == str(tmp_path / "epoch=3-val_loss=0.50.ckpt")
    assert float(mc.best_model_score) == 0.5
    assert mc.kth_best_model_path == str(tmp_path / "epoch=1-val_loss=1.00.ckpt")
    assert float(mc.kth_value) == 1.0
    assert float(mc.current_score) == 0.5  # the last value that entered the top k
    assert {os.path.basename(p): float(v) for p, v in mc.best_k_models.items()} == {
        "epoch=1-val_loss=1.00.ckpt": 1.0,
        "epoch=3-val_loss=0.50.ckpt": 0.5,
    }
    mc.to_yaml()
    lines = (tmp_path / "best_k_models.yaml").read_text().splitlines()
    assert lines == [
        f'"{tmp_path / "epoch=1-val_loss=1.00.ckpt"}": 1.0',
        f'"{tmp_path / "epoch=3-val_loss=0.50.ckpt"}": 0.5',
    ]


def test_monitor_top_k_max_and_verbose(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    mc = ModelCheckpoint(
        dirpath=tmp_path, filename="{val_loss:.1f}", monitor="val_loss", mode="max", verbose=True
    )
    with caplog.at_level("INFO"):
        _fit(mc, epochs=3, batches=1, val_values=[0.2, 0.9, 0.5])
    assert _files(tmp_path) == ["val_loss=0.9.ckpt"]
    assert float(mc.best_model_score) == pytest.approx(0.9)
    messages = [r.getMessage() for r in caplog.records]
    assert any("'val_loss' reached 0.90000 (best 0.90000)" in m and "as top 1" in m for m in messages)
    assert any("Epoch 2, global step 3: 'val_loss' was not in top 1" in m for m in messages)


def _expected_top_k(values: list[float], k: int, mode: str) -> tuple[list[int], list[int]]:
    """Indices kept at the end, and the indices that entered the top k when they were logged."""
    kept: list[int] = []
    entered: list[int] = []
    better = (lambda a, b: a < b) if mode == "min" else (lambda a, b: a > b)
    for i, value in enumerate(values):
        if k == -1 or len(kept) < k:
            kept.append(i)
            entered.append(i)
            continue
        worst = max(kept, key=lambda j: values[j]) if mode == "min" else min(kept, key=lambda j: values[j])
        if better(value, values[worst]):
            kept.remove(worst)
            kept.append(i)
            entered.append(i)
    return sorted(kept), entered


@settings(max_examples=25, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-100, max_value=100, allow_nan=False, width=32),
        min_size=1,
        max_size=7,
        unique=True,
    ),
    k=st.sampled_from([-1, 1, 2, 3]),
    mode=st.sampled_from(["min", "max"]),
)
def test_top_k_keeps_exactly_the_k_best(values: list[float], k: int, mode: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mc = ModelCheckpoint(
            dirpath=tmp, filename="{epoch}", monitor="val_loss", save_top_k=k, mode=mode, save_last=True
        )
        _fit(mc, epochs=len(values), batches=1, val_values=values)
        kept, entered = _expected_top_k(values, k, mode)
        assert _files(tmp) == sorted([f"epoch={i}.ckpt" for i in kept] + ["last.ckpt"])
        assert sorted(mc.best_k_models) == sorted(os.path.join(tmp, f"epoch={i}.ckpt") for i in kept)
        best = (min if mode == "min" else max)(kept, key=lambda i: values[i])
        assert mc.best_model_path == os.path.join(tmp, f"epoch={best}.ckpt")
        assert float(mc.best_model_score) == values[best]
        assert _load(mc.best_model_path)["epoch"] == best
        # ``last`` is refreshed whenever a top-k checkpoint is written
        assert _load(os.path.join(tmp, "last.ckpt"))["epoch"] == entered[-1]


def test_nan_monitor_ranks_worst(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}", monitor="val_loss", save_top_k=2)
    _fit(mc, epochs=4, batches=1, val_values=[float("nan"), 2.0, 3.0, 1.0])
    assert _files(tmp_path) == ["epoch=1.ckpt", "epoch=3.ckpt"]
    assert float(mc.best_model_score) == 1.0
    mc2 = ModelCheckpoint(dirpath=tmp_path / "max", filename="{epoch}", monitor="val_loss", mode="max")
    _fit(mc2, epochs=1, batches=1, val_values=[float("nan")])
    assert float(mc2.best_model_score) == -math.inf and _files(tmp_path / "max") == ["epoch=0.ckpt"]


def test_save_top_k_all_and_none(tmp_path: Any) -> None:
    keep_all = ModelCheckpoint(dirpath=tmp_path / "all", save_top_k=-1)
    _fit(keep_all, epochs=3, batches=2)
    assert _files(tmp_path / "all") == ["epoch=0-step=2.ckpt", "epoch=1-step=4.ckpt", "epoch=2-step=6.ckpt"]
    assert keep_all.best_model_path == str(tmp_path / "all" / "epoch=2-step=6.ckpt")
    none = ModelCheckpoint(dirpath=tmp_path / "none", save_top_k=0)
    _fit(none, epochs=2, batches=2)
    assert _files(tmp_path / "none") == [] and none.best_model_path == ""
    last_only = ModelCheckpoint(dirpath=tmp_path / "last", save_top_k=0, save_last="link")
    _fit(last_only, epochs=2, batches=2)
    assert _files(tmp_path / "last") == ["last.ckpt"]
    assert not os.path.islink(tmp_path / "last" / "last.ckpt")  # nothing to link to: a real file
    assert _load(tmp_path / "last" / "last.ckpt")["global_step"] == 4


def test_missing_monitor_warns_then_raises_after_validation(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, monitor="val_acc", save_on_train_epoch_end=True)
    with pytest.warns(UserWarning, match=r"monitor='val_acc'.*could not find.*\['epoch', 'loss', 'step'\]"):
        _fit(mc, epochs=1, batches=2)
    assert _files(tmp_path) == []
    mc = ModelCheckpoint(dirpath=tmp_path, monitor="val_acc")
    with pytest.raises(MisconfigurationException, match=r"self\.log\('val_acc', value\)"):
        _fit(mc, epochs=1, batches=2, val_values=[1.0])


# ---------------------------------------------------------------------------------------------- save_last
def test_save_last_true_copies_the_newest(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    _fit(mc, epochs=3, batches=2)
    assert _files(tmp_path) == ["epoch=2-step=6.ckpt", "last.ckpt"]
    assert mc.last_model_path == str(tmp_path / "last.ckpt")
    assert not os.path.islink(mc.last_model_path)
    last = _load(mc.last_model_path)
    assert (last["epoch"], last["global_step"]) == (2, 6)
    assert last["callbacks"][mc.state_key]["last_model_path"] == mc.last_model_path


def test_save_last_link_points_to_the_newest(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, save_last="link", filename="{epoch}")
    _fit(mc, epochs=3, batches=2)
    assert _files(tmp_path) == ["epoch=2.ckpt", "last.ckpt"]
    link = tmp_path / "last.ckpt"
    assert os.path.islink(link) and os.readlink(link) == "epoch=2.ckpt"  # relative link
    assert _load(link)["epoch"] == 2

    monitored = ModelCheckpoint(
        dirpath=tmp_path / "m", save_last="link", monitor="val_loss", filename="{epoch}", save_top_k=1
    )
    _fit(monitored, epochs=3, batches=1, val_values=[3.0, 1.0, 2.0])
    # epoch 2 was not saved: the link still points at the best (newest saved) file, which was not deleted
    assert _files(tmp_path / "m") == ["epoch=1.ckpt", "last.ckpt"]
    assert os.readlink(tmp_path / "m" / "last.ckpt") == "epoch=1.ckpt"
    assert os.path.exists(tmp_path / "m" / "last.ckpt")


def test_save_last_version_counter(tmp_path: Any) -> None:
    (tmp_path / "last.ckpt").write_text("old")
    mc = ModelCheckpoint(dirpath=tmp_path, save_last=True, save_top_k=0)
    _fit(mc, epochs=2, batches=1)
    assert _files(tmp_path) == ["last-v1.ckpt", "last.ckpt"]
    assert (tmp_path / "last.ckpt").read_text() == "old"
    assert mc.last_model_path == str(tmp_path / "last-v1.ckpt")
    assert mc._find_last_checkpoints(FakeTrainer()) == {
        str(tmp_path / "last.ckpt"),
        str(tmp_path / "last-v1.ckpt"),
    }


# ---------------------------------------------------------------------------------------------- triggers
def test_every_n_train_steps(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=3, save_top_k=-1)
    _fit(mc, epochs=2, batches=4)
    assert _files(tmp_path) == ["epoch=0-step=3.ckpt", "epoch=1-step=6.ckpt"]


def test_every_n_train_steps_with_validation_metric_waits_for_validation(tmp_path: Any) -> None:
    mc = ModelCheckpoint(
        dirpath=tmp_path,
        every_n_train_steps=2,
        monitor="val_loss",
        save_top_k=-1,
        save_on_train_epoch_end=False,
        filename="{step}-{val_loss:.1f}",
    )
    _fit(mc, epochs=2, batches=4, val_values=[2.0, 1.0])
    # step 2: no val_loss yet, saved after validation (step 4); step 6: the epoch-0 value; step 8: last batch,
    # saved after the validation that follows with the fresh value
    assert _files(tmp_path) == [
        "step=4-val_loss=2.0.ckpt",
        "step=6-val_loss=2.0.ckpt",
        "step=8-val_loss=1.0.ckpt",
    ]


def test_every_n_epochs(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, every_n_epochs=2, save_top_k=-1, filename="{epoch}")
    _fit(mc, epochs=5, batches=1)
    assert _files(tmp_path) == ["epoch=1.ckpt", "epoch=3.ckpt"]


def test_train_time_interval(tmp_path: Any) -> None:
    zero = ModelCheckpoint(dirpath=tmp_path / "zero", train_time_interval=timedelta(0), save_top_k=-1)
    trainer = _fit(zero, epochs=1, batches=3)
    assert _files(tmp_path / "zero") == ["epoch=0-step=1.ckpt", "epoch=0-step=2.ckpt", "epoch=0-step=3.ckpt"]
    assert trainer.strategy.broadcast_calls >= 3  # rank zero's clock decides
    hour = ModelCheckpoint(dirpath=tmp_path / "hour", train_time_interval=timedelta(hours=1), save_top_k=-1)
    _fit(hour, epochs=2, batches=3)
    assert _files(tmp_path / "hour") == []


class _Spy(Callback):
    def __init__(self, directory: Any) -> None:
        self.directory = directory
        self.seen: list[tuple[str, int]] = []

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self.seen.append(("validation_end", len(_files(self.directory))))

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        self.seen.append(("train_epoch_end", len(_files(self.directory))))


@pytest.mark.parametrize(
    ("flag", "trainer_kwargs", "expected"),
    [
        (None, {}, [("validation_end", 0), ("train_epoch_end", 1)]),
        (True, {}, [("validation_end", 0), ("train_epoch_end", 1)]),
        (False, {}, [("validation_end", 1), ("train_epoch_end", 1)]),
        (None, {"val_check_interval": 0.5}, [("validation_end", 1), ("train_epoch_end", 1)]),
        (
            None,
            {"num_sanity_val_steps": 1},
            [("validation_end", 0), ("validation_end", 0), ("train_epoch_end", 1)],
        ),
        (
            False,
            {"num_sanity_val_steps": 1},
            [("validation_end", 0), ("validation_end", 1), ("train_epoch_end", 1)],
        ),
    ],
)
def test_save_on_train_epoch_end(
    tmp_path: Any, flag: bool | None, trainer_kwargs: dict[str, Any], expected: list[tuple[str, int]]
) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, save_on_train_epoch_end=flag)
    spy = _Spy(tmp_path)
    _fit([mc, spy], epochs=1, batches=2, val_values=[1.0], **trainer_kwargs)
    assert spy.seen == expected


def test_validation_every_other_epoch_saves_after_validation(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{epoch}")
    _fit(mc, epochs=4, batches=1, val_values=[1.0], check_val_every_n_epoch=2)
    assert _files(tmp_path) == ["epoch=1.ckpt", "epoch=3.ckpt"]


def test_no_saving_in_fast_dev_run_or_outside_fit(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path)
    _fit(mc, epochs=1, batches=2, fast_dev_run=True)
    assert _files(tmp_path) == []
    trainer = FakeTrainer([mc], default_root_dir=str(tmp_path))
    trainer.validate(BoringModule(), loader(2))
    mc.on_validation_end(trainer, trainer.lightning_module)
    assert _files(tmp_path) == []


# ---------------------------------------------------------------------------------- files and versions
def test_save_weights_only(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, save_weights_only=True)
    _fit(mc, epochs=1, batches=2)
    ckpt = _load(mc.best_model_path)
    assert "callbacks" not in ckpt and "optimizer_states" not in ckpt
    assert set(ckpt["state_dict"]) == {"layer.weight", "layer.bias"}


def test_version_counter(tmp_path: Any) -> None:
    existing = tmp_path / "epoch=0-step=4.ckpt"
    existing.write_text("keep me")
    mc = ModelCheckpoint(dirpath=tmp_path)
    with pytest.warns(UserWarning, match="not empty"):
        _fit(mc, epochs=1, batches=4)
    assert _files(tmp_path) == ["epoch=0-step=4-v1.ckpt", "epoch=0-step=4.ckpt"]
    assert existing.read_text() == "keep me"
    mc = ModelCheckpoint(dirpath=tmp_path)
    with pytest.warns(UserWarning, match="not empty"):
        _fit(mc, epochs=1, batches=4)
    assert mc.best_model_path == str(tmp_path / "epoch=0-step=4-v2.ckpt")
    mc = ModelCheckpoint(dirpath=tmp_path, enable_version_counter=False)
    with pytest.warns(UserWarning, match="not empty"):
        _fit(mc, epochs=1, batches=4)
    assert mc.best_model_path == str(existing)
    assert _load(existing)["global_step"] == 4  # overwritten


def test_same_name_is_overwritten_not_deleted(tmp_path: Any) -> None:
    # every epoch renders the same name: the version counter reuses the replaceable file, never deletes it
    mc = ModelCheckpoint(dirpath=tmp_path, filename="model", save_last=True)
    _fit(mc, epochs=3, batches=1)
    assert _files(tmp_path) == ["last.ckpt", "model.ckpt"]
    assert _load(tmp_path / "model.ckpt")["epoch"] == 2


def test_loggers_are_notified(tmp_path: Any) -> None:
    class Notified(RecordingLogger):
        def __init__(self) -> None:
            super().__init__()
            self.paths: list[str] = []

        def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
            self.paths.append(checkpoint_callback.best_model_path)

    logger = Notified()
    mc = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{epoch}")
    _fit(mc, epochs=2, batches=1, loggers=[logger])
    assert logger.paths == [str(tmp_path / "epoch=0.ckpt"), str(tmp_path / "epoch=1.ckpt")]


def test_only_global_rank_zero_removes_files(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, filename="{epoch}")
    trainer = FakeTrainer([mc], max_epochs=2, default_root_dir=str(tmp_path))
    trainer.is_global_zero = False
    trainer.fit(BoringModule(), loader(1))
    assert trainer.strategy.checkpoint_io.removed == []
    assert mc.best_model_path == str(tmp_path / "epoch=1.ckpt")


# ------------------------------------------------------------------------------------------------- state
def test_state_dict_round_trip(tmp_path: Any) -> None:
    mc = ModelCheckpoint(
        dirpath=tmp_path, monitor="val_loss", save_top_k=2, save_last=True, filename="{epoch}"
    )
    _fit(mc, epochs=3, batches=1, val_values=[3.0, 1.0, 2.0])
    state = mc.state_dict()
    assert list(state) == [
        "monitor",
        "best_model_score",
        "best_model_path",
        "current_score",
        "dirpath",
        "best_k_models",
        "kth_best_model_path",
        "kth_value",
        "last_model_path",
    ]
    ckpt = _load(tmp_path / "last.ckpt")
    assert ckpt["callbacks"][mc.state_key]["best_model_path"] == str(tmp_path / "epoch=1.ckpt")

    restored = ModelCheckpoint(
        dirpath=tmp_path, monitor="val_loss", save_top_k=2, save_last=True, filename="{epoch}"
    )
    restored.load_state_dict(state)
    for key in ("best_model_path", "kth_best_model_path", "last_model_path", "best_k_models"):
        assert getattr(restored, key) == getattr(mc, key)
    assert float(restored.best_model_score) == 1.0 and float(restored.kth_value) == 2.0

    moved = ModelCheckpoint(dirpath=tmp_path / "elsewhere", monitor="val_loss")
    with pytest.warns(UserWarning, match=r"changed from .* to .*only `best_model_path` is restored"):
        moved.load_state_dict(state)
    assert moved.best_model_path == mc.best_model_path
    assert moved.best_model_score is None and moved.best_k_models == {} and moved.last_model_path == ""


def test_resume_continues_top_k_and_keeps_the_resumed_file(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, filename="{epoch}")
    _fit(mc, epochs=2, batches=1, val_values=[2.0, 3.0])
    ckpt = _load(tmp_path / "epoch=1.ckpt")
    ckpt["epoch"] = 2  # resume after the completed epoch 1
    resumed = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=2, filename="{epoch}")
    trainer = FakeTrainer([resumed], max_epochs=3, default_root_dir=str(tmp_path))
    with pytest.warns(UserWarning, match="not empty"):
        trainer.fit(BoringModule(val_values=[1.0]), loader(1), loader(1), ckpt=ckpt)
    # the restored top-k state made epoch 1 (3.0) the one to evict
    assert _files(tmp_path) == ["epoch=0.ckpt", "epoch=2.ckpt"]
    assert resumed.best_model_path == str(tmp_path / "epoch=2.ckpt")

    plain = ModelCheckpoint(dirpath=tmp_path / "plain", filename="{epoch}")
    _fit(plain, epochs=1, batches=1)
    first = str(tmp_path / "plain" / "epoch=0.ckpt")
    again = ModelCheckpoint(dirpath=tmp_path / "plain", filename="{epoch}")
    trainer = FakeTrainer([again], max_epochs=3, default_root_dir=str(tmp_path))
    trainer.ckpt_path = first
    with pytest.warns(UserWarning, match="not empty"):
        trainer.fit(BoringModule(), loader(1), ckpt={**_load(first), "epoch": 1})
    # the file fitting resumed from is never deleted; later superseded files are
    assert _files(tmp_path / "plain") == ["epoch=0.ckpt", "epoch=2.ckpt"]


# ---------------------------------------------------------------------------------------------- exceptions
def test_save_on_exception(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, save_on_exception=True, save_last=True)
    trainer = FakeTrainer([mc], max_epochs=2, default_root_dir=str(tmp_path))
    trainer.raise_at_step = 3
    with pytest.raises(RuntimeError, match="failure requested at step 3"):
        trainer.fit(BoringModule(), loader(4))
    assert _files(tmp_path) == ["epoch=0-step=3.ckpt", "last.ckpt"]
    assert _load(tmp_path / "epoch=0-step=3.ckpt")["global_step"] == 3

    off = ModelCheckpoint(dirpath=tmp_path / "off")
    trainer = FakeTrainer([off], max_epochs=2, default_root_dir=str(tmp_path))
    trainer.raise_at_step = 1
    with pytest.raises(RuntimeError):
        trainer.fit(BoringModule(), loader(4))
    assert _files(tmp_path / "off") == []


def test_on_exception_checkpoint(tmp_path: Any) -> None:
    cb = OnExceptionCheckpoint(tmp_path, filename="crash")
    assert cb.ckpt_path == os.path.join(tmp_path, "crash.ckpt")
    assert OnExceptionCheckpoint(tmp_path).ckpt_path == os.path.join(tmp_path, "on_exception.ckpt")
    trainer = FakeTrainer([cb], max_epochs=1, default_root_dir=str(tmp_path))
    trainer.raise_at_step = 2
    with pytest.raises(RuntimeError):
        trainer.fit(BoringModule(), loader(4))
    assert _files(tmp_path) == ["crash.ckpt"]
    assert _load(tmp_path / "crash.ckpt")["global_step"] == 2
    # a run that ends normally removes the file at teardown
    trainer = FakeTrainer([cb], max_epochs=1, default_root_dir=str(tmp_path))
    trainer.fit(BoringModule(), loader(2))
    assert _files(tmp_path) == []
    assert trainer.strategy.checkpoint_io.removed == [cb.ckpt_path]


def test_removal_never_touches_tracked_or_outside_files(tmp_path: Any) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path / "ckpts", monitor="val_loss", save_top_k=2)
    trainer = FakeTrainer()
    inside = str(tmp_path / "ckpts" / "a.ckpt")
    mc.best_k_models = {inside: torch.tensor(1.0)}
    mc.last_model_path = str(tmp_path / "ckpts" / "last.ckpt")
    assert not mc._should_remove_checkpoint(trainer, inside, str(tmp_path / "ckpts" / "b.ckpt"))
    assert not mc._should_remove_checkpoint(trainer, mc.last_model_path, str(tmp_path / "ckpts" / "b.ckpt"))
    assert not mc._should_remove_checkpoint(
        trainer, str(tmp_path / "ckpts" / "c.ckpt"), str(tmp_path / "ckpts" / "c.ckpt")
    )
    assert not mc._should_remove_checkpoint(trainer, str(tmp_path / "other" / "c.ckpt"), inside)
    assert not mc._should_remove_checkpoint(trainer, str(tmp_path / "ckpts-old" / "c.ckpt"), inside)
    assert mc._should_remove_checkpoint(trainer, str(tmp_path / "ckpts" / "sub" / "c.ckpt"), inside)
    trainer.ckpt_path = str(tmp_path / "ckpts" / "resumed.ckpt")
    assert not mc._should_remove_checkpoint(trainer, trainer.ckpt_path, inside)
