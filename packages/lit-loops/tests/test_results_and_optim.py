"""The logging store, the hook validator, optimizer-config parsing and the dispatcher, as units."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from lit_hooks import Callback, MisconfigurationException
from lit_loops import (
    FxValidator,
    HookDispatcher,
    LightningModule,
    LightningOptimizer,
    LRSchedulerConfig,
    ResultCollection,
    extract_batch_size,
    parse_optimizer_config,
)


def _log(results: ResultCollection, name: str, value: float, **kwargs: Any) -> None:
    options: dict[str, Any] = {
        "prog_bar": False,
        "logger": True,
        "on_step": False,
        "on_epoch": True,
        "reduce": "mean",
        "enable_graph": False,
        "add_dataloader_idx": True,
        "batch_size": None,
        "sync_dist": False,
        "sync_fn": None,
        "sync_group": None,
        "metric_attribute": None,
        "rank_zero_only": False,
    }
    options.update(kwargs)
    results.log("training_step", name, torch.tensor(value), **options)


def test_result_collection_folds_long_epochs_exactly() -> None:
    results = ResultCollection(training=True)
    values = [float(i % 7) for i in range(1000)]
    for i, v in enumerate(values):
        _log(results, "m", v, batch_size=1 + i % 3)
        _log(results, "mx", v, reduce="max")
    callback, log, _ = results.metrics(on_step=False)
    weights = [1 + i % 3 for i in range(1000)]
    expected = sum(v * w for v, w in zip(values, weights)) / sum(weights)
    assert float(callback["m"]) == pytest.approx(expected, rel=1e-6)
    assert float(log["mx"]) == 6.0


def test_result_collection_step_and_epoch_names() -> None:
    results = ResultCollection(training=True)
    results.batch = torch.zeros(4, 2)
    _log(results, "x", 2.0, on_step=True, prog_bar=True)
    callback, log, pbar = results.metrics(on_step=True)
    assert set(callback) == {"x", "x_step"} and set(log) == {"x_step"} and set(pbar) == {"x_step"}
    callback, log, pbar = results.metrics(on_step=False)
    assert set(callback) == {"x", "x_epoch"} and set(log) == {"x_epoch"}
    results.reset()
    assert results.metrics(on_step=False) == ({}, {}, {})


def test_extract_batch_size() -> None:
    assert extract_batch_size(torch.zeros(5, 3)) == 5
    assert extract_batch_size({"a": [torch.zeros(2, 1)], "b": torch.zeros(2)}) == 2
    assert extract_batch_size(torch.tensor(1.0)) == 1
    with pytest.raises(MisconfigurationException, match="could not infer"):
        extract_batch_size("text")


def test_fx_validator() -> None:
    assert FxValidator.check("training_step", None, None) == (True, False)
    assert FxValidator.check("validation_step", None, None) == (False, True)
    assert FxValidator.check("on_train_epoch_end", None, None) == (False, True)
    with pytest.raises(MisconfigurationException, match="on_step=True"):
        FxValidator.check("on_validation_epoch_end", True, None)
    with pytest.raises(MisconfigurationException, match="predict_step"):
        FxValidator.check("predict_step", None, None)


def test_parse_optimizer_config_formats() -> None:
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD(p, lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    assert parse_optimizer_config(opt) == ([opt], [], None)
    assert parse_optimizer_config((opt,)) == ([opt], [], None)
    assert parse_optimizer_config(([opt], [sched])) == ([opt], [sched], None)
    assert parse_optimizer_config(([opt], sched)) == ([opt], [sched], None)
    assert parse_optimizer_config({"optimizer": opt, "lr_scheduler": sched, "monitor": "m"}) == (
        [opt],
        [sched],
        "m",
    )
    opts, scheds, monitor = parse_optimizer_config(
        [{"optimizer": opt, "lr_scheduler": sched}, {"optimizer": opt}]
    )
    assert opts == [opt, opt] and scheds == [{"scheduler": sched}] and monitor is None
    with pytest.raises(MisconfigurationException, match="Unknown configuration"):
        parse_optimizer_config(42)
    assert LRSchedulerConfig(sched).interval == "epoch" and LRSchedulerConfig(sched).frequency == 1


def test_lightning_optimizer_wraps_and_forwards() -> None:
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([p], lr=0.5)
    lopt = LightningOptimizer(opt)
    assert isinstance(lopt, torch.optim.Adam) and type(lopt).__name__ == "LightningAdam"
    assert lopt.param_groups is opt.param_groups and lopt.optimizer is opt
    p.grad = torch.ones(2)
    lopt.step()
    assert torch.all(p < 1)
    lopt.zero_grad()
    assert p.grad is None


def test_dispatcher_calls_only_overridden_hooks_in_order() -> None:
    calls: list[str] = []

    class Cb(Callback):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            calls.append("cb")

    class Silent(Callback):
        pass

    class Module(LightningModule):
        def on_fit_start(self) -> None:
            calls.append(f"module:{self._current_fx_name}")

    class Strategy:
        def on_fit_start(self) -> None:
            calls.append("strategy")

    module = Module()
    d = HookDispatcher(object(), module, [Silent(), Cb()], Strategy())
    d.build()
    d.call("on_fit_start")
    assert calls == ["cb", "module:on_fit_start", "strategy"]
    assert d.callback_fns("on_fit_end") == [] and d.module_fn("on_fit_end") is None
    assert module._current_fx_name is None
