from __future__ import annotations

import time
from datetime import timedelta

import pytest
import torch
from fake_trainer import BoringModule, FakeTrainer, RecordingLogger, loader
from hypothesis import given, settings
from hypothesis import strategies as st

from lit_callbacks import GradientAccumulationScheduler, LambdaCallback, LearningRateMonitor, Timer
from lit_hooks import Callback, MisconfigurationException

# ---------------------------------------------------------------------------------------------- LambdaCallback


def test_lambda_callback_every_hook_called_with_arguments() -> None:
    calls: dict[str, int] = {}

    def make(name: str):
        def fn(*args: object, **kwargs: object) -> None:
            calls[name] = calls.get(name, 0) + 1

        return fn

    hooks = {name: make(name) for name in LambdaCallback.HOOKS}
    cb = LambdaCallback(**hooks)
    trainer = FakeTrainer([cb], max_epochs=1, num_sanity_val_steps=1)
    module = BoringModule()
    trainer.fit(module, loader(2), loader(1))
    trainer.save_checkpoint()
    trainer.test(module, loader(2))
    trainer.predict(module, loader(3))
    assert calls["on_train_batch_end"] == 2
    assert calls["on_validation_batch_end"] == 2  # sanity + one validation run
    assert calls["on_test_batch_end"] == 2
    assert calls["on_predict_batch_end"] == 3
    assert calls["setup"] == 3 and calls["teardown"] == 3
    assert calls["on_save_checkpoint"] == 1
    expected_missing = {"on_exception", "on_load_checkpoint"}
    assert set(LambdaCallback.HOOKS) - set(calls) == expected_missing
    # every Callback hook is supported
    base_hooks = {n for n in vars(Callback) if n.startswith("on_") or n in ("setup", "teardown")}
    assert base_hooks <= set(LambdaCallback.HOOKS)


def test_lambda_callback_exception_and_bad_values() -> None:
    seen: list[BaseException] = []
    cb = LambdaCallback(on_exception=lambda trainer, module, exc: seen.append(exc))

    class Boom(Callback):
        def on_train_batch_start(self, *args: object) -> None:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        FakeTrainer([Boom(), cb]).fit(BoringModule(), loader(1))
    assert len(seen) == 1 and str(seen[0]) == "boom"
    with pytest.raises(TypeError, match="not callable"):
        LambdaCallback(on_fit_start=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LambdaCallback(on_not_a_hook=lambda *a: None)  # type: ignore[call-arg]


# ------------------------------------------------------------------------------------------ LearningRateMonitor


def _lr_fit(
    monitor: LearningRateMonitor, module: BoringModule | None = None, **kw: object
) -> RecordingLogger:
    logger = RecordingLogger()
    trainer = FakeTrainer([monitor], loggers=[logger], **kw)  # type: ignore[arg-type]
    trainer.fit(module or BoringModule(), loader(3))
    return logger


def test_lr_monitor_step_interval_logs_each_batch() -> None:
    monitor = LearningRateMonitor(logging_interval="step")
    logger = _lr_fit(monitor, max_epochs=2)
    assert logger.values("lr-SGD") == [(0, 0.1), (1, 0.1), (2, 0.1), (3, 0.1), (4, 0.1), (5, 0.1)]
    assert monitor.lrs == {"lr-SGD": [0.1] * 6}


def test_lr_monitor_epoch_interval_with_scheduler_and_momentum() -> None:
    class Adam(BoringModule):
        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=1.0, weight_decay=0.01)

    monitor = LearningRateMonitor(logging_interval="epoch", log_momentum=True, log_weight_decay=True)
    logger = _lr_fit(
        monitor,
        Adam(),
        max_epochs=3,
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5),
    )
    assert [v for _, v in logger.values("lr-Adam")] == [1.0, 0.5, 0.25]
    assert [s for s, _ in logger.values("lr-Adam")] == [0, 3, 6]
    assert [v for _, v in logger.values("lr-Adam-momentum")] == [0.9, 0.9, 0.9]
    assert [v for _, v in logger.values("lr-Adam-weight_decay")] == [0.01] * 3
    assert monitor.last_momentum_values == {"lr-Adam-momentum": 0.9}


def test_lr_monitor_default_interval_follows_scheduler_interval() -> None:
    monitor = LearningRateMonitor()
    logger = _lr_fit(
        monitor, max_epochs=1, scheduler_interval="step",
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5),
    )  # fmt: skip
    assert [v for _, v in logger.values("lr-SGD")] == [0.1, 0.05, 0.025]


def test_lr_monitor_param_group_names_and_several_optimizers() -> None:
    class Groups(BoringModule):
        def configure_optimizers(self):
            return torch.optim.SGD(
                [{"params": [self.layer.weight], "name": "w"}, {"params": [self.layer.bias], "lr": 0.01}],
                lr=0.1,
            )

    logger = _lr_fit(LearningRateMonitor(), Groups())
    assert {"lr-SGD/w", "lr-SGD/pg2"} <= logger.metric_names()

    monitor = LearningRateMonitor()
    trainer = FakeTrainer([monitor], loggers=[RecordingLogger()])
    module = BoringModule()
    trainer.fit(module, loader(1))
    trainer.optimizers = [
        torch.optim.SGD([module.layer.weight], lr=1),
        torch.optim.SGD([module.layer.bias], lr=2),
    ]
    monitor.on_train_start(trainer)
    assert set(monitor.lrs) == {"lr-SGD", "lr-SGD-1"}
    stats = monitor._extract_stats(trainer, "step")
    assert stats == {"lr-SGD": 1, "lr-SGD-1": 2}
    assert trainer.callback_metrics["lr-SGD-1"].item() == 2


def test_lr_monitor_errors() -> None:
    with pytest.raises(MisconfigurationException, match="`step` or `epoch`"):
        LearningRateMonitor(logging_interval="batch")  # type: ignore[arg-type]
    with pytest.raises(MisconfigurationException, match="no logger"):
        FakeTrainer([LearningRateMonitor()]).fit(BoringModule(), loader(1))

    class Dup(BoringModule):
        def configure_optimizers(self):
            return torch.optim.SGD(
                [{"params": [self.layer.weight], "name": "a"}, {"params": [self.layer.bias], "name": "a"}],
                lr=0.1,
            )

    with pytest.raises(MisconfigurationException, match="identical `name`"):
        _lr_fit(LearningRateMonitor(), Dup())


def test_lr_monitor_respects_log_every_n_steps() -> None:
    logger = _lr_fit(LearningRateMonitor(logging_interval="step"), max_epochs=2, log_every_n_steps=2)
    assert [s for s, _ in logger.values("lr-SGD")] == [1, 3, 5]


# ---------------------------------------------------------------------------------------------------- Timer


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("00:00:01:30", 90.0),
        (timedelta(minutes=2), 120.0),
        ({"hours": 1, "seconds": 5}, 3605.0),
        (None, None),
    ],
)
def test_timer_duration_formats(duration: object, seconds: float | None) -> None:
    assert Timer(duration=duration).time_remaining() == seconds  # type: ignore[arg-type]


def test_timer_invalid_arguments() -> None:
    with pytest.raises(MisconfigurationException, match="DD:HH:MM:SS"):
        Timer(duration="1:30")
    with pytest.raises(MisconfigurationException, match="'step', 'epoch'"):
        Timer(interval="batch")


def test_timer_stops_training_and_measures_stages() -> None:
    timer = Timer(duration=timedelta(milliseconds=30), interval="step", verbose=False)

    class Slow(BoringModule):
        def training_step(self, batch, batch_idx):
            time.sleep(0.02)
            return super().training_step(batch, batch_idx)

    trainer = FakeTrainer([timer], max_epochs=100)
    trainer.fit(Slow(), loader(5), loader(1))
    assert trainer.global_step == 2  # 20 ms + 20 ms > 30 ms
    assert trainer.current_epoch == 1
    assert timer.time_elapsed("train") >= 0.03
    assert timer.end_time("train") is not None and timer.start_time("validate") is not None
    assert trainer.strategy.broadcast_calls == 3  # on_fit_start + one per step


def test_timer_epoch_interval_and_state() -> None:
    timer = Timer(duration={"seconds": 0}, interval="epoch", verbose=False)
    trainer = FakeTrainer([timer], max_epochs=5)
    trainer.fit(BoringModule(), loader(2))
    # a zero budget stops in on_fit_start's check; the first epoch ends the run at its end
    assert trainer.current_epoch == 1
    state = timer.state_dict()
    assert set(state["time_elapsed"]) == {"train", "sanity_check", "validate", "test", "predict"}
    resumed = Timer(duration={"seconds": 100})
    resumed.load_state_dict({"time_elapsed": {"train": 40.0}})
    assert resumed.time_elapsed() == 40.0
    assert resumed.time_remaining() == 60.0


# --------------------------------------------------------------------------------- GradientAccumulationScheduler


def test_gas_schedule_and_errors() -> None:
    cb = GradientAccumulationScheduler({2: 3, 5: 2})
    assert cb.scheduling == {2: 3, 5: 2, 0: 1}
    assert [cb.get_accumulate_grad_batches(e) for e in range(7)] == [1, 1, 3, 3, 3, 2, 2]
    assert cb.going_to_accumulate_grad_batches()
    with pytest.raises(TypeError):
        GradientAccumulationScheduler({})
    with pytest.raises(MisconfigurationException, match="Epoch should be an int"):
        GradientAccumulationScheduler({-1: 2})
    with pytest.raises(MisconfigurationException, match="Accumulation factor"):
        GradientAccumulationScheduler({1: 0})
    with pytest.raises(ValueError, match="Either remove `accumulate_grad_batches`"):
        FakeTrainer([GradientAccumulationScheduler({0: 2})], accumulate_grad_batches=2).fit(
            BoringModule(), loader(1)
        )
    module = BoringModule()
    module.automatic_optimization = False
    with pytest.raises(RuntimeError, match="manual optimization"):
        FakeTrainer([GradientAccumulationScheduler({0: 2})]).fit(module, loader(1))


@settings(max_examples=40, deadline=None)
@given(
    schedule=st.dictionaries(st.integers(0, 4), st.integers(1, 4), min_size=1, max_size=3),
    n_batches=st.integers(1, 7),
    epochs=st.integers(1, 5),
)
def test_gas_optimizer_step_counts(schedule: dict[int, int], n_batches: int, epochs: int) -> None:
    cb = GradientAccumulationScheduler(dict(schedule))
    trainer = FakeTrainer([cb], max_epochs=epochs)
    trainer.fit(BoringModule(), loader(n_batches))
    expected = 0
    for epoch in range(epochs):
        factor = max([schedule[k] for k in schedule if k <= epoch], default=1) if schedule else 1
        factor = next((schedule[k] for k in sorted(schedule, reverse=True) if k <= epoch), 1)
        expected += -(-n_batches // factor)  # ceil: a trailing partial accumulation still steps
    assert trainer.optimizer_steps == expected
    assert trainer.accumulate_grad_batches == cb.get_accumulate_grad_batches(epochs - 1)


def test_gas_warns_when_optimizer_step_is_overridden() -> None:
    class LightningModule(BoringModule):  # stands in for the framework's base class
        def optimizer_step(self, *args: object) -> None:
            pass

    class Custom(LightningModule):
        def optimizer_step(self, *args: object) -> None:
            pass

    with pytest.warns(UserWarning, match="optimizer_"):
        GradientAccumulationScheduler({0: 2}).on_train_start(FakeTrainer(), Custom())
    GradientAccumulationScheduler({0: 2}).on_train_start(FakeTrainer(), LightningModule())  # no warning


def test_lr_monitor_several_schedulers_with_and_without_names() -> None:
    from fake_trainer import SchedulerConfig

    module = BoringModule()
    trainer = FakeTrainer([], loggers=[RecordingLogger()])
    a = torch.optim.Adam([module.layer.weight], lr=1.0)
    b = torch.optim.Adam([module.layer.bias], lr=2.0)
    c = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3.0, momentum=0.5)
    trainer.optimizers = [a, b, c]
    trainer.lr_scheduler_configs = [
        SchedulerConfig(torch.optim.lr_scheduler.StepLR(a, 1), name="encoder"),
        SchedulerConfig(torch.optim.lr_scheduler.StepLR(b, 1), interval="step"),
    ]
    monitor = LearningRateMonitor(log_momentum=True)
    monitor.on_train_start(trainer)
    assert set(monitor.lrs) == {"encoder", "lr-Adam", "lr-SGD"}
    assert monitor._extract_stats(trainer, "step") == {"lr-Adam": 2.0, "lr-Adam-momentum": 0.9, "lr-SGD": 3.0,
                                                        "lr-SGD-momentum": 0.5}  # fmt: skip
    assert monitor._extract_stats(trainer, "epoch") == {"encoder": 1.0, "encoder-momentum": 0.9, "lr-SGD": 3.0,
                                                         "lr-SGD-momentum": 0.5}  # fmt: skip
