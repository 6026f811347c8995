from __future__ import annotations

import io
import re
import sys
from typing import Any

import pytest
from fake_trainer import BoringModule, FakeTrainer, RecordingLogger, iterable_loader, loader

from lit_callbacks import (
    LambdaCallback,
    RichProgressBar,
    RichProgressBarTheme,
    TQDMProgressBar,
    default_progress_bar,
)
from lit_hooks import MissingExtraError

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _frames(text: str) -> list[str]:
    return [f.strip() for f in re.split(r"[\r\n]", _ANSI.sub("", text)) if f.strip()]


def _bar(**kwargs: Any) -> tuple[RichProgressBar, io.StringIO]:
    buf = io.StringIO()
    console = {"file": buf, "force_terminal": True, "width": 140, "color_system": None}
    bar = RichProgressBar(console_kwargs=console, **kwargs)
    bar.max_draw_fraction = None  # draw every due redraw, so the frames are deterministic
    return bar, buf


def _fit(
    bar: RichProgressBar, *, module: Any = None, train: Any = None, val: Any = None, **kw: Any
) -> FakeTrainer:
    callbacks = [bar, *kw.pop("callbacks", [])]
    trainer = FakeTrainer(callbacks, loggers=[RecordingLogger(version=3)], **kw)
    trainer.fit(module or BoringModule(), loader(4) if train is None else train, val)
    return trainer


def test_fit_renders_train_sanity_and_validation_bars() -> None:
    bar, buf = _bar()
    trainer = _fit(bar, max_epochs=2, num_sanity_val_steps=1, val=loader(2))
    frames = _frames(buf.getvalue())
    assert any(f.startswith("Sanity Checking") and "1/1" in f for f in frames)
    assert any(f.startswith("Validation") and "2/2" in f for f in frames)
    loss = trainer.progress_bar_metrics["loss"].item()
    final = [f for f in frames if f.startswith("Epoch 1/1")][-1]
    assert re.search(r"Epoch 1/1\s+━+ 4/4 ", final)
    assert final.endswith(f"v_num: 3 loss: {loss:.3f}")
    assert any(f.startswith("Epoch 0/1") and "4/4" in f for f in frames)
    # the cursor is restored when the bars stop
    assert buf.getvalue().endswith("\x1b[?25h")


def test_theme_format_and_delimiter() -> None:
    theme = RichProgressBarTheme(metrics_format=".1f", metrics_text_delimiter=" | ")
    bar, buf = _bar(theme=theme)
    _fit(bar, max_epochs=1)
    assert re.search(r"v_num: 3 \| loss: \d\.\d$", _frames(buf.getvalue())[-1])


def test_theme_styles_reach_the_terminal() -> None:
    buf = io.StringIO()
    theme = RichProgressBarTheme(progress_bar="red", progress_bar_finished="red", metrics="bold")
    bar = RichProgressBar(
        theme=theme, console_kwargs={"file": buf, "force_terminal": True, "color_system": "standard"}
    )
    _fit(bar, max_epochs=1)
    assert "\x1b[31m" in buf.getvalue()  # red bar
    assert "\x1b[1mv_num" in buf.getvalue()  # bold metrics


def test_refresh_rate_bounds_redraws_and_metric_reads() -> None:
    reads: list[int] = []

    class Counting(RichProgressBar):
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            reads.append(trainer.global_step)
            return super().get_metrics(trainer, pl_module)

    buf = io.StringIO()
    bar = Counting(refresh_rate=1, console_kwargs={"file": buf, "force_terminal": True, "width": 120})
    _fit(bar, max_epochs=1, train=loader(200))
    shown = {int(m) for m in re.findall(r"(\d+)/200", _ANSI.sub("", buf.getvalue()))}
    assert 200 in shown
    assert len(shown) <= 4  # at most one redraw per second plus the forced ones
    assert len(reads) <= 4


def test_disabled_bar_draws_nothing() -> None:
    bar, buf = _bar(refresh_rate=0)
    _fit(bar, max_epochs=1, val=loader(1))
    assert buf.getvalue() == "" and bar.is_disabled


def test_print_goes_above_the_bars() -> None:
    bar, buf = _bar()

    def on_end(trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx == 1:
            bar.print("hello from training")

    _fit(bar, max_epochs=1, callbacks=[LambdaCallback(on_train_batch_end=on_end)])
    frames = _frames(buf.getvalue())
    i = frames.index("hello from training")
    assert any(f.startswith("Epoch 0/0") for f in frames[i + 1 :])


def test_test_predict_and_iterable_totals() -> None:
    bar, buf = _bar()
    trainer = FakeTrainer([bar])
    trainer.test(BoringModule(), (loader(2), loader(3)))
    frames = _frames(buf.getvalue())
    assert any(f.startswith("Testing") and "3/3" in f for f in frames)
    bar, buf = _bar()
    FakeTrainer([bar]).predict(BoringModule(), loader(3))
    assert any(f.startswith("Predicting") and "3/3" in f for f in _frames(buf.getvalue()))
    bar, buf = _bar()
    _fit(bar, max_epochs=1, train=iterable_loader(5))
    assert any("5/--" in f for f in _frames(buf.getvalue()))


def test_leave_keeps_finished_epochs() -> None:
    bar, buf = _bar(leave=True)
    _fit(bar, max_epochs=2)
    lines = [line for line in _ANSI.sub("", buf.getvalue()).split("\n") if line.strip()]
    assert any(re.split(r"\r", line)[-1].startswith("Epoch 0/1") for line in lines)


def test_exception_stops_the_live_display() -> None:
    bar, buf = _bar()

    def boom(*args: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _fit(bar, max_epochs=1, callbacks=[LambdaCallback(on_train_batch_end=boom)])
    assert bar._progress_stopped and buf.getvalue().endswith("\x1b[?25h")


def test_default_progress_bar_and_missing_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(default_progress_bar(), RichProgressBar)
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(MissingExtraError, match=r"lit-callbacks\[rich\]"):
        RichProgressBar()
    assert type(default_progress_bar()) is TQDMProgressBar
    import lit_callbacks._tqdm_progress as tq

    monkeypatch.setattr(tq, "_TQDM_CLASS", None)
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(MissingExtraError, match=r"lit-callbacks\[tqdm\]"):
        tq._tqdm_class()


def test_track_shows_progress_outside_training() -> None:
    bar, buf = _bar()
    assert list(bar.track(iter(range(4)), "Finding best initial lr", total=4)) == [0, 1, 2, 3]
    frames = _frames(buf.getvalue())
    assert any(f.startswith("Finding best initial lr") and "4/4" in f for f in frames)
    assert bar._progress_stopped  # the display started for the search is stopped afterwards


def test_resume_continues_from_the_checkpoint_epoch() -> None:
    bar, _ = _bar()
    trainer = _fit(bar, max_epochs=1)
    ckpt = trainer.save_checkpoint()
    bar, buf = _bar()
    trainer2 = FakeTrainer([bar], max_epochs=3, loggers=[RecordingLogger(version=3)])
    trainer2.fit(BoringModule(), loader(4), ckpt=ckpt)
    frames = _frames(buf.getvalue())
    assert not any(f.startswith("Epoch 0/") for f in frames)
    assert any(f.startswith("Epoch 1/2") and "4/4" in f for f in frames)
    assert frames[-1].startswith("Epoch 2/2") and "4/4" in frames[-1]


def test_drawing_time_is_budgeted() -> None:
    draws: list[int] = []
    buf = io.StringIO()
    bar = RichProgressBar(
        refresh_rate=10_000, console_kwargs={"file": buf, "force_terminal": True, "width": 120}
    )
    original = bar.refresh

    def counting(hard: bool = False, force: bool = False) -> None:
        before = bar._last_render
        original(hard=hard, force=force)
        if bar._last_render != before:
            draws.append(1)

    bar.refresh = counting  # type: ignore[method-assign]
    _fit(bar, max_epochs=1, train=loader(300))
    assert len(draws) < 100  # 10 000 redraws per second allowed, but drawing may take only 3% of the time
    assert re.search(r"Epoch 0/0\s+━+ 300/300", _frames(buf.getvalue())[-1])


class _FixedLoss(BoringModule):
    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self(batch).pow(2).mean()
        self.log("loss", 0.123456, prog_bar=True)
        return loss


@pytest.mark.parametrize(("version", "shown"), [(0, "v_num: 0"), ("version_12", "v_num: n_12")])
def test_integer_and_string_versions_are_not_float_formatted(version: Any, shown: str) -> None:
    bar, buf = _bar()
    trainer = FakeTrainer([bar], max_epochs=1, loggers=[RecordingLogger(version=version)])
    trainer.fit(_FixedLoss(), loader(3))
    final = [f for f in _frames(buf.getvalue()) if f.startswith("Epoch 0")][-1]
    assert final.endswith(f"{shown} loss: 0.123"), final
    assert "v_num: 0.000" not in buf.getvalue()


def test_non_terminal_output_builds_only_the_final_frame() -> None:
    buf = io.StringIO()
    bar = RichProgressBar(console_kwargs={"file": buf, "force_terminal": False, "width": 140})
    bar.max_draw_fraction = None
    frames: list[int] = []
    build = bar._pending_metrics

    def counted() -> dict[str, Any]:
        frames.append(1)
        return build()

    bar._pending_metrics = counted  # type: ignore[method-assign]
    trainer = FakeTrainer([bar], max_epochs=2, loggers=[RecordingLogger(version=0)])
    trainer.fit(_FixedLoss(), loader(4), loader(2))
    assert len(frames) == 1  # only the forced redraw when the bars stop
    text = buf.getvalue()
    assert "\r" not in text and "\x1b[" not in text
    final = [line.strip() for line in text.splitlines() if line.startswith("Epoch")]
    assert len(final) == 1 and re.search(r"^Epoch 1/1 .* 4/4 .*v_num: 0 loss: 0\.123$", final[0]), final
