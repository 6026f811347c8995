"""The standard fit/validate/test/predict loops run a module with no Trainer."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lit_loops
from lit_hooks import MisconfigurationException, TrainerFn, TrainerStatus
from lit_hooks.testing import FakeStrategy, RecordingCallback, RecordingLogger
from lit_loops import LightningModule, LocalStrategy, LoopConfig, LoopRunner


def _data(n: int = 32, batch_size: int = 8, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


class Regressor(LightningModule):
    def __init__(self, lr: float = 0.1) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.lr = lr

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(x), y))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("test_loss", nn.functional.mse_loss(self.layer(x), y))

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0])

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def test_fit_trains_and_counts_without_trainer() -> None:
    torch.manual_seed(0)
    model = Regressor()
    cb = RecordingCallback()
    logger = RecordingLogger()
    runner = lit_loops.fit(
        model,
        _data(),
        _data(16),
        callbacks=[cb],
        loggers=[logger],
        config=LoopConfig(max_epochs=3, log_every_n_steps=2),
    )
    assert runner.state.status == TrainerStatus.FINISHED and runner.state.fn == TrainerFn.FITTING
    assert runner.global_step == 12 and runner.current_epoch == 3
    assert runner.fit_loop.epoch_progress.total.completed == 3
    assert runner.fit_loop.epoch_loop.batch_progress.total.completed == 12
    assert float(runner.callback_metrics["val_loss"]) < 1.0
    assert {"train_loss", "train_loss_step", "train_loss_epoch", "val_loss"} <= set(runner.callback_metrics)
    # callbacks got the trainer view, which reflects the runner
    assert cb.hook_names[0] == "setup" and cb.hook_names[-1] == "teardown"
    assert cb.hook_names.count("on_train_batch_end") == 12
    # step metrics every 2 steps, epoch metrics at each epoch end
    steps = [s for s, m in logger.metrics if "train_loss_step" in m]
    assert steps == [1, 3, 5, 7, 9, 11]
    epoch_rows = [(s, m["epoch"]) for s, m in logger.metrics if "train_loss_epoch" in m]
    assert epoch_rows == [(3, 0), (7, 1), (11, 2)]
    assert logger.finalized == "success"
    assert isinstance(model.trainer, lit_loops.TrainerView) and model.trainer.global_step == 12


def test_validate_test_predict_return_values() -> None:
    torch.manual_seed(0)
    model = Regressor()
    val = lit_loops.validate(model, [_data(16), _data(8, seed=1)])
    assert len(val) == 2
    assert set(val[0]) == {"val_loss/dataloader_idx_0"} and set(val[1]) == {"val_loss/dataloader_idx_1"}
    x, y = next(iter(_data(16, batch_size=16)))
    with torch.no_grad():
        expected = float(nn.functional.mse_loss(model.layer(x), y))
    assert val[0]["val_loss/dataloader_idx_0"] == pytest.approx(expected, rel=1e-5)
    (test_out,) = lit_loops.test(model, _data(16))
    assert test_out["test_loss"] == pytest.approx(expected, rel=1e-5)
    preds = lit_loops.predict(model, _data(16))
    assert len(preds) == 2 and preds[0].shape == (8, 1)
    assert torch.allclose(torch.cat(preds), model.layer(x).detach())


def test_fake_strategy_from_lit_hooks_drives_the_steps() -> None:
    torch.manual_seed(0)
    strategy = FakeStrategy()
    model = Regressor()
    runner = lit_loops.fit(model, _data(), strategy=strategy, config=LoopConfig(max_epochs=1))
    assert runner.global_step == 4
    assert strategy.backward_calls == 4 and strategy.optimizer_step_calls == 4


def test_loops_state_dict_matches_lightning_layout() -> None:
    runner = lit_loops.fit(
        Regressor(), _data(), _data(8), config=LoopConfig(max_epochs=2, num_sanity_val_steps=0)
    )
    loops = runner.loops_state_dict()
    assert set(loops) == {"fit_loop", "validate_loop", "test_loop", "predict_loop"}
    fit = loops["fit_loop"]
    assert set(fit) == {
        "state_dict",
        "epoch_loop.state_dict",
        "epoch_loop.batch_progress",
        "epoch_loop.scheduler_progress",
        "epoch_loop.automatic_optimization.state_dict",
        "epoch_loop.automatic_optimization.optim_progress",
        "epoch_loop.manual_optimization.state_dict",
        "epoch_loop.manual_optimization.optim_step_progress",
        "epoch_loop.val_loop.state_dict",
        "epoch_loop.val_loop.batch_progress",
        "epoch_progress",
    }
    assert fit["epoch_loop.state_dict"] == {"_batches_that_stepped": 8}
    assert fit["epoch_progress"]["total"] == {"ready": 2, "started": 2, "processed": 2, "completed": 2}
    optim = fit["epoch_loop.automatic_optimization.optim_progress"]["optimizer"]
    assert optim["step"]["total"] == {"ready": 8, "completed": 8}
    assert optim["zero_grad"]["total"] == {"ready": 8, "started": 8, "completed": 8}
    assert fit["epoch_loop.batch_progress"]["is_last_batch"] is True
    assert set(loops["predict_loop"]["batch_progress"]) == {"total", "current"}
    # round trip into a new runner
    other = LoopRunner(Regressor())
    other.load_loops_state_dict(loops)
    assert other.global_step == 8 and other.current_epoch == 2


def test_manual_optimization_counts_optimizer_steps() -> None:
    class TwoOptimizers(Regressor):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.other = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            opt_a, opt_b = self.optimizers()
            x, y = batch
            for opt, layer in ((opt_a, self.layer), (opt_b, self.other)):
                with self.toggled_optimizer(opt):
                    loss = nn.functional.mse_loss(layer(x), y)
                    opt.zero_grad()
                    self.manual_backward(loss)
                    opt.step()
            return loss

        def configure_optimizers(self) -> Any:
            return [
                torch.optim.SGD(self.layer.parameters(), lr=0.1),
                torch.optim.SGD(self.other.parameters(), lr=0.1),
            ]

    model = TwoOptimizers()
    before = model.other.weight.detach().clone()
    runner = lit_loops.fit(model, _data(), config=LoopConfig(max_epochs=1))
    assert runner.global_step == 8  # two optimizer steps per batch
    assert not torch.equal(before, model.other.weight)
    assert all(p.requires_grad for p in model.parameters())


def test_manual_optimization_rejects_accumulation_and_clipping() -> None:
    model = Regressor()
    model.automatic_optimization = False
    with pytest.raises(MisconfigurationException, match="accumulation"):
        lit_loops.fit(model, _data(), config=LoopConfig(max_epochs=1, accumulate_grad_batches=2))
    with pytest.raises(MisconfigurationException, match="clipping"):
        lit_loops.fit(model, _data(), config=LoopConfig(max_epochs=1, gradient_clip_val=1.0))


def test_duck_typed_module_is_accepted() -> None:
    """Any nn.Module with the hooks works; hooks it lacks are simply not called."""

    class Plain(nn.Module):
        automatic_optimization = True

        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(4, 1)
            self.calls: list[str] = []

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.mse_loss(self.layer(x), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def backward(self, loss: torch.Tensor) -> None:
            loss.backward()

        def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, closure: Any) -> None:
            self.calls.append("step")
            optimizer.step(closure=closure)

        def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Any) -> None:
            optimizer.zero_grad()

        def lr_scheduler_step(self, scheduler: Any, metric: Any) -> None:
            scheduler.step()

    model = Plain()
    runner = lit_loops.fit(model, _data(), config=LoopConfig(max_epochs=2))
    assert runner.global_step == 8 and model.calls == ["step"] * 8


def test_exception_sets_interrupted_and_calls_on_exception() -> None:
    class Boom(Regressor):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if batch_idx == 2:
                raise RuntimeError("boom")
            return super().training_step(batch, batch_idx)

    cb = RecordingCallback()
    runner = LoopRunner(Boom(), callbacks=[cb], config=LoopConfig(max_epochs=1))
    with pytest.raises(RuntimeError, match="boom"):
        runner.fit(_data())
    assert runner.state.status == TrainerStatus.INTERRUPTED
    assert cb.hook_names[-1] == "on_exception" and "teardown" not in cb.hook_names


def test_local_strategy_defaults() -> None:
    strategy = LocalStrategy()
    assert (
        strategy.root_device == torch.device("cpu") and strategy.world_size == 1 and strategy.is_global_zero
    )
    t = torch.ones(2)
    assert strategy.reduce(t) is t and strategy.all_gather(t) is t and strategy.broadcast(3) == 3
    assert strategy.batch_to_device({"a": [t]}, torch.device("cpu"))["a"][0] is t


def test_strategy_that_handles_accumulation_steps_every_batch() -> None:
    """DeepSpeed-style strategies get the raw loss and an optimizer_step call on every batch."""
    from lit_hooks.testing import FakeDeepSpeedStrategy

    zero_grads: list[int] = []

    class Counting(Regressor):
        def optimizer_zero_grad(self, epoch: int, batch_idx: int, optimizer: Any) -> None:
            zero_grads.append(batch_idx)
            optimizer.zero_grad()

    strategy = FakeDeepSpeedStrategy(gradient_accumulation_steps=2)
    runner = lit_loops.fit(
        Counting(), _data(), strategy=strategy, config=LoopConfig(max_epochs=1, accumulate_grad_batches=2)
    )
    assert strategy.optimizer_step_calls == 4 and strategy.engine_steps == 2
    assert zero_grads == []  # the strategy zeroes gradients itself
    assert runner.global_step == 4


def test_rank_zero_only_values_are_not_synced() -> None:
    from lit_loops import ResultCollection

    calls: list[str] = []

    def sync(t: torch.Tensor, group: Any = None, reduce_op: str = "mean") -> torch.Tensor:
        calls.append(reduce_op)
        return t * 2

    results = ResultCollection(training=False)
    common: dict[str, Any] = {
        "prog_bar": False,
        "logger": True,
        "on_step": False,
        "on_epoch": True,
        "enable_graph": False,
        "add_dataloader_idx": True,
        "batch_size": 1,
        "sync_dist": True,
        "sync_fn": sync,
        "sync_group": None,
        "metric_attribute": None,
    }
    results.log("validation_step", "a", torch.tensor(1.0), reduce="sum", rank_zero_only=True, **common)
    results.log("validation_step", "b", torch.tensor(1.0), reduce="sum", rank_zero_only=False, **common)
    callback, _, _ = results.metrics(on_step=False)
    assert float(callback["a"]) == 1.0 and float(callback["b"]) == 2.0 and calls == ["sum"]
