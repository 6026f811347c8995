"""A small foreign training loop that drives lit callbacks through ``lit_hooks.TrainerProtocol``.

It is a real loop (real module, optimizer, scheduler, data) that calls the callback hooks in Lightning's order.
It is used by the unit tests and is the embedding example of ``docs/guides/embedding.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from lit_hooks import RunningStage, TrainerFn, TrainerState, TrainerStatus, testing


class FakeStrategy(testing.FakeStrategy):
    """``lit_hooks.testing.FakeStrategy`` that also records the decisions callbacks reduce or broadcast."""

    def __init__(self) -> None:
        super().__init__()
        self.reduce_calls: list[tuple[bool, bool]] = []
        self.broadcast_calls = 0

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        self.reduce_calls.append((bool(decision), all))
        return bool(super().reduce_boolean_decision(decision, all=all))

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        self.broadcast_calls += 1
        return super().broadcast(obj, src)


@dataclass
class SchedulerConfig:
    scheduler: Any
    name: str | None = None
    interval: str = "epoch"
    frequency: int = 1
    reduce_on_plateau: bool = False
    monitor: str | None = None
    strict: bool = True


class RecordingLogger:
    """Keeps every ``log_metrics`` call."""

    def __init__(self, version: int | str = 0, name: str = "fake") -> None:
        self._version = version
        self._name = name
        self.logged: list[tuple[int | None, dict[str, Any]]] = []
        self.group_separator = "/"

    @property
    def version(self) -> int | str:
        return self._version

    @property
    def name(self) -> str:
        return self._name

    save_dir = root_dir = log_dir = None
    experiment = None

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        self.logged.append((step, dict(metrics)))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        pass

    def save(self) -> None:
        pass

    def finalize(self, status: str) -> None:
        pass

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        pass

    def metric_names(self) -> set[str]:
        return {k for _, m in self.logged for k in m}

    def values(self, key: str) -> list[tuple[int | None, Any]]:
        return [(s, m[key]) for s, m in self.logged if key in m]


class BoringModule(nn.Module):
    """A tiny module with the LightningModule step API used by the fake loop.

    ``val_values`` scripts the validation metric: validation run ``i`` logs ``val_loss = val_values[i]``.
    """

    def __init__(self, val_values: Sequence[float] | None = None, lr: float = 0.1, n_in: int = 4) -> None:
        super().__init__()
        self.layer = nn.Linear(n_in, 2)
        self.automatic_optimization = True
        self.val_values = list(val_values) if val_values is not None else None
        self.lr = lr
        self.trainer: Any = None
        self._val_runs = 0
        self.example_input_array: Any = None

    @property
    def device(self) -> torch.device:
        return self.layer.weight.device

    @property
    def current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)

    def log(self, name: str, value: Any, prog_bar: bool = False) -> None:
        self.trainer._log(name, value, prog_bar)

    def training_step(self, batch: Tensor, batch_idx: int) -> Tensor:
        loss = self(batch).pow(2).mean()
        self.log("loss", loss.detach(), prog_bar=True)
        return loss

    def validation_step(self, batch: Tensor, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.val_values is not None:
            value = self.val_values[min(self._val_runs, len(self.val_values) - 1)]
            self.log("val_loss", torch.tensor(float(value)))
        else:
            self.log("val_loss", self(batch).pow(2).mean().detach())

    def test_step(self, batch: Tensor, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.log("test_loss", self(batch).pow(2).mean().detach())

    def predict_step(self, batch: Tensor, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self(batch)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader(n_batches: int, batch_size: int = 2, n_in: int = 4, seed: int = 0) -> list[Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch_size, n_in, generator=g) for _ in range(n_batches)]


class _Iterable:
    """An iterable without ``__len__`` (like an IterableDataset loader)."""

    def __init__(self, batches: list[Tensor]) -> None:
        self._batches = batches

    def __iter__(self) -> Any:
        return iter(self._batches)


def iterable_loader(n_batches: int, **kwargs: Any) -> _Iterable:
    return _Iterable(loader(n_batches, **kwargs))


class _PredictLoop:
    def __init__(self) -> None:
        self.current_batch_indices: list[int] | None = None
        self.predictions: list[Any] = []
        self.epoch_batch_indices: list[list[int]] = []


class FakeTrainer:
    """Drives callbacks over a real module in Lightning's hook order (automatic optimization only).

    Several evaluation dataloaders are passed as a tuple.
    """

    def __init__(
        self,
        callbacks: Iterable[Any] = (),
        *,
        max_epochs: int | None = 1,
        max_steps: int = -1,
        min_epochs: int | None = None,
        loggers: Sequence[Any] = (),
        accumulate_grad_batches: int = 1,
        log_every_n_steps: int = 1,
        val_check_interval: float = 1.0,
        check_val_every_n_epoch: int | None = 1,
        fast_dev_run: int | bool = False,
        num_sanity_val_steps: int = 0,
        limit_train_batches: int | None = None,
        default_root_dir: str = ".",
        scheduler: Any = None,
        scheduler_interval: str = "epoch",
    ) -> None:
        self.callbacks = list(callbacks)
        self.strategy = FakeStrategy()
        self.state = TrainerState()
        self.should_stop = False
        self.max_epochs = max_epochs
        self.min_epochs = min_epochs
        self.max_steps = max_steps
        self.min_steps = None
        self.loggers = list(loggers)
        self.accumulate_grad_batches = accumulate_grad_batches
        self.log_every_n_steps = log_every_n_steps
        self.val_check_interval = val_check_interval
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.fast_dev_run = fast_dev_run
        self.num_sanity_val_steps = num_sanity_val_steps
        self.limit_train_batches = limit_train_batches
        self.default_root_dir = default_root_dir
        self.is_global_zero = True
        self.world_size = 1
        self.global_rank = 0
        self.local_rank = 0
        self.precision = "32-true"
        self.callback_metrics: dict[str, Any] = {}
        self.logged_metrics: dict[str, Any] = {}
        self.progress_bar_metrics: dict[str, Any] = {}
        self.optimizers: list[Any] = []
        self.lr_scheduler_configs: list[Any] = []
        self.lightning_module: Any = None
        self.current_epoch = 0
        self.global_step = 0
        self.num_training_batches: int | float = 0
        self.num_val_batches: list[int | float] = []
        self.num_sanity_val_batches: list[int | float] = []
        self.num_test_batches: list[int | float] = []
        self.num_predict_batches: list[int | float] = []
        self.predict_loop = _PredictLoop()
        self.train_dataloader: Any = None
        self.printed: list[str] = []
        self.hook_calls: list[str] = []
        self.optimizer_steps = 0
        self._scheduler = scheduler
        self._scheduler_interval = scheduler_interval
        self._epoch_val_values: dict[str, list[Tensor]] = {}
        self.ckpt_path: str | None = None
        self.saved_checkpoints: list[str] = []
        self.raise_at_step: int | None = None

    # -- protocol extras -----------------------------------------------------------------------------------------
    @property
    def log_dir(self) -> str:
        return self.default_root_dir

    @property
    def logger(self) -> Any:
        return self.loggers[0] if self.loggers else None

    @property
    def sanity_checking(self) -> bool:
        return self.state.stage == RunningStage.SANITY_CHECKING

    @property
    def training(self) -> bool:
        return self.state.stage == RunningStage.TRAINING

    @property
    def validating(self) -> bool:
        return self.state.stage == RunningStage.VALIDATING

    @property
    def testing(self) -> bool:
        return self.state.stage == RunningStage.TESTING

    @property
    def predicting(self) -> bool:
        return self.state.stage == RunningStage.PREDICTING

    @property
    def estimated_stepping_batches(self) -> int | float:
        return self.num_training_batches * (self.max_epochs or 1)

    @property
    def batches_that_stepped(self) -> int:
        return self.global_step

    @property
    def enable_validation(self) -> bool:
        return True

    @property
    def checkpoint_callback(self) -> Any:
        return None

    @property
    def checkpoint_callbacks(self) -> list[Any]:
        return []

    @property
    def early_stopping_callback(self) -> Any:
        return next((c for c in self.callbacks if type(c).__name__ == "EarlyStopping"), None)

    def print(self, *args: Any, **kwargs: Any) -> None:
        self.printed.append(" ".join(map(str, args)))

    def save_checkpoint(
        self, filepath: Any = None, weights_only: bool | None = False, storage_options: Any = None
    ) -> dict[str, Any]:
        """Build a Lightning-format checkpoint dict; write it atomically through the strategy when given a path."""
        ckpt: dict[str, Any] = {
            "epoch": self.current_epoch,
            "global_step": self.global_step,
            "pytorch-lightning_version": "2.6.5",
            "state_dict": self.lightning_module.state_dict(),
            "loops": {
                "fit_loop": {"epoch_loop.state_dict": {"_batches_that_stepped": self.batches_that_stepped}}
            },
        }
        if not weights_only:
            ckpt["callbacks"] = {}
            for cb in self.callbacks:
                state = cb.state_dict()
                if state:
                    ckpt["callbacks"][cb.state_key] = state
            ckpt["optimizer_states"] = [opt.state_dict() for opt in self.optimizers]
            ckpt["lr_schedulers"] = [cfg.scheduler.state_dict() for cfg in self.lr_scheduler_configs]
            for cb in self.callbacks:
                cb.on_save_checkpoint(self, self.lightning_module, ckpt)
        if filepath is not None:
            self.strategy.save_checkpoint(ckpt, filepath, storage_options=storage_options)
            self.saved_checkpoints.append(os.fspath(filepath))
        return ckpt

    # -- internals ----------------------------------------------------------------------------------------------
    def _call(self, hook: str, *args: Any, **kwargs: Any) -> None:
        self.hook_calls.append(hook)
        for cb in self.callbacks:
            getattr(cb, hook)(self, self.lightning_module, *args, **kwargs)

    def _log(self, name: str, value: Any, prog_bar: bool) -> None:
        if self.state.stage in (RunningStage.VALIDATING, RunningStage.SANITY_CHECKING, RunningStage.TESTING):
            self._epoch_val_values.setdefault(name, []).append(torch.as_tensor(value, dtype=torch.float32))
            return
        value = torch.as_tensor(value)
        self.callback_metrics[name] = value
        self.logged_metrics[name] = value
        if prog_bar:
            self.progress_bar_metrics[name] = value

    def _flush_eval_metrics(self) -> None:
        for name, values in self._epoch_val_values.items():
            mean = torch.stack(values).mean()
            if not self.sanity_checking:
                self.callback_metrics[name] = mean
                self.logged_metrics[name] = mean
        self._epoch_val_values = {}

    @staticmethod
    def _len(data: Any, limit: int | None = None) -> int | float:
        n: int | float = len(data) if hasattr(data, "__len__") else math.inf
        return min(n, limit) if limit is not None else n

    def _setup(self, module: nn.Module, fn: TrainerFn) -> None:
        self.lightning_module = module
        module.trainer = self
        self.state.fn = fn
        self.state.status = TrainerStatus.RUNNING
        self.predict_loop = _PredictLoop()

    def _eval_run(
        self, module: Any, loaders: list[Any], stage: RunningStage, limit: int | None = None
    ) -> None:
        name = {RunningStage.TESTING: "test"}.get(stage, "validation")
        step = module.test_step if stage == RunningStage.TESTING else module.validation_step
        previous = self.state.stage
        self.state.stage = stage
        was_training = module.training
        module.eval()
        self._call(f"on_{name}_start")
        self._call(f"on_{name}_epoch_start")
        with torch.no_grad():
            for dl_idx, data in enumerate(loaders):
                for batch_idx, batch in enumerate(data):
                    if limit is not None and batch_idx >= limit:
                        break
                    self._call(f"on_{name}_batch_start", batch, batch_idx, dl_idx)
                    out = step(batch, batch_idx, dl_idx)
                    self._call(f"on_{name}_batch_end", out, batch, batch_idx, dl_idx)
        self._call(f"on_{name}_epoch_end")
        self._flush_eval_metrics()
        if stage == RunningStage.VALIDATING and module.val_values is not None:
            module._val_runs += 1
        self._call(f"on_{name}_end")
        module.train(was_training)
        self.state.stage = previous

    # -- entry points -------------------------------------------------------------------------------------------
    def fit(
        self,
        module: Any,
        train_loader: Any,
        val_loaders: Any = None,
        ckpt: dict[str, Any] | None = None,
    ) -> None:
        self._setup(module, TrainerFn.FITTING)
        val_loaders = (
            []
            if val_loaders is None
            else (list(val_loaders) if isinstance(val_loaders, tuple) else [val_loaders])
        )
        self.train_dataloader = train_loader
        self.num_training_batches = self._len(train_loader, self.limit_train_batches)
        self.num_val_batches = [self._len(v) for v in val_loaders]
        self.num_sanity_val_batches = [min(self.num_sanity_val_steps, n) for n in self.num_val_batches]
        self._call("setup", stage=TrainerFn.FITTING)
        opt = module.configure_optimizers()
        self.optimizers = [opt]
        if self._scheduler is not None:
            self.lr_scheduler_configs = [
                SchedulerConfig(self._scheduler(opt), interval=self._scheduler_interval)
            ]
        if ckpt is not None:
            module.load_state_dict(ckpt["state_dict"])
            self.current_epoch = ckpt["epoch"]
            self.global_step = ckpt["global_step"]
            for cb in self.callbacks:
                if cb.state_key in ckpt.get("callbacks", {}):
                    cb.load_state_dict(ckpt["callbacks"][cb.state_key])
            for cb in self.callbacks:
                cb.on_load_checkpoint(self, module, ckpt)
        self._call("on_fit_start")
        try:
            if val_loaders and self.num_sanity_val_steps > 0:
                self.state.stage = RunningStage.SANITY_CHECKING
                self._call("on_sanity_check_start")
                self._eval_run(
                    module, val_loaders, RunningStage.SANITY_CHECKING, limit=self.num_sanity_val_steps
                )
                self.state.stage = RunningStage.SANITY_CHECKING
                self._call("on_sanity_check_end")
            self.state.stage = RunningStage.TRAINING
            module.train()
            self._call("on_train_start")
            self._run_epochs(module, train_loader, val_loaders)
            self._call("on_train_end")
            self._call("on_fit_end")
            self._call("teardown", stage=TrainerFn.FITTING)
            self.state.status = TrainerStatus.FINISHED
        except BaseException as exc:
            self.state.status = TrainerStatus.INTERRUPTED
            self._call("on_exception", exc)
            raise
        finally:
            self.state.stage = None

    def _run_epochs(self, module: Any, train_loader: Any, val_loaders: list[Any]) -> None:
        opt = self.optimizers[0]
        while True:
            if self.max_epochs is not None and self.max_epochs >= 0 and self.current_epoch >= self.max_epochs:
                break
            if 0 <= self.max_steps <= self.global_step:
                break
            self._call("on_train_epoch_start")
            n_batches = self.num_training_batches
            for batch_idx, batch in enumerate(train_loader):
                if batch_idx >= n_batches:
                    break
                self._call("on_train_batch_start", batch, batch_idx)
                loss = module.training_step(batch, batch_idx)
                accumulate = self.accumulate_grad_batches
                is_last = batch_idx + 1 == n_batches
                step_now = (batch_idx + 1) % accumulate == 0 or is_last
                self._call("on_before_backward", loss)
                (loss / accumulate).backward()
                self._call("on_after_backward")
                if step_now:
                    self._call("on_before_optimizer_step", opt)
                    opt.step()
                    self.optimizer_steps += 1
                    self._call("on_before_zero_grad", opt)
                    opt.zero_grad()
                    self.global_step += 1
                    for cfg in self.lr_scheduler_configs:
                        if cfg.interval == "step" or (is_last and cfg.interval == "epoch"):
                            cfg.scheduler.step()
                self._call("on_train_batch_end", {"loss": loss.detach()}, batch, batch_idx)
                if self.raise_at_step is not None and self.global_step >= self.raise_at_step:
                    raise RuntimeError(f"failure requested at step {self.global_step}")
                if 0 <= self.max_steps <= self.global_step or self.should_stop:
                    break
            every = self.check_val_every_n_epoch
            if val_loaders and (every is None or (self.current_epoch + 1) % every == 0):
                self._eval_run(module, val_loaders, RunningStage.VALIDATING)
            self.state.stage = RunningStage.TRAINING
            self._call("on_train_epoch_end")
            self.current_epoch += 1
            min_ok = self.min_epochs is None or self.current_epoch >= self.min_epochs
            if self.should_stop and min_ok:
                break
            self.should_stop = False if not min_ok else self.should_stop

    def validate(self, module: Any, loaders: Any) -> None:
        self._setup(module, TrainerFn.VALIDATING)
        loaders = list(loaders) if isinstance(loaders, tuple) else [loaders]
        self.num_val_batches = [self._len(v) for v in loaders]
        self._call("setup", stage=TrainerFn.VALIDATING)
        self._eval_run(module, loaders, RunningStage.VALIDATING)
        self._call("teardown", stage=TrainerFn.VALIDATING)

    def test(self, module: Any, loaders: Any) -> None:
        self._setup(module, TrainerFn.TESTING)
        loaders = list(loaders) if isinstance(loaders, tuple) else [loaders]
        self.num_test_batches = [self._len(v) for v in loaders]
        self._call("setup", stage=TrainerFn.TESTING)
        self._eval_run(module, loaders, RunningStage.TESTING)
        self._call("teardown", stage=TrainerFn.TESTING)

    def predict(self, module: Any, loaders: Any, batch_size: int = 2) -> list[Any]:
        self._setup(module, TrainerFn.PREDICTING)
        loaders = list(loaders) if isinstance(loaders, tuple) else [loaders]
        self.num_predict_batches = [self._len(v) for v in loaders]
        self._call("setup", stage=TrainerFn.PREDICTING)
        self.state.stage = RunningStage.PREDICTING
        module.eval()
        self._call("on_predict_start")
        self._call("on_predict_epoch_start")
        loop = self.predict_loop
        with torch.no_grad():
            for dl_idx, data in enumerate(loaders):
                indices: list[list[int]] = []
                offset = 0
                for batch_idx, batch in enumerate(data):
                    loop.current_batch_indices = list(range(offset, offset + len(batch)))
                    offset += len(batch)
                    indices.append(loop.current_batch_indices)
                    self._call("on_predict_batch_start", batch, batch_idx, dl_idx)
                    out = module.predict_step(batch, batch_idx, dl_idx)
                    loop.predictions.append(out)
                    self._call("on_predict_batch_end", out, batch, batch_idx, dl_idx)
                loop.epoch_batch_indices.append(indices)
        self._call("on_predict_epoch_end")
        self._call("on_predict_end")
        self._call("teardown", stage=TrainerFn.PREDICTING)
        self.state.stage = None
        return loop.predictions


def tmp_path_str(path: Any) -> str:
    return os.fspath(path)
