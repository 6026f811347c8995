"""Exact resume: a run resumed from a checkpoint taken at any batch ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import make_trainer
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, Dataset

import lit as L
from lit.trainer.checkpoint import RESUME_KEY

N_SAMPLES = 24


class _Indexed(Dataset):
    """Deterministic samples (no randomness in ``__getitem__``): any batch order difference shows in the weights."""

    def __init__(self, n: int = N_SAMPLES) -> None:
        g = torch.Generator().manual_seed(1234)
        self.x = torch.randn(n, 8, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class _Model(L.LightningModule):
    """Dropout plus NumPy and ``random`` draws in every step: each global random stream feeds the loss."""

    def __init__(self, shuffle: bool = True, workers: int = 0) -> None:
        super().__init__()
        self.shuffle = shuffle
        self.workers = workers
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.Linear(16, 1))

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        jitter = float(np.random.rand()) * 1e-3 + random.random() * 1e-3
        loss = (self.net(batch) ** 2).mean() + jitter
        self.log("train_loss", loss, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val_loss", (self.net(batch) ** 2).mean())

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.parameters(), lr=0.01)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.7)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            _Indexed(),
            batch_size=4,
            shuffle=self.shuffle,
            num_workers=self.workers,
            persistent_workers=self.workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Indexed(8), batch_size=4)


class _MetricsLog(L.loggers.Logger):
    """Records every ``log_metrics`` call as (step, name, value bits)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int | None, str, float]] = []

    @property
    def name(self) -> str:
        return "rec"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for k, v in sorted(metrics.items()):
            self.calls.append((step, k, float(v)))


class _SaveAt(L.Callback):
    """Saves a checkpoint after global batch ``at`` (0-based, counted across epochs), or at an epoch's end."""

    def __init__(self, path: Path, at: int, at_epoch_end: bool) -> None:
        self.path = path
        self.at = at
        self.at_epoch_end = at_epoch_end
        self.seen = 0
        self.calls_before = -1

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.seen += 1
        if not self.at_epoch_end and self.seen == self.at + 1:
            trainer.save_checkpoint(self.path)
            self.calls_before = len(trainer.logger.calls)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.at_epoch_end and trainer.current_epoch == self.at:
            trainer.save_checkpoint(self.path)
            self.calls_before = len(trainer.logger.calls)


def _trainer(tmp_path: Path, logger: _MetricsLog, callbacks: list[Any], **kwargs: Any) -> L.Trainer:
    return make_trainer(
        tmp_path,
        logger=logger,
        callbacks=callbacks,
        log_every_n_steps=1,
        num_sanity_val_steps=0,
        **kwargs,
    )


def _run_pair(
    tmp_path: Path,
    *,
    epochs: int,
    stop: int,
    at_epoch_end: bool,
    accumulate: int,
    shuffle: bool,
    workers: int,
    val_check_interval: float = 1.0,
) -> None:
    ckpt = tmp_path / "mid.ckpt"
    kwargs = {
        "max_epochs": epochs,
        "accumulate_grad_batches": accumulate,
        "val_check_interval": val_check_interval,
    }
    # uninterrupted run; the callback only writes a checkpoint on the way
    L.seed_everything(7, verbose=False)
    full_log = _MetricsLog()
    saver = _SaveAt(ckpt, stop, at_epoch_end)
    full_model = _Model(shuffle, workers)
    full = _trainer(tmp_path, full_log, [saver], **kwargs)
    full.fit(full_model)
    assert ckpt.exists() and saver.calls_before >= 0

    # a fresh process would start from other random states: scramble them all before resuming
    torch.manual_seed(999)
    np.random.seed(999)
    random.seed(999)
    resumed_log = _MetricsLog()
    resumed_model = _Model(shuffle, workers)
    resumed = _trainer(tmp_path, resumed_log, [], **kwargs)
    resumed.fit(resumed_model, ckpt_path=ckpt)

    for (k, a), (k2, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    opt_a, opt_b = full.optimizers[0].state_dict(), resumed.optimizers[0].state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for idx, state in opt_a["state"].items():
        for name, value in state.items():
            assert torch.equal(value, opt_b["state"][idx][name]), (idx, name)
    assert (
        full.lr_scheduler_configs[0].scheduler.state_dict()
        == resumed.lr_scheduler_configs[0].scheduler.state_dict()
    )
    assert full.global_step == resumed.global_step and full.current_epoch == resumed.current_epoch
    # what the resumed run logs is exactly what the uninterrupted run logged after the checkpoint, except the
    # metrics of the saving step itself, which the uninterrupted run logs right after its ``*_end`` hooks
    after = full_log.calls[saver.calls_before :]
    missing = after[: len(after) - len(resumed_log.calls)]
    assert resumed_log.calls == after[len(missing) :]
    assert len(missing) <= 2 and len({step for step, _, _ in missing}) <= 1, missing


def test_mid_epoch_resume_with_shuffling_is_bit_exact(tmp_path: Path) -> None:
    _run_pair(tmp_path, epochs=2, stop=2, at_epoch_end=False, accumulate=1, shuffle=True, workers=0)


def test_resume_from_epoch_end_is_bit_exact(tmp_path: Path) -> None:
    _run_pair(tmp_path, epochs=3, stop=0, at_epoch_end=True, accumulate=2, shuffle=True, workers=0)


def test_mid_epoch_resume_with_accumulation_and_mid_epoch_validation(tmp_path: Path) -> None:
    _run_pair(
        tmp_path,
        epochs=2,
        stop=7,
        at_epoch_end=False,
        accumulate=3,
        shuffle=True,
        workers=0,
        val_check_interval=0.5,
    )


@pytest.mark.slow
def test_mid_epoch_resume_with_workers_is_bit_exact(tmp_path: Path) -> None:
    _run_pair(tmp_path, epochs=2, stop=4, at_epoch_end=False, accumulate=1, shuffle=True, workers=2)


@settings(
    max_examples=6,
    deadline=None,
    phases=[
        Phase.explicit,
        Phase.reuse,
        Phase.generate,
    ],  # a failing case prints as is: shrinking takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@example(epochs=2, stop_frac=0.0, at_epoch_end=True, accumulate=1, shuffle=False, workers=1)
@example(
    epochs=2, stop_frac=0.48, at_epoch_end=False, accumulate=4, shuffle=True, workers=0
)  # an epoch's last batch
@given(
    epochs=st.integers(1, 3),
    stop_frac=st.floats(0.0, 0.999),
    at_epoch_end=st.booleans(),
    accumulate=st.sampled_from([1, 2, 4]),
    shuffle=st.booleans(),
    workers=st.sampled_from([0, 0, 0, 0, 0, 0, 0, 1]),  # worker processes are slow to start: a few cases only
)
def test_resume_anywhere_matches_uninterrupted_run(
    tmp_path: Path,
    epochs: int,
    stop_frac: float,
    at_epoch_end: bool,
    accumulate: int,
    shuffle: bool,
    workers: int,
) -> None:
    batches_per_epoch = N_SAMPLES // 4
    if at_epoch_end:
        if epochs == 1:
            epochs = 2
        stop = int(stop_frac * (epochs - 1))  # an epoch that is not the last
    else:
        stop = int(stop_frac * (epochs * batches_per_epoch - 1))  # any batch but the very last one
    run_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    _run_pair(
        run_dir,
        epochs=epochs,
        stop=stop,
        at_epoch_end=at_epoch_end,
        accumulate=accumulate,
        shuffle=shuffle,
        workers=workers,
    )


def test_checkpoint_carries_rng_and_data_position(tmp_path: Path) -> None:
    ckpt = tmp_path / "a.ckpt"
    L.seed_everything(3, verbose=False)
    model = _Model()
    trainer = _trainer(tmp_path, _MetricsLog(), [_SaveAt(ckpt, 2, False)], max_epochs=1)
    trainer.fit(model)
    checkpoint = torch.load(ckpt, weights_only=True)
    state = checkpoint[RESUME_KEY]
    assert set(state["rng"]) >= {"torch", "numpy", "python"}
    assert state["fit_data"]["batches_consumed"] == 3
    assert state["fit_data"]["record"]["torch"] is not None  # the shuffled pass's starting state


def test_lightning_checkpoint_without_lit_state_still_resumes(tmp_path: Path) -> None:
    """A checkpoint without lit's resume key (as Lightning writes it) falls back to skipping batches."""
    ckpt = tmp_path / "a.ckpt"
    model = _Model(shuffle=False)
    trainer = _trainer(tmp_path, _MetricsLog(), [_SaveAt(ckpt, 2, False)], max_epochs=1)
    trainer.fit(model)
    checkpoint = torch.load(ckpt, weights_only=True)
    del checkpoint[RESUME_KEY]
    torch.save(checkpoint, ckpt)
    resumed = _trainer(tmp_path, _MetricsLog(), [], max_epochs=1)
    with pytest.warns(Warning, match="first 3 batches"):
        resumed.fit(_Model(shuffle=False), ckpt_path=ckpt)
    assert resumed.global_step == N_SAMPLES // 4


# ------------------------------------------------------------------------------------- ckpt_path and load hooks
class _Order(L.Callback):
    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.count = 0

    @property
    def state_key(self) -> str:
        return "Order"

    def state_dict(self) -> dict[str, Any]:
        self.events.append("Callback.state_dict")
        return {"count": self.count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events.append("Callback.load_state_dict")
        self.count = state_dict["count"]

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        self.events.append("Callback.on_save_checkpoint")

    def on_load_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: dict[str, Any]) -> None:
        self.events.append("Callback.on_load_checkpoint")


class _Data(L.LightningDataModule):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events
        self.seen = 0

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Indexed(8), batch_size=4)

    def state_dict(self) -> dict[str, Any]:
        self.events.append("DataModule.state_dict")
        return {"seen": 5}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.events.append("DataModule.load_state_dict")
        self.seen = state_dict["seen"]


class _HookModel(_Model):
    def __init__(self, events: list[str]) -> None:
        super().__init__(shuffle=False)
        self.events = events

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.events.append("Module.on_save_checkpoint")
        checkpoint["extra"] = 1

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.events.append(f"Module.on_load_checkpoint extra={checkpoint.get('extra')}")


def test_save_and_load_hooks_of_module_datamodule_and_callbacks_in_lightning_order(tmp_path: Path) -> None:
    events: list[str] = []
    trainer = make_trainer(tmp_path, max_steps=1, callbacks=[_Order(events)])
    trainer.fit(_HookModel(events), datamodule=_Data(events))
    events.clear()
    path = tmp_path / "hooks.ckpt"
    trainer.save_checkpoint(path)
    assert events == [
        "Callback.state_dict",
        "DataModule.state_dict",
        "Callback.on_save_checkpoint",
        "Module.on_save_checkpoint",
    ]
    events.clear()
    data = _Data(events)
    order = _Order(events)
    resumed = make_trainer(tmp_path, max_steps=2, callbacks=[order])
    resumed.fit(_HookModel(events), datamodule=data, ckpt_path=path)
    loading = [e for e in events if "load" in e]
    assert loading == [
        "Module.on_load_checkpoint extra=1",
        "DataModule.load_state_dict",
        "Callback.on_load_checkpoint",
        "Callback.load_state_dict",
    ]
    assert data.seen == 5 and resumed.global_step == 2


def test_missing_callback_state_warns(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=1, callbacks=[_Order([])])
    trainer.fit(_Model(shuffle=False))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    with pytest.warns(UserWarning, match=r"Please add the following callbacks: \['Order'\]"):
        make_trainer(tmp_path, max_steps=2).fit(_Model(shuffle=False), ckpt_path=path)


def test_ckpt_path_rules_for_none_best_last(tmp_path: Path) -> None:
    ckpt_cb = L.callbacks.ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    trainer = make_trainer(tmp_path, max_epochs=1, enable_checkpointing=True, callbacks=[ckpt_cb])
    model = _Model(shuffle=False)
    trainer.fit(model)
    # no model passed: the best checkpoint of the previous fit, with Lightning's warning
    with pytest.warns(UserWarning, match=r"`.validate\(ckpt_path=None\)` was called without a model"):
        trainer.validate(verbose=False)
    assert trainer.ckpt_path == ckpt_cb.best_model_path
    # a model passed and no path: no checkpoint
    trainer.validate(model, verbose=False)
    assert trainer.ckpt_path is None
    trainer.validate(model, ckpt_path="last", verbose=False)
    assert trainer.ckpt_path == str(tmp_path / "ck" / "last.ckpt")
    # "last" with nothing saved yet: a warning, and nothing is loaded
    fresh = make_trainer(tmp_path, max_steps=1, enable_checkpointing=True,
                         callbacks=[L.callbacks.ModelCheckpoint(dirpath=tmp_path / "none")])  # fmt: skip
    with pytest.warns(UserWarning, match='ckpt_path="last"\\) is set, but there is no last checkpoint'):
        fresh.fit(_Model(shuffle=False), ckpt_path="last")
    assert fresh.ckpt_path is None and fresh.global_step == 1
    with pytest.raises(ValueError, match="not configured"):
        make_trainer(tmp_path, max_steps=1).fit(_Model(), ckpt_path="best")


class _Opaque:
    """Not plain data: safe loading refuses it."""

    def __init__(self, value: int = 3) -> None:
        self.value = value


def test_weights_only_is_passed_through(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=1)
    trainer.fit(_Model(shuffle=False))
    path = tmp_path / "opaque.ckpt"
    trainer.save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["opaque"] = _Opaque()
    torch.save(checkpoint, path)
    with pytest.raises(RuntimeError, match="safe loading"):
        make_trainer(tmp_path, max_steps=2).fit(_Model(shuffle=False), ckpt_path=path)
    trusted = make_trainer(tmp_path, max_steps=2)
    trusted.fit(_Model(shuffle=False), ckpt_path=path, weights_only=False)
    assert trusted.global_step == 2
    (out,) = trusted.validate(_Model(shuffle=False), ckpt_path=path, weights_only=False, verbose=False)
    assert "val_loss" in out


class _HP(L.LightningModule):
    def __init__(self, width: int = 4, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(width, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[..., : self.hparams.width]).sum()

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Indexed(4), batch_size=2)


def test_load_from_checkpoint_hparams_file_kwargs_strict_map_location_and_urls(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=1)
    model = _HP(width=6, lr=0.5)
    trainer.fit(model)
    path = tmp_path / "hp.ckpt"
    trainer.save_checkpoint(path)

    loaded = _HP.load_from_checkpoint(path, map_location="cpu")
    assert loaded.hparams.width == 6 and torch.equal(loaded.layer.weight, model.layer.weight)
    assert _HP.load_from_checkpoint(path, lr=0.01).hparams.lr == 0.01  # kwargs override the saved values
    hparams_file = tmp_path / "hparams.yaml"
    hparams_file.write_text("width: 6\nlr: 0.25\n")
    assert _HP.load_from_checkpoint(path, hparams_file=hparams_file).hparams.lr == 0.25

    checkpoint = torch.load(path, weights_only=True)
    checkpoint["state_dict"]["unexpected"] = torch.zeros(1)
    torch.save(checkpoint, path)
    with pytest.raises(RuntimeError, match="unexpected"):
        _HP.load_from_checkpoint(path)
    assert _HP.load_from_checkpoint(path, strict=False).hparams.width == 6

    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    with fs.open("/resume/hp.ckpt", "wb") as f:
        f.write(path.read_bytes())
    try:
        remote = _HP.load_from_checkpoint("memory://resume/hp.ckpt", strict=False)
        assert torch.equal(remote.layer.weight, model.layer.weight)
    finally:
        fs.rm("/resume", recursive=True)
