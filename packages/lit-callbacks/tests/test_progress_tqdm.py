from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import re
import select
import struct
import termios
from typing import Any

import pytest
import torch
from fake_trainer import BoringModule, FakeTrainer, RecordingLogger, iterable_loader, loader

from lit_callbacks import LambdaCallback, TQDMProgressBar


def _frames(text: str) -> list[str]:
    """Every state the terminal showed (tqdm redraws with carriage returns)."""
    return [f.strip() for f in re.split(r"[\r\n]", text.replace("\x1b[A", "")) if f.strip()]


def _run(bar: TQDMProgressBar, fn: str = "fit", **kwargs: Any) -> tuple[str, FakeTrainer]:
    """Run with every due redraw drawn (no time budget), so the frames are deterministic."""
    if not kwargs.pop("throttle", False):
        bar.max_draw_fraction = None
    buf = io.StringIO()
    trainer_kwargs = {
        k: kwargs.pop(k) for k in list(kwargs) if k not in ("train", "val", "module", "callbacks")
    }
    callbacks = [bar, *kwargs.get("callbacks", [])]
    trainer = FakeTrainer(callbacks, loggers=[RecordingLogger(version=7)], **trainer_kwargs)
    module = kwargs.get("module") or BoringModule()
    with contextlib.redirect_stdout(buf):
        if fn == "fit":
            trainer.fit(module, kwargs.get("train", loader(4)), kwargs.get("val"))
        else:
            getattr(trainer, fn)(module, kwargs.get("val", loader(2)))
    return buf.getvalue(), trainer


def test_fit_bars_show_epochs_totals_and_metrics() -> None:
    text, trainer = _run(TQDMProgressBar(), max_epochs=2, num_sanity_val_steps=1, val=loader(3))
    frames = _frames(text)
    assert any(f.startswith("Sanity Checking DataLoader 0: 100%") and "1/1" in f for f in frames)
    # the training total excludes validation batches
    final0 = [f for f in frames if f.startswith("Epoch 0: 100%")][-1]
    assert "| 4/4 [" in final0
    loss = trainer.progress_bar_metrics["loss"]
    assert "v_num=7" in final0
    assert re.search(r"loss=\d\.\d+", final0)
    assert any(f.startswith("Validation DataLoader 0: 100%") and "3/3" in f for f in frames)
    last = [f for f in frames if f.startswith("Epoch 1: 100%")][-1]
    assert f"loss={loss.item():.3g}"[:9] in last or "loss=" in last
    assert not any(f.startswith("Epoch 2") for f in frames)


def test_refresh_rate_limits_redraws_and_metric_reads() -> None:
    reads: list[int] = []

    class Counting(TQDMProgressBar):
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            reads.append(trainer.global_step)
            return super().get_metrics(trainer, pl_module)

    text, _ = _run(Counting(refresh_rate=3), max_epochs=1, train=loader(7))
    shown = [int(m) for m in re.findall(r"Epoch 0:.*?\| (\d)/7", text)]
    assert sorted({n for n in shown if n}) == [3, 6, 7]  # never 1, 2, 4 or 5
    # metrics are read only when the bar renders (steps 3, 6, 7 and the epoch end)
    assert reads == [3, 6, 7, 7]


def test_metric_tensors_not_read_between_refreshes() -> None:
    class Exploding(torch.Tensor):
        pass

    bar = TQDMProgressBar(refresh_rate=100)
    trainer = FakeTrainer([bar], max_epochs=1)
    trainer.progress_bar_metrics["x"] = torch.tensor(1.0)
    bar.setup(trainer, BoringModule(), "fit")
    with contextlib.redirect_stdout(io.StringIO()):
        bar.on_train_start(trainer, None)
        trainer.num_training_batches = 1000
        bar.on_train_epoch_start(trainer, None)
        calls: list[int] = []
        bar.get_metrics = lambda *a: calls.append(1) or {}  # type: ignore[method-assign]
        for i in range(99):
            bar.on_train_batch_end(trainer, None, None, None, i)
        assert calls == []
        bar.on_train_batch_end(trainer, None, None, None, 99)
        assert calls == [1]
        bar.on_train_end(trainer, None)


def test_iterable_limited_and_max_steps_totals() -> None:
    text, _ = _run(TQDMProgressBar(), max_epochs=1, train=iterable_loader(5))
    assert "Epoch 0: |" in text and "5/?" in text
    text, _ = _run(TQDMProgressBar(), max_epochs=1, train=loader(5), limit_train_batches=2)
    assert re.search(r"Epoch 0: 100%\S*\| 2/2", text)
    text, _ = _run(TQDMProgressBar(), max_epochs=-1, max_steps=6, train=loader(4))
    frames = _frames(text)
    assert any("Epoch 0: 100%" in f and "4/4" in f for f in frames)
    assert any("Epoch 1: 100%" in f and "2/2" in f for f in frames)  # only 2 steps remain


def test_print_keeps_bar_intact() -> None:
    def on_batch_end(trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == 1:
            bar.print("checkpoint saved", 42)

    bar = TQDMProgressBar()
    text, _ = _run(bar, max_epochs=1, callbacks=[LambdaCallback(on_train_batch_end=on_batch_end)])
    lines = text.split("\n")
    printed = [i for i, line in enumerate(lines) if "checkpoint saved 42" in line]
    assert len(printed) == 1
    # the message is on its own line and the bar is redrawn after it
    assert lines[printed[0]].replace("\r", "").strip().endswith("checkpoint saved 42")
    assert "Epoch 0:" in "\n".join(lines[printed[0] + 1 :])
    # after training, printing falls back to a plain print
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        bar.print("done")
    assert buf.getvalue() == "done\n"


def test_resume_shows_the_resumed_epoch() -> None:
    _, trainer = _run(TQDMProgressBar(), max_epochs=1)
    ckpt = trainer.save_checkpoint()
    bar = TQDMProgressBar()
    bar.max_draw_fraction = None
    buf = io.StringIO()
    trainer2 = FakeTrainer([bar], max_epochs=3, loggers=[RecordingLogger(version=7)])
    with contextlib.redirect_stdout(buf):
        trainer2.fit(BoringModule(), loader(4), ckpt=ckpt)
    frames = _frames(buf.getvalue())
    assert not any(f.startswith("Epoch 0") for f in frames)
    assert any(f.startswith("Epoch 1: 100%") for f in frames) and any(
        f.startswith("Epoch 2: 100%") for f in frames
    )


def test_validate_test_predict_bars_and_multiple_dataloaders() -> None:
    text, _ = _run(TQDMProgressBar(), fn="test", val=(loader(2), loader(3)))
    frames = _frames(text)
    assert any(f.startswith("Testing DataLoader 0: 100%") and "2/2" in f for f in frames)
    assert any(f.startswith("Testing DataLoader 1: 100%") and "3/3" in f for f in frames)
    text, _ = _run(TQDMProgressBar(), fn="predict", val=loader(3))
    assert any(f.startswith("Predicting DataLoader 0: 100%") and "3/3" in f for f in _frames(text))
    text, _ = _run(TQDMProgressBar(), fn="validate", val=loader(2))
    assert any(f.startswith("Validation DataLoader 0: 100%") and "2/2" in f for f in _frames(text))


def test_leave_keeps_one_bar_per_epoch() -> None:
    text, _ = _run(TQDMProgressBar(leave=True), max_epochs=2)
    kept = [line for line in text.split("\n") if "Epoch" in line]
    assert any("Epoch 0: 100%" in line.split("\r")[-1] for line in kept)
    assert any("Epoch 1: 100%" in line.split("\r")[-1] for line in kept)


def test_disabled_bars_write_nothing() -> None:
    text, _ = _run(TQDMProgressBar(refresh_rate=0), max_epochs=1, val=loader(1))
    assert text == ""
    bar = TQDMProgressBar()
    trainer = FakeTrainer([bar])
    trainer.is_global_zero = False
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        trainer.fit(BoringModule(), loader(2))
    assert buf.getvalue() == "" and not bar.is_enabled


def test_get_metrics_override_and_duplicates_warning() -> None:
    class Custom(TQDMProgressBar):
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            items = super().get_metrics(trainer, pl_module)
            items.pop("v_num", None)
            items["lr"] = 0.5
            return items

    text, _ = _run(Custom(), max_epochs=1)
    assert "v_num" not in text and "lr=0.500" in text
    bar = TQDMProgressBar()
    trainer = FakeTrainer([bar], loggers=[RecordingLogger(version="abcdef")])
    trainer.progress_bar_metrics["v_num"] = 1.0
    with pytest.warns(UserWarning, match="already tracks a metric with the name"):
        assert bar.get_metrics(trainer, None)["v_num"] == 1.0
    trainer.progress_bar_metrics.clear()
    assert bar.get_metrics(trainer, None) == {"v_num": "cdef"}


def test_refresh_rate_validation_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="refresh_rate"):
        TQDMProgressBar(refresh_rate=-1)
    monkeypatch.setenv("TQDM_MINITERS", "5")
    assert TQDMProgressBar(refresh_rate=2).refresh_rate == 5


def test_renders_to_a_pseudo_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = pty.openpty()
    # a fresh pty reports 0 columns: give it a real terminal size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    out = os.fdopen(slave, "w", buffering=1)
    monkeypatch.setattr("sys.stdout", out)
    trainer = FakeTrainer([TQDMProgressBar()], max_epochs=1, loggers=[RecordingLogger(version=1)])
    trainer.fit(BoringModule(), loader(3))
    out.flush()
    data = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            break
        data += os.read(master, 65536)
    out.close()
    os.close(master)
    text = data.decode()
    assert re.search(r"Epoch 0: 100%\S*\| 3/3 \[.*v_num=1, loss=", text)


def test_track_shows_progress_outside_training() -> None:
    bar = TQDMProgressBar()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert list(bar.track(range(5), "Uploading checkpoint")) == [0, 1, 2, 3, 4]
    assert any(f.startswith("Uploading checkpoint: 100%") and "5/5" in f for f in _frames(buf.getvalue()))
    assert list(TQDMProgressBar(refresh_rate=0).track([1, 2], "x")) == [1, 2]


def test_drawing_time_is_budgeted_but_final_counts_are_shown() -> None:
    draws: list[int] = []

    class Counting(TQDMProgressBar):
        def _draw(self, bar: Any, n: int) -> None:
            draws.append(n)
            super()._draw(bar, n)

    text, _ = _run(
        Counting(refresh_rate=1), throttle=True, max_epochs=1, train=loader(300), val=iterable_loader(40)
    )
    train_draws = [n for n in draws if n > 40 or n == 300]
    assert 300 in draws and len(draws) < 150  # far fewer redraws than batches, by the 3% drawing budget
    assert train_draws[-1] == 300
    # the iterable validation bar shows its last count although most redraws were skipped
    assert any(f.startswith("Validation DataLoader 0:") and "40/?" in f for f in _frames(text))


def test_infinite_loader_with_max_steps_has_a_finite_total() -> None:
    def endless() -> Any:
        while True:
            yield torch.zeros(2, 4)

    class Endless:
        def __iter__(self) -> Any:
            return endless()

    text, trainer = _run(TQDMProgressBar(), max_epochs=-1, max_steps=3, train=Endless())
    assert trainer.global_step == 3
    assert any(f.startswith("Epoch 0: 100%") and "3/3" in f for f in _frames(text))


class _FixedLoss(BoringModule):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self(batch).pow(2).mean()
        self.log("loss", 0.123456, prog_bar=True)
        return loss


@pytest.mark.parametrize(("version", "shown"), [(0, "v_num=0"), ("version_12", "v_num=n_12")])
def test_integer_and_string_versions_are_not_float_formatted(version: Any, shown: str) -> None:
    bar = TQDMProgressBar()
    bar.max_draw_fraction = None
    buf = io.StringIO()
    trainer = FakeTrainer([bar], max_epochs=1, loggers=[RecordingLogger(version=version)])
    with contextlib.redirect_stdout(buf):
        trainer.fit(_FixedLoss(), loader(3))
    final = [f for f in _frames(buf.getvalue()) if f.startswith("Epoch 0: 100%")][-1]
    assert final.endswith(f"{shown}, loss=0.123]"), final
