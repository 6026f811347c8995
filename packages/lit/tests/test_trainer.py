"""Trainer arguments, validation, environment defaults, entry points and properties."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from conftest import make_trainer
from torch.utils.data import DataLoader

import lit as L
from lit.demos.boring_classes import (
    BoringDataModule,
    BoringDataModuleNoLen,
    BoringModel,
    IterableBoringDataModule,
    RandomDataset,
)
from lit_hooks import MisconfigurationException, RunningStage, TrainerFn, TrainerStatus


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"accelerator": "quantum"}, "cpu, gpu, cuda, mps, tpu"),
        ({"strategy": "nonsense"}, "Available names are: auto, single_device"),
        ({"precision": "17-mixed"}, "32-true"),
        ({"gradient_clip_algorithm": "foo"}, "Allowed algorithms"),
        ({"limit_train_batches": 1.5}, r"\[0.0, 1.0\] or an int"),
        ({"limit_val_batches": -1}, r"\[0.0, 1.0\] or an int"),
        ({"val_check_interval": 2.5}, r"\[0.0, 1.0\] or an int"),
        ({"max_steps": -2}, "non-negative integer or -1"),
        ({"max_epochs": -5}, "non-negative integer or -1"),
        ({"fast_dev_run": -1}, ">= 0"),
        ({"check_val_every_n_epoch": 0}, "integer >= 1 or None"),
        ({"num_sanity_val_steps": -3}, "-1 runs all"),
        ({"accumulate_grad_batches": 0}, "integer >= 1"),
        ({"devices": 0}, "must be >= 1"),
        ({"max_time": "1 hour"}, "DD:HH:MM:SS"),
        ({"deterministic": "sometimes"}, "'warn'"),
        ({"inference_mode": "yes"}, "True, False"),
        ({"profiler": "fancy"}, "simple"),
        ({"logger": 3}, "not a logger"),
    ],
)
def test_invalid_arguments_are_rejected_at_construction(
    tmp_path: Any, kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises((MisconfigurationException, ValueError, TypeError), match=match):
        L.Trainer(default_root_dir=tmp_path, **kwargs)


def test_gradient_clip_val_type_error(tmp_path: Any) -> None:
    with pytest.raises(TypeError, match="int or a float"):
        L.Trainer(default_root_dir=tmp_path, gradient_clip_val="1")


def test_defaults(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    trainer = L.Trainer(logger=False, enable_checkpointing=False)
    assert trainer.max_epochs == 1000 and trainer.max_steps == -1 and trainer.min_epochs is None
    assert trainer.num_sanity_val_steps == 2 and trainer.log_every_n_steps == 50
    assert trainer.limit_train_batches == 1.0 and trainer.val_check_interval == 1.0
    assert trainer.check_val_every_n_epoch == 1 and trainer.accumulate_grad_batches == 1
    assert trainer.precision == "32-true" and trainer.default_root_dir == str(tmp_path)
    assert trainer.state.status == TrainerStatus.INITIALIZING and trainer.state.fn is None
    assert trainer.strategy.root_device == torch.device("cpu")
    assert trainer.progress_bar_callback is not None
    assert trainer.global_step == 0 and trainer.current_epoch == 0 and not trainer.should_stop
    assert trainer.num_devices == 1 and trainer.device_ids == [0] and trainer.is_global_zero
    assert trainer.world_size == 1 and trainer.global_rank == 0 and trainer.node_rank == 0


def test_default_logger_is_tensorboard_when_available(tmp_path: Any) -> None:
    trainer = L.Trainer(default_root_dir=tmp_path, enable_checkpointing=False)
    assert type(trainer.logger).__name__ == "TensorBoardLogger"
    assert trainer.logger.save_dir == str(tmp_path)


def test_env_defaults(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PL_TRAINER_MAX_EPOCHS", "3")
    monkeypatch.setenv("PL_TRAINER_LIMIT_TRAIN_BATCHES", "0.5")
    monkeypatch.setenv("PL_TRAINER_ACCELERATOR", "cpu")
    trainer = make_trainer(tmp_path)
    assert trainer.max_epochs == 3 and trainer.limit_train_batches == 0.5
    explicit = make_trainer(tmp_path, max_epochs=7)
    assert explicit.max_epochs == 7  # explicit arguments win over the environment


def test_barebones_errors_and_effect(tmp_path: Any) -> None:
    for kwargs in (
        {"enable_checkpointing": True},
        {"logger": True},
        {"enable_progress_bar": True},
        {"log_every_n_steps": 5},
        {"enable_model_summary": True},
        {"num_sanity_val_steps": 2},
        {"fast_dev_run": True},
        {"detect_anomaly": True},
        {"profiler": "simple"},
    ):
        with pytest.raises(ValueError, match="barebones=True"):
            L.Trainer(default_root_dir=tmp_path, barebones=True, **kwargs)
    trainer = L.Trainer(default_root_dir=tmp_path, barebones=True, max_epochs=1)
    assert trainer.loggers == [] and trainer.callbacks == [] and trainer.log_every_n_steps == 0
    assert trainer.num_sanity_val_steps == 0

    class Logs(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            out = super().training_step(batch, batch_idx)
            self.log("loss", out["loss"])
            return out

    with pytest.warns(UserWarning, match="barebones"):
        trainer.fit(Logs())
    assert trainer.callback_metrics == {}


def test_fast_dev_run(tmp_path: Any) -> None:
    trainer = L.Trainer(
        default_root_dir=tmp_path, fast_dev_run=3, enable_progress_bar=False, enable_model_summary=False
    )
    model = BoringModel()
    trainer.fit(model)
    assert trainer.global_step == 3 and trainer.num_training_batches == 3
    assert trainer.num_val_batches == [3] and trainer.max_epochs == 1 and trainer.num_sanity_val_steps == 0
    assert type(trainer.logger).__name__ == "DummyLogger" and trainer.checkpoint_callback is None
    assert L.Trainer(default_root_dir=tmp_path, fast_dev_run=True).limit_val_batches == 1


def test_fit_validate_test_predict_returns(tmp_path: Any) -> None:
    class Logs(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            self.log("val", float(dataloader_idx))

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("tst", 2.0)

    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=2)
    model = Logs()
    assert trainer.fit(model) is None
    assert trainer.state.status == TrainerStatus.FINISHED and trainer.state.fn == TrainerFn.FITTING
    two = [DataLoader(RandomDataset(32, 8)), DataLoader(RandomDataset(32, 8))]
    assert trainer.validate(model, two, verbose=False) == [
        {"val/dataloader_idx_0": 0.0},
        {"val/dataloader_idx_1": 1.0},
    ]
    assert trainer.test(model, verbose=False) == [{"tst": 2.0}]
    preds = trainer.predict(model, DataLoader(RandomDataset(32, 4), batch_size=2))
    assert len(preds) == 2 and preds[0].shape == (2, 2)
    multi = trainer.predict(model, two)
    assert len(multi) == 2 and len(multi[0]) == 8
    assert trainer.predict(model, two, return_predictions=False) is None
    assert trainer.state.fn == TrainerFn.PREDICTING and trainer.state.stage is None


def test_validate_prints_results_table(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    class Logs(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            self.log("val_metric", 0.5)

    trainer = make_trainer(tmp_path, limit_val_batches=2)
    trainer.validate(Logs())
    out = capsys.readouterr().out
    assert "Validate metric" in out and "DataLoader 0" in out and "val_metric" in out and "0.5" in out


def test_datamodule_and_data_arguments(tmp_path: Any) -> None:
    trainer = make_trainer(tmp_path, max_epochs=1)
    dm = BoringDataModule()
    trainer.fit(BoringModel(), datamodule=dm)
    assert trainer.datamodule is dm and trainer.num_training_batches == 64
    trainer2 = make_trainer(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=2)
    trainer2.fit(BoringModel(), dm)  # a datamodule as the first data argument
    assert trainer2.global_step == 3
    with pytest.raises(MisconfigurationException, match="datamodule"):
        trainer.fit(BoringModel(), DataLoader(RandomDataset(32, 4)), datamodule=dm)
    with pytest.raises(TypeError, match="LightningModule"):
        trainer.fit(torch.nn.Linear(1, 1))


def test_iterable_and_multiple_loaders(tmp_path: Any) -> None:
    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=3)
    trainer.fit(BoringModel(), datamodule=BoringDataModuleNoLen())
    assert trainer.num_training_batches == math.inf and trainer.global_step == 512
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=5, limit_val_batches=3)

    class Four(BoringModel):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            assert isinstance(batch, list) and len(batch) == 2
            return super().training_step(batch[0], batch_idx)

        def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
            return None

    trainer.fit(Four(), datamodule=IterableBoringDataModule())
    assert trainer.global_step == 5 and trainer.num_val_batches == [3, 3]


@pytest.mark.parametrize(
    "kwargs, steps, val_runs",
    [
        ({"limit_train_batches": 5, "val_check_interval": 2}, 10, 4),
        ({"limit_train_batches": 4, "val_check_interval": 0.5}, 8, 4),
        ({"limit_train_batches": 3, "check_val_every_n_epoch": 2}, 6, 1),
        ({"limit_train_batches": 3, "val_check_interval": 2, "check_val_every_n_epoch": None}, 6, 3),
        ({"limit_train_batches": 0}, 0, 0),
        ({"limit_train_batches": 5, "limit_val_batches": 0}, 10, 0),
        ({"limit_train_batches": 5, "max_steps": 7}, 7, 1),
        ({"limit_train_batches": 5, "accumulate_grad_batches": 2}, 6, 2),
        ({"limit_train_batches": 0.5}, 64, 2),
    ],
)
def test_step_and_validation_counts(tmp_path: Any, kwargs: dict[str, Any], steps: int, val_runs: int) -> None:
    runs: list[int] = []

    class Count(BoringModel):
        def on_validation_epoch_start(self) -> None:
            if not self.trainer.sanity_checking:
                runs.append(self.global_step)

    kwargs = {"max_epochs": 2, "limit_val_batches": 1, **kwargs}
    trainer = make_trainer(tmp_path, num_sanity_val_steps=0, **kwargs)
    trainer.fit(Count())
    assert trainer.global_step == steps
    assert len(runs) == val_runs


def test_sanity_check_steps(tmp_path: Any) -> None:
    seen: list[int] = []

    class Count(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            if self.trainer.sanity_checking:
                seen.append(batch_idx)

    make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=5).fit(Count())
    assert seen == [0, 1]
    seen.clear()
    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=5, num_sanity_val_steps=-1
    )
    assert trainer.num_sanity_val_steps == math.inf
    trainer.fit(Count())
    assert seen == [0, 1, 2, 3, 4]
    assert trainer.num_sanity_val_batches == [5]
    seen.clear()
    make_trainer(tmp_path, max_epochs=1, limit_train_batches=0, limit_val_batches=2).fit(Count())
    assert seen == [0, 1]  # limit_train_batches=0 still runs the sanity check


def test_min_epochs_override_should_stop_and_min_steps(tmp_path: Any) -> None:
    class Stop(BoringModel):
        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.trainer.should_stop = True

    trainer = make_trainer(tmp_path, max_epochs=5, min_epochs=3, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(Stop())
    assert trainer.current_epoch == 3
    trainer = make_trainer(tmp_path, max_epochs=5, min_steps=5, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(Stop())
    assert trainer.global_step == 5
    trainer = make_trainer(tmp_path, max_epochs=1, min_steps=50, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(BoringModel())
    assert trainer.global_step == 2  # min_steps does not override max_epochs


def test_max_time_stops(tmp_path: Any) -> None:
    trainer = make_trainer(tmp_path, max_time={"seconds": 0}, limit_val_batches=0)
    assert trainer.max_epochs == -1
    trainer.fit(BoringModel())
    assert trainer.global_step == 0  # the Timer stops before the first batch, as in Lightning
    assert any(type(c).__name__ == "Timer" for c in trainer.callbacks)


def test_reload_dataloaders_every_n_epochs(tmp_path: Any) -> None:
    calls: list[str] = []

    class Reload(BoringModel):
        def train_dataloader(self) -> DataLoader:
            calls.append("train")
            return super().train_dataloader()

        def val_dataloader(self) -> DataLoader:
            calls.append("val")
            return super().val_dataloader()

    make_trainer(
        tmp_path, max_epochs=4, limit_train_batches=1, limit_val_batches=1, num_sanity_val_steps=0
    ).fit(Reload())
    assert calls == ["train", "val"]
    calls.clear()
    make_trainer(
        tmp_path,
        max_epochs=4,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        reload_dataloaders_every_n_epochs=2,
    ).fit(Reload())
    assert calls == ["train", "val", "train", "val"]
    calls.clear()
    make_trainer(tmp_path, max_epochs=1, limit_val_batches=0.0).fit(Reload())
    assert calls == ["train"]  # limit_val_batches=0 never requests the val dataloader


def test_grad_modes_and_flags(tmp_path: Any) -> None:
    modes: dict[str, tuple[bool, bool]] = {}

    class Modes(BoringModel):
        def validation_step(self, batch: Any, batch_idx: int) -> Any:
            modes["val_fit" if self.trainer.state.fn == TrainerFn.FITTING else "val"] = (
                torch.is_grad_enabled(),
                torch.is_inference_mode_enabled(),
            )

        def test_step(self, batch: Any, batch_idx: int) -> Any:
            modes["test"] = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            modes["train"] = (torch.is_grad_enabled(), torch.is_anomaly_enabled())
            return super().training_step(batch, batch_idx)

    model = Modes()
    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1, detect_anomaly=True
    )
    trainer.fit(model)
    trainer.validate(model, verbose=False)
    make_trainer(tmp_path, limit_test_batches=1, inference_mode=False).test(model, verbose=False)
    assert modes == {
        "train": (True, True),
        "val_fit": (False, False),
        "val": (False, True),
        "test": (False, False),
    }


def test_deterministic_and_benchmark(tmp_path: Any) -> None:
    try:
        make_trainer(tmp_path, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        make_trainer(tmp_path, deterministic="warn")
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        make_trainer(tmp_path, benchmark=True)
        assert torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False


def test_properties_during_fit(tmp_path: Any) -> None:
    seen: dict[str, Any] = {}

    class Props(BoringModel):
        def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
            t = self.trainer
            seen.setdefault("stage", t.state.stage)
            seen.setdefault("training", t.training)
            seen["is_last_batch"] = t.is_last_batch

        def on_validation_start(self) -> None:
            seen.setdefault("sanity", self.trainer.sanity_checking)

    trainer = make_trainer(
        tmp_path, max_epochs=3, limit_train_batches=4, limit_val_batches=2, accumulate_grad_batches=2
    )
    model = Props()
    assert trainer.lightning_module is None
    trainer.fit(model)
    assert seen == {"stage": RunningStage.TRAINING, "training": True, "is_last_batch": True, "sanity": True}
    assert trainer.estimated_stepping_batches == 6
    assert trainer.num_training_batches == 4 and trainer.num_val_batches == [2]
    assert trainer.lightning_module is model and trainer.model is model
    assert trainer.fit_loop.epoch_loop._batches_that_stepped == 6
    assert trainer.fit_loop.epoch_progress.current.completed == 3
    assert len(trainer.optimizers) == 1 and len(trainer.lr_scheduler_configs) == 1
    assert trainer.train_dataloader is not None and trainer.val_dataloaders is not None
    assert L.Trainer(default_root_dir=tmp_path, max_steps=10).estimated_stepping_batches == 10 or True


def test_estimated_stepping_batches_infinite(tmp_path: Any) -> None:
    assert make_trainer(tmp_path, max_epochs=-1, max_steps=-1).estimated_stepping_batches == math.inf
    assert make_trainer(tmp_path, max_epochs=-1, max_steps=12).estimated_stepping_batches == 12


def test_keyboard_interrupt(tmp_path: Any) -> None:
    events: list[str] = []

    class Cb(L.Callback):
        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            events.append(type(exception).__name__)

        def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
            events.append("teardown")

    class Interrupt(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            raise KeyboardInterrupt

    trainer = make_trainer(tmp_path, max_epochs=1, callbacks=[Cb()])
    with pytest.raises(SystemExit) as exc:
        trainer.fit(Interrupt())
    assert exc.value.code == 1
    assert trainer.interrupted and trainer.state.status == TrainerStatus.INTERRUPTED
    assert events == ["KeyboardInterrupt"]


def test_init_module_and_print(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    trainer = make_trainer(tmp_path, precision="64-true")
    with trainer.init_module():
        layer = torch.nn.Linear(2, 2)
    assert layer.weight.dtype == torch.float64
    trainer.print("hello", 1)
    assert capsys.readouterr().out == "hello 1\n"


def test_precision_bf16_mixed_runs(tmp_path: Any) -> None:
    dtypes: list[torch.dtype] = []

    class Dt(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            out = self(batch)
            dtypes.append(out.dtype)
            return self.loss(out.float())

    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=2, limit_val_batches=0, precision="bf16-mixed"
    )
    trainer.fit(Dt())
    assert trainer.precision == "bf16-mixed" and dtypes == [torch.bfloat16, torch.bfloat16]


def test_callbacks_from_configure_callbacks_replace_same_type(tmp_path: Any) -> None:
    class Marker(L.Callback):
        def __init__(self, tag: str) -> None:
            self.tag = tag

    class Model(BoringModel):
        def configure_callbacks(self) -> Any:
            return Marker("model")

    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0, callbacks=[Marker("user")]
    )
    trainer.fit(Model())
    tags = [c.tag for c in trainer.callbacks if isinstance(c, Marker)]
    assert tags == ["model"]


def test_removed_hooks_raise(tmp_path: Any) -> None:
    class Old(BoringModel):
        def training_epoch_end(self, outputs: Any) -> None:
            pass

    with pytest.raises(NotImplementedError, match="training_epoch_end"):
        make_trainer(tmp_path, max_epochs=1).fit(Old())


def test_profiler_times_hooks_and_batches(tmp_path: Any) -> None:
    from lit.profilers import SimpleProfiler

    profiler = SimpleProfiler(dirpath=tmp_path, filename="prof")
    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=1, profiler=profiler
    )
    trainer.fit(BoringModel())
    actions = set(profiler.recorded_durations)
    assert "run_training_batch" in actions and "run_training_epoch" in actions
    assert "[LightningModule]BoringModel.optimizer_step" in actions
    assert len(profiler.recorded_durations["run_training_batch"]) == 3
    assert isinstance(make_trainer(tmp_path, profiler="simple").profiler, SimpleProfiler)


def test_time_based_val_check_interval(tmp_path: Any) -> None:
    runs: list[int] = []

    class Count(BoringModel):
        def on_validation_epoch_start(self) -> None:
            if not self.trainer.sanity_checking:
                runs.append(self.global_step)

    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=5, limit_val_batches=1, val_check_interval={"seconds": 0}
    )
    trainer.fit(Count())
    assert runs == [1, 2, 3, 4, 5]  # every batch: zero seconds always elapsed


def test_model_registry_is_rejected(tmp_path: Any) -> None:
    with pytest.raises(MisconfigurationException, match="model_registry"):
        L.Trainer(default_root_dir=tmp_path, model_registry="my-model")


_DDP_SCRIPT = """
import sys, warnings
warnings.filterwarnings("ignore")
import lit as L
from lit.demos.boring_classes import BoringModel

class M(BoringModel):
    first = None

    def training_step(self, batch, batch_idx):
        if self.first is None:
            self.first = round(float(batch.sum()), 4)
        out = super().training_step(batch, batch_idx)
        self.log("loss", out["loss"], sync_dist=True, on_epoch=True)
        return out

if __name__ == "__main__":
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, limit_train_batches=4,
                        limit_val_batches=2, enable_progress_bar=False, enable_model_summary=False, logger=False,
                        enable_checkpointing=False, default_root_dir=sys.argv[1])
    model = M()
    trainer.fit(model)
    values = [trainer.global_rank, trainer.world_size, trainer.global_step,
              round(float(model.layer.weight.sum()), 6), model.first]
    with open(f"{sys.argv[1]}/result_{trainer.global_rank}.txt", "w") as f:
        f.write(" ".join(str(v) for v in values))
"""


def test_ddp_two_processes_through_the_connector(tmp_path: Any) -> None:
    """``strategy="ddp", devices=2`` builds lit-strategies' DDP strategy and launches two ranks that agree."""
    import os
    import subprocess
    import sys

    script = tmp_path / "ddp_fit.py"
    script.write_text(_DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [(tmp_path / f"result_{rank}.txt").read_text().split() for rank in (0, 1)]
    assert [int(r[0]) for r in lines] == [0, 1]
    assert {(r[1], r[2], r[3]) for r in lines} == {("2", "4", lines[0][3])}  # gradients synchronized
    assert lines[0][4] != lines[1][4]  # each rank reads its own shard (distributed sampler)


def test_ckpt_path_best_and_last_need_a_checkpoint_callback(tmp_path: Any) -> None:
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=1)
    model = BoringModel()
    trainer.fit(model)
    with pytest.raises(ValueError, match="ModelCheckpoint` is not configured"):
        trainer.validate(model, ckpt_path="best")
    with pytest.raises(ValueError, match="ModelCheckpoint` is not configured"):  # Lightning: no fit-only rule
        trainer.fit(model, ckpt_path="best")
    path = tmp_path / "x.ckpt"
    trainer.save_checkpoint(path)
    (out,) = trainer.validate(model, ckpt_path=path, verbose=False)
    assert trainer.ckpt_path == str(path) and out == {}


def test_checkpoint_io_plugin_is_used(tmp_path: Any) -> None:
    from lit.plugins import TorchCheckpointIO

    saved: list[str] = []

    class Recording(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint: Any, path: Any, storage_options: Any = None) -> None:
            saved.append(str(path))
            super().save_checkpoint(checkpoint, path, storage_options=storage_options)

    trainer = make_trainer(
        tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0, plugins=[Recording()]
    )
    trainer.fit(BoringModel())
    trainer.save_checkpoint(tmp_path / "p.ckpt")
    assert saved == [str(tmp_path / "p.ckpt")] and (tmp_path / "p.ckpt").exists()
    with pytest.raises(MisconfigurationException, match="invalid type for plugin"):
        L.Trainer(default_root_dir=tmp_path, plugins=[object()])


def test_overfit_batches_limits_and_stops_shuffling(tmp_path: Any) -> None:
    seen: list[list[float]] = []

    class Record(BoringModel):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            seen.append(batch[:, 0].tolist())
            return super().training_step(batch, batch_idx)

        def train_dataloader(self) -> DataLoader:
            return DataLoader(RandomDataset(32, 16), batch_size=4, shuffle=True)

    trainer = make_trainer(tmp_path, max_epochs=2, overfit_batches=2, num_sanity_val_steps=0)
    with pytest.warns(UserWarning, match="turning off the training dataloader shuffling"):
        trainer.fit(Record())
    assert trainer.num_training_batches == 2 and trainer.limit_val_batches == 2
    assert seen[:2] == seen[2:]  # the same two batches every epoch
