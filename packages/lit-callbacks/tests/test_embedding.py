"""Embedding: lit callbacks driven by a foreign training loop, with only lit-hooks and lit-callbacks importable.

The loop below is the one shown in ``docs/guides/embedding.md``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lit_callbacks
import lit_hooks

FOREIGN_LOOP = textwrap.dedent('''
    import logging
    import sys

    import torch
    from torch import nn

    from lit_callbacks import EarlyStopping, LearningRateMonitor, ModelSummary
    from lit_hooks import RunningStage, TrainerFn, TrainerState


    class Strategy:  # the collectives a callback may use, for one process
        root_device = torch.device("cpu")

        def reduce_boolean_decision(self, decision, all=True):
            return decision

        def broadcast(self, obj, src=0):
            return obj


    class SchedulerConfig:
        def __init__(self, scheduler, interval="epoch", name=None):
            self.scheduler, self.interval, self.name, self.frequency = scheduler, interval, name, 1


    class PrintLogger:
        version = 0
        group_separator = "/"

        def __init__(self):
            self.rows = []

        def log_metrics(self, metrics, step=None):
            self.rows.append((step, metrics))


    class MyLoop:
        """The host framework's own trainer: it exposes what TrainerProtocol promises."""

        def __init__(self, model, callbacks, max_epochs):
            self.lightning_module = model
            self.callbacks = callbacks
            self.max_epochs = max_epochs
            self.max_steps, self.min_epochs, self.min_steps = -1, None, None
            self.current_epoch = self.global_step = 0
            self.should_stop = False
            self.state = TrainerState(fn=TrainerFn.FITTING)
            self.sanity_checking = False
            self.fast_dev_run = False
            self.is_global_zero = True
            self.world_size, self.global_rank = 1, 0
            self.strategy = Strategy()
            self.loggers = [PrintLogger()]
            self.callback_metrics, self.logged_metrics, self.progress_bar_metrics = {}, {}, {}
            self.log_every_n_steps = 1
            self.optimizers = [torch.optim.SGD(model.parameters(), lr=0.5)]
            sched = torch.optim.lr_scheduler.StepLR(self.optimizers[0], step_size=1, gamma=0.5)
            self.lr_scheduler_configs = [SchedulerConfig(sched)]
            self.val_check_interval, self.check_val_every_n_epoch = 1.0, 1

        def call(self, hook, *args):
            for cb in self.callbacks:
                getattr(cb, hook)(self, self.lightning_module, *args)

        def fit(self, x, y):
            model, opt = self.lightning_module, self.optimizers[0]
            self.call("setup", TrainerFn.FITTING)
            self.call("on_fit_start")
            self.state.stage = RunningStage.TRAINING
            self.call("on_train_start")
            while self.current_epoch < self.max_epochs and not self.should_stop:
                self.call("on_train_epoch_start")
                for i in range(0, len(x), 8):
                    self.call("on_train_batch_start", x[i : i + 8], i // 8)
                    loss = nn.functional.mse_loss(model(x[i : i + 8]), y[i : i + 8])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    self.global_step += 1
                    self.call("on_train_batch_end", {"loss": loss.detach()}, x[i : i + 8], i // 8)
                self.lr_scheduler_configs[0].scheduler.step()
                self.state.stage = RunningStage.VALIDATING
                self.call("on_validation_start")
                with torch.no_grad():
                    # a validation loss that stops improving after epoch 1
                    self.callback_metrics["val_loss"] = torch.tensor([3.0, 2.0, 2.5, 2.6, 2.7][self.current_epoch])
                self.call("on_validation_end")
                self.state.stage = RunningStage.TRAINING
                self.call("on_train_epoch_end")
                self.current_epoch += 1
            self.call("on_train_end")
            self.call("on_fit_end")
            self.call("teardown", TrainerFn.FITTING)


    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    model.example_input_array = torch.zeros(8, 3)
    early_stopping = EarlyStopping("val_loss", patience=2)
    lr_monitor = LearningRateMonitor(logging_interval="epoch")
    loop = MyLoop(model, [ModelSummary(max_depth=1), early_stopping, lr_monitor], max_epochs=5)
    loop.fit(torch.randn(32, 3), torch.randn(32, 1))
    print("stopped_epoch", early_stopping.stopped_epoch, early_stopping.stopping_reason.name)
    print("lrs", [round(v, 4) for v in lr_monitor.lrs["lr-SGD"]])
    print("logged", loop.loggers[0].rows)
    print("backends", sorted(m for m in ("rich", "psutil", "fsspec", "torch_xla") if m in sys.modules))
    print("modules", sorted(m for m in sys.modules if m.startswith("lit")))
    ''')


def test_foreign_loop_with_only_hooks_and_callbacks(tmp_path: Path) -> None:
    script = tmp_path / "foreign_loop.py"
    script.write_text(FOREIGN_LOOP)
    src_dirs = {str(Path(lit_hooks.__file__).parents[1]), str(Path(lit_callbacks.__file__).parents[1])}
    # keep third-party entries of the current PYTHONPATH, drop every other lit package's sources
    inherited = [
        p
        for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if p and "packages/lit" not in p.replace("\\", "/")
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sorted(src_dirs), *inherited])}
    out = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    # ModelSummary printed at fit start
    assert "0 | 0    | Linear | 32     | train | 384   | [8, 3]   | [8, 8]" in text
    assert "41        Total params" in text
    # EarlyStopping: best 2.0 at epoch 1, then two checks without improvement
    assert "stopped_epoch 3 PATIENCE_EXHAUSTED" in text
    # LearningRateMonitor logged the scheduler's lr at every epoch start
    assert "lrs [0.5, 0.25, 0.125, 0.0625]" in text
    assert (
        "logged [(0, {'lr-SGD': 0.5}), (4, {'lr-SGD': 0.25}), (8, {'lr-SGD': 0.125}), (12, {'lr-SGD': 0.0625})]"
        in text
    )
    # nothing but the two libraries was imported
    modules = eval(text.split("modules ", 1)[1].strip())
    assert {m.split(".")[0] for m in modules} == {"lit_callbacks", "lit_hooks"}
    # optional back-ends stay unloaded unless used
    assert "backends []" in text


def test_public_names_are_sorted_and_importable() -> None:
    assert lit_callbacks.__all__ == sorted(lit_callbacks.__all__, key=lambda n: (not n.isupper(), n))
    for name in lit_callbacks.__all__:
        assert hasattr(lit_callbacks, name)


def test_fake_trainer_satisfies_the_protocol() -> None:
    from fake_trainer import FakeTrainer

    from lit_hooks import StrategyProtocol, TrainerProtocol

    trainer = FakeTrainer()
    assert isinstance(trainer, TrainerProtocol)
    assert isinstance(trainer.strategy, StrategyProtocol)
