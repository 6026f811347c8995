"""LightningModule features outside the loops: hyper-parameters, device/dtype, exports, checkpoints."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from conftest import make_trainer

import lit as L
from lit.demos.boring_classes import BoringModel


class HParams(BoringModel):
    def __init__(self, width: int = 4, name: str = "x", big: Any = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["big"])
        self.layer = torch.nn.Linear(32, 2)


def test_save_hyperparameters_and_ignore() -> None:
    model = HParams(width=7, big=torch.zeros(3))
    assert dict(model.hparams) == {"width": 7, "name": "x"}
    assert model.hparams.width == 7
    model.hparams.width = 9
    assert model.hparams_initial["width"] == 7


def test_save_hyperparameters_dataclass() -> None:
    @dataclass
    class Config(BoringModel):
        lr: float = 0.1

        def __post_init__(self) -> None:
            super().__init__()
            self.save_hyperparameters()

    assert dict(Config(lr=0.3).hparams) == {"lr": 0.3}


def test_device_dtype_mixin() -> None:
    model = BoringModel()
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    model.double()
    assert model.dtype == torch.float64 and model.layer.weight.dtype == torch.float64
    model.to(torch.float16)
    assert model.dtype == torch.float16
    model.half().float()
    assert model.dtype == torch.float32
    with pytest.raises(RuntimeError, match="Cannot set the dtype"):
        model.dtype = torch.float64  # type: ignore[misc]


def test_trainer_property_and_defaults_when_unattached() -> None:
    model = BoringModel()
    with pytest.raises(RuntimeError, match="is not attached to a `Trainer`"):
        _ = model.trainer
    assert (
        model.current_epoch == 0 and model.global_step == 0 and model.logger is None and model.loggers == []
    )
    assert model.automatic_optimization and model.example_input_array is None


def test_attached_properties(tmp_path: Any) -> None:
    seen: dict[str, Any] = {}

    class Props(BoringModel):
        def on_train_epoch_end(self) -> None:
            seen["epoch"] = self.current_epoch
            seen["step"] = self.global_step
            seen["trainer"] = self.trainer
            seen["gathered"] = self.all_gather(torch.tensor([1.0, 2.0]))

    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=3, limit_val_batches=0)
    trainer.fit(Props())
    assert seen["epoch"] == 1 and seen["step"] == 6 and seen["trainer"] is trainer
    assert torch.equal(seen["gathered"], torch.tensor([1.0, 2.0]))


def test_freeze_unfreeze() -> None:
    model = BoringModel()
    assert model.freeze() is model
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    model.unfreeze()
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_print_and_example_input(capsys: pytest.CaptureFixture[str]) -> None:
    model = BoringModel()
    model.print("hi")
    assert capsys.readouterr().out == "hi\n"
    model.example_input_array = torch.randn(2, 32)
    assert model.example_input_array.shape == (2, 32)


def test_to_torchscript(tmp_path: Any) -> None:
    model = BoringModel()
    x = torch.randn(3, 32)
    scripted = model.to_torchscript()
    torch.testing.assert_close(scripted(x), model(x))
    model.example_input_array = x
    path = tmp_path / "m.pt"
    traced = model.to_torchscript(file_path=path, method="trace")
    torch.testing.assert_close(torch.jit.load(str(path))(x), traced(x))
    with pytest.raises(ValueError, match="'script' or 'trace'"):
        model.to_torchscript(method="compile")


def test_to_onnx_requires_onnx(tmp_path: Any) -> None:
    model = BoringModel()
    if importlib.util.find_spec("onnx") is None:
        with pytest.raises(ModuleNotFoundError, match="onnx"):
            model.to_onnx(tmp_path / "m.onnx", torch.randn(1, 32))
    else:  # pragma: no cover - depends on the environment
        model.to_onnx(tmp_path / "m.onnx", torch.randn(1, 32))
        assert (tmp_path / "m.onnx").exists()


def test_save_checkpoint_keys_and_load_from_checkpoint(tmp_path: Any) -> None:
    model = HParams(width=5)
    trainer = make_trainer(tmp_path, max_epochs=2, limit_train_batches=2, limit_val_batches=0)
    trainer.fit(model)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert {"epoch", "global_step", "pytorch-lightning_version", "state_dict", "loops", "callbacks",
            "optimizer_states", "lr_schedulers", "hyper_parameters"} <= set(ckpt)  # fmt: skip
    assert (
        ckpt["global_step"] == 4
        and ckpt["epoch"] == 2
        and ckpt["pytorch-lightning_version"].startswith("2.6")
    )
    assert ckpt["hyper_parameters"] == {"width": 5, "name": "x"}
    assert ckpt["loops"]["fit_loop"]["epoch_loop.state_dict"] == {"_batches_that_stepped": 4}
    restored = HParams.load_from_checkpoint(path)
    assert restored.hparams.width == 5
    torch.testing.assert_close(restored.layer.weight, model.layer.weight)
    with pytest.raises(TypeError, match="cannot be called on an instance"):
        model.load_from_checkpoint(path)


def test_resume_from_checkpoint_continues_counters(tmp_path: Any) -> None:
    model = BoringModel()
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=0)
    trainer.fit(model)
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    resumed = make_trainer(tmp_path, max_epochs=2, limit_train_batches=3, limit_val_batches=0)
    resumed.fit(BoringModel(), ckpt_path=path)
    assert resumed.global_step == 6 and resumed.current_epoch == 2


def test_lit_exposes_lightning_module_tree() -> None:
    from lit.callbacks import Callback, EarlyStopping
    from lit.callbacks.progress import TQDMProgressBar
    from lit.core.hooks import ModelHooks
    from lit.core.mixins.hparams_mixin import HyperparametersMixin
    from lit.loggers import CSVLogger
    from lit.trainer.states import TrainerFn
    from lit.utilities import rank_zero_only
    from lit.utilities.model_helpers import is_overridden
    from lit.utilities.rank_zero import rank_zero_warn
    from lit.utilities.seed import seed_everything

    assert Callback is L.Callback and issubclass(EarlyStopping, Callback) and TQDMProgressBar and CSVLogger
    assert issubclass(L.LightningModule, ModelHooks) and issubclass(L.LightningModule, HyperparametersMixin)
    assert TrainerFn.FITTING == "fit" and callable(rank_zero_only) and callable(rank_zero_warn)
    assert is_overridden("training_step", BoringModel())
    assert seed_everything is L.seed_everything


def test_seed_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import random

    import numpy as np

    monkeypatch.delenv("PL_GLOBAL_SEED", raising=False)
    monkeypatch.delenv("PL_SEED_WORKERS", raising=False)
    assert L.seed_everything(123, workers=True, verbose=False) == 123
    assert os.environ["PL_GLOBAL_SEED"] == "123" and os.environ["PL_SEED_WORKERS"] == "1"
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    L.seed_everything(123, verbose=False)
    assert a == (random.random(), np.random.rand(), torch.rand(1).item())
    monkeypatch.setenv("PL_GLOBAL_SEED", "7")
    assert L.seed_everything(verbose=False) == 7


def test_boring_classes(tmp_path: Any) -> None:
    from lit.demos.boring_classes import (
        DemoModel,
        RandomDictDataset,
        RandomIterableDataset,
        RandomIterableDatasetWithLen,
    )

    d = RandomDictDataset(4, 3)
    assert len(d) == 3 and torch.equal(d[0]["b"], d[0]["a"] + 2)
    assert len(list(RandomIterableDataset(4, 5))) == 5 and len(RandomIterableDatasetWithLen(4, 6)) == 6
    model = DemoModel(out_dim=3)
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=2)
    trainer.fit(model, torch.utils.data.DataLoader(RandomIterableDatasetWithLen(32, 8), batch_size=4))
    assert trainer.global_step == 2 and isinstance(trainer.optimizers[0], torch.optim.Adam)
    out = trainer.validate(BoringModel(), verbose=False)
    assert out == [{}]


def test_import_lit_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lit\n"
        "heavy = [m for m in ('lit_loops', 'lit_callbacks', 'lit_loggers', 'lit_strategies', 'tensorboard', 'rich')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
        "lit.Trainer\n"
        "print('lit_loops' in sys.modules, 'tensorboard' in sys.modules, 'rich' in sys.modules)\n"
    )
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    lines = out.stdout.strip().splitlines()
    assert lines == ["[]", "True False False"]


# ``loops`` entry of the checkpoint Lightning 2.6.5 writes from ``on_train_epoch_end`` of epoch 1 (2 epochs x 4
# train batches, 2 validation batches, BoringModel with its per-epoch StepLR).
REFERENCE_LOOPS = {
    "fit_loop": {
        "epoch_loop.automatic_optimization.optim_progress": {
            "optimizer": {
                "step": {"current": {"completed": 4, "ready": 4}, "total": {"completed": 8, "ready": 8}},
                "zero_grad": {
                    "current": {"completed": 4, "ready": 4, "started": 4},
                    "total": {"completed": 8, "ready": 8, "started": 8},
                },
            }
        },
        "epoch_loop.automatic_optimization.state_dict": {},
        "epoch_loop.batch_progress": {
            "current": {"completed": 4, "processed": 4, "ready": 4, "started": 4},
            "is_last_batch": True,
            "total": {"completed": 8, "processed": 8, "ready": 8, "started": 8},
        },
        "epoch_loop.manual_optimization.optim_step_progress": {
            "current": {"completed": 0, "ready": 0},
            "total": {"completed": 0, "ready": 0},
        },
        "epoch_loop.manual_optimization.state_dict": {},
        "epoch_loop.scheduler_progress": {
            "current": {"completed": 1, "ready": 1},
            "total": {"completed": 2, "ready": 2},
        },
        "epoch_loop.state_dict": {"_batches_that_stepped": 8},
        "epoch_loop.val_loop.batch_progress": {
            "current": {"completed": 2, "processed": 2, "ready": 2, "started": 2},
            "is_last_batch": True,
            "total": {"completed": 2, "processed": 2, "ready": 2, "started": 2},
        },
        "epoch_loop.val_loop.state_dict": {},
        "epoch_progress": {
            "current": {"completed": 1, "processed": 2, "ready": 2, "started": 2},
            "total": {"completed": 1, "processed": 2, "ready": 2, "started": 2},
        },
        "state_dict": {},
    },
    "predict_loop": {
        "batch_progress": {
            "current": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
            "total": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
        },
        "state_dict": {},
    },
    "test_loop": {
        "batch_progress": {
            "current": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
            "is_last_batch": False,
            "total": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
        },
        "state_dict": {},
    },
    "validate_loop": {
        "batch_progress": {
            "current": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
            "is_last_batch": False,
            "total": {"completed": 0, "processed": 0, "ready": 0, "started": 0},
        },
        "state_dict": {},
    },
}


def test_checkpoint_loops_tree_matches_reference(tmp_path: Any) -> None:
    path = tmp_path / "epoch1.ckpt"

    class Save(L.Callback):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                trainer.save_checkpoint(path)

    trainer = make_trainer(
        tmp_path, max_epochs=2, limit_train_batches=4, limit_val_batches=2, callbacks=[Save()]
    )
    trainer.fit(BoringModel())
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["global_step"] == 8
    assert ckpt["loops"] == REFERENCE_LOOPS
    assert {
        "callbacks",
        "epoch",
        "global_step",
        "loops",
        "lr_schedulers",
        "optimizer_states",
        "pytorch-lightning_version",
        "state_dict",
    } <= set(ckpt)


def test_mid_epoch_resume_gives_same_weights(tmp_path: Any) -> None:
    """A checkpoint saved in ``on_train_batch_end`` resumes inside the epoch (no sanity check, no repeated
    epoch start) and ends with the weights of the uninterrupted run (deterministic data order)."""
    from torch.utils.data import DataLoader

    from lit.demos.boring_classes import RandomDataset

    torch.manual_seed(0)
    data = RandomDataset(32, 8)
    path = tmp_path / "mid.ckpt"
    events: list[str] = []

    class Model(BoringModel):
        def train_dataloader(self) -> DataLoader:
            return DataLoader(data, batch_size=2)

        def val_dataloader(self) -> DataLoader:
            return DataLoader(data, batch_size=4)

    class Save(L.Callback):
        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            if trainer.current_epoch == 0 and batch_idx == 1:
                trainer.save_checkpoint(path)

    class Record(L.Callback):
        def on_sanity_check_start(self, trainer: Any, pl_module: Any) -> None:
            events.append("sanity")

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            events.append(f"epoch{trainer.current_epoch}")

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            events.append(f"b{batch_idx}")

    torch.manual_seed(1)
    reference = Model()
    make_trainer(tmp_path, max_epochs=2, callbacks=[Save()]).fit(reference)
    torch.manual_seed(2)
    resumed = Model()
    trainer = make_trainer(tmp_path, max_epochs=2, callbacks=[Record()])
    trainer.fit(resumed, ckpt_path=path)
    assert events == ["b2", "b3", "epoch1", "b0", "b1", "b2", "b3"]
    assert trainer.global_step == 8 and trainer.current_epoch == 2
    assert trainer.fit_loop.epoch_loop._batches_that_stepped == 8
    torch.testing.assert_close(resumed.layer.weight, reference.layer.weight)
    torch.testing.assert_close(resumed.layer.bias, reference.layer.bias)
