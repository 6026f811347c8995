"""TQDMProgressBar: the classic terminal progress bars, drawn with tqdm."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from lit_callbacks._progress_bar import ProgressBar, _convert_inf, _has_main_bar, _to_python
from lit_callbacks._trainer_access import fn_value
from lit_hooks import MissingExtraError

T = TypeVar("T")
_PAD_SIZE = 5
_TQDM_CLASS: Any = None


def _tqdm_class() -> Any:
    """The ``Tqdm`` class (a tqdm subclass with padded number formatting), created on first use."""
    global _TQDM_CLASS
    if _TQDM_CLASS is not None:
        return _TQDM_CLASS
    try:
        from tqdm import tqdm as _tqdm  # pants: no-infer-dep
    except ImportError as err:
        raise MissingExtraError("TQDMProgressBar", "tqdm", "tqdm", "lit-callbacks") from err

    class Tqdm(_tqdm):  # type: ignore[misc,valid-type]
        """tqdm whose floats and strings are padded to a constant width so the bar does not jump."""

        @staticmethod
        def format_num(n: float | str) -> str:
            should_pad = isinstance(n, (float, str))
            if not isinstance(n, str):
                n = _tqdm.format_num(n)
            if should_pad and "e" not in n:
                if "." not in n and len(n) < _PAD_SIZE:
                    try:
                        float(n)
                    except ValueError:
                        return n
                    n += "."
                n += "0" * (_PAD_SIZE - len(n))
            return n

    _TQDM_CLASS = Tqdm
    return Tqdm


class TQDMProgressBar(ProgressBar):
    """Progress bars drawn with tqdm: one for training (across the epoch) and one per evaluation dataloader.

    The training bar shows ``Epoch N`` with ``v_num`` and the metrics logged with ``prog_bar=True``; its total
    excludes validation batches. Bars are redrawn only every ``refresh_rate`` batches (and on the last batch),
    and metrics are converted to numbers only then. Redraws are also skipped while drawing would take more
    than :attr:`max_draw_fraction` of the run time (set it to ``None`` to draw every ``refresh_rate`` batches).

    Args:
        refresh_rate: Redraw every this many batches; ``0`` disables the bars. The environment variable
            ``TQDM_MINITERS`` raises it.
        process_position: Offset of the bars on screen, for several trainers running at once.
        leave: Keep one finished training bar per epoch on screen.

    Example:
        >>> bar = TQDMProgressBar(refresh_rate=10)
        >>> bar.refresh_rate, bar.is_enabled
        (10, True)
    """

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
    max_draw_fraction: float | None = 0.03

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        super().__init__()
        if isinstance(refresh_rate, bool) or not isinstance(refresh_rate, int) or refresh_rate < 0:
            raise ValueError(
                f"`TQDMProgressBar(refresh_rate={refresh_rate!r})` must be an int >= 0 (0 disables the bar)."
            )
        self._refresh_rate = self._resolve_refresh_rate(refresh_rate)
        self._process_position = process_position
        self._enabled = True
        self._train_progress_bar: Any = None
        self._val_progress_bar: Any = None
        self._test_progress_bar: Any = None
        self._predict_progress_bar: Any = None
        self._leave = leave
        self._budget_until = -math.inf
        self._train_n = 0
        self._eval_n = 0

    def __getstate__(self) -> dict[str, Any]:
        # bars hold file handles and locks
        return {k: (None if k.endswith("_progress_bar") else v) for k, v in vars(self).items()}

    def _get(self, name: str) -> Any:
        bar = getattr(self, f"_{name}")
        if bar is None:
            raise TypeError(f"The `{type(self).__name__}._{name}` reference has not been set yet.")
        return bar

    @property
    def train_progress_bar(self) -> Any:
        return self._get("train_progress_bar")

    @train_progress_bar.setter
    def train_progress_bar(self, bar: Any) -> None:
        self._train_progress_bar = bar

    @property
    def val_progress_bar(self) -> Any:
        return self._get("val_progress_bar")

    @val_progress_bar.setter
    def val_progress_bar(self, bar: Any) -> None:
        self._val_progress_bar = bar

    @property
    def test_progress_bar(self) -> Any:
        return self._get("test_progress_bar")

    @test_progress_bar.setter
    def test_progress_bar(self, bar: Any) -> None:
        self._test_progress_bar = bar

    @property
    def predict_progress_bar(self) -> Any:
        return self._get("predict_progress_bar")

    @predict_progress_bar.setter
    def predict_progress_bar(self, bar: Any) -> None:
        self._predict_progress_bar = bar

    @property
    def refresh_rate(self) -> int:
        return self._refresh_rate

    @property
    def process_position(self) -> int:
        return self._process_position

    @property
    def is_enabled(self) -> bool:
        return self._enabled and self.refresh_rate > 0

    @property
    def is_disabled(self) -> bool:
        return not self.is_enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _new_bar(self, desc: str, position: int, leave: bool, **kwargs: Any) -> Any:
        return _tqdm_class()(
            desc=desc,
            position=position,
            disable=self.is_disabled,
            leave=leave,
            dynamic_ncols=True,
            file=sys.stdout,
            bar_format=self.BAR_FORMAT,
            **kwargs,
        )

    def init_sanity_tqdm(self) -> Any:
        """The bar of the validation sanity check."""
        return self._new_bar(self.sanity_check_description, 2 * self.process_position, False)

    def init_train_tqdm(self) -> Any:
        """The training bar."""
        return self._new_bar(self.train_description, 2 * self.process_position, True, smoothing=0)

    def init_predict_tqdm(self) -> Any:
        """The prediction bar."""
        return self._new_bar(self.predict_description, 2 * self.process_position, True, smoothing=0)

    def init_validation_tqdm(self) -> Any:
        """The validation bar (below the training bar while fitting)."""
        has_main_bar = _has_main_bar(self.trainer)
        return self._new_bar(
            self.validation_description, 2 * self.process_position + int(has_main_bar), not has_main_bar
        )

    def init_test_tqdm(self) -> Any:
        """The test bar."""
        return self._new_bar(self.test_description, 2 * self.process_position, True)

    # -- sanity check -------------------------------------------------------------------------------
    def on_sanity_check_start(self, *_: Any) -> None:
        self.val_progress_bar = self.init_sanity_tqdm()
        self.train_progress_bar = _tqdm_class()(disable=True)

    def on_sanity_check_end(self, *_: Any) -> None:
        self.val_progress_bar.close()
        self.train_progress_bar.close()

    # -- training -----------------------------------------------------------------------------------
    def on_train_start(self, *_: Any) -> None:
        self.train_progress_bar = self.init_train_tqdm()

    def on_train_epoch_start(self, trainer: Any, *_: Any) -> None:
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        self._train_n = 0
        bar = self.train_progress_bar
        bar.reset(total=_convert_inf(self.total_train_batches))
        bar.initial = 0
        bar.set_description(f"Epoch {trainer.current_epoch}", refresh=False)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        n = self._train_n = batch_idx + 1
        bar = self._train_progress_bar
        if bar is not None and self._should_update(n, bar.total):
            bar.set_postfix(self._postfix(trainer, pl_module), refresh=False)
            self._draw(bar, n)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        bar = self.train_progress_bar
        if not bar.disable:
            bar.n = max(bar.n, self._train_n)  # show the final count even if its redraw was skipped
            bar.set_postfix(self._postfix(trainer, pl_module))
        if self._leave:
            bar.close()

    def on_train_end(self, *_: Any) -> None:
        self.train_progress_bar.close()

    # -- validation ---------------------------------------------------------------------------------
    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self.val_progress_bar = self.init_validation_tqdm()

    def on_validation_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not self.has_dataloader_changed(dataloader_idx):
            return
        desc = self.sanity_check_description if trainer.sanity_checking else self.validation_description
        self._reset_eval_bar(
            self.val_progress_bar, self.total_val_batches_current_dataloader, desc, dataloader_idx
        )

    def on_validation_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._advance(self._val_progress_bar, batch_idx + 1)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        self._catch_up(self.val_progress_bar)
        self.val_progress_bar.close()
        self.reset_dataloader_idx_tracker()
        if self._train_progress_bar is not None and fn_value(trainer) == "fit":
            self.train_progress_bar.set_postfix(self._postfix(trainer, pl_module))

    # -- test ---------------------------------------------------------------------------------------
    def on_test_start(self, trainer: Any, pl_module: Any) -> None:
        self.test_progress_bar = self.init_test_tqdm()

    def on_test_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            self._reset_eval_bar(
                self.test_progress_bar,
                self.total_test_batches_current_dataloader,
                self.test_description,
                dataloader_idx,
            )

    def on_test_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._advance(self._test_progress_bar, batch_idx + 1)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        self._catch_up(self.test_progress_bar)
        self.test_progress_bar.close()
        self.reset_dataloader_idx_tracker()

    # -- predict ------------------------------------------------------------------------------------
    def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
        self.predict_progress_bar = self.init_predict_tqdm()

    def on_predict_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if self.has_dataloader_changed(dataloader_idx):
            self._reset_eval_bar(
                self.predict_progress_bar,
                self.total_predict_batches_current_dataloader,
                self.predict_description,
                dataloader_idx,
            )

    def on_predict_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._advance(self._predict_progress_bar, batch_idx + 1)

    def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
        self._catch_up(self.predict_progress_bar)
        self.predict_progress_bar.close()
        self.reset_dataloader_idx_tracker()

    # -- helpers ------------------------------------------------------------------------------------
    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        """Print above the active bar (``tqdm.write``), so the bar is redrawn intact below the text."""
        for attr in (
            "_train_progress_bar",
            "_val_progress_bar",
            "_test_progress_bar",
            "_predict_progress_bar",
        ):
            bar = getattr(self, attr)
            if bar is not None and not bar.disable:
                kwargs.setdefault("file", bar.fp)
                bar.write(sep.join(map(str, args)), **kwargs)
                return
        # no bar on screen: a plain print
        print(*args, sep=sep, **kwargs)

    def track(self, iterable: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
        """Show a temporary bar (below the others) while iterating ``iterable``."""
        if self.is_disabled:
            yield from iterable
            return
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        bar = self._new_bar(description, 2 * self.process_position + 1, False, total=_convert_inf(total))
        try:
            for i, item in enumerate(iterable, start=1):
                yield item
                if self._should_update(i, bar.total):
                    self._draw(bar, i)
        finally:
            bar.close()

    def _postfix(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        return _to_python(self.get_metrics(trainer, pl_module))

    def _reset_eval_bar(self, bar: Any, total: float, desc: str, dataloader_idx: int) -> None:
        if dataloader_idx:
            self._catch_up(bar)
        self._eval_n = 0
        bar.reset(total=_convert_inf(total))
        bar.initial = 0
        bar.set_description(f"{desc} DataLoader {dataloader_idx}", refresh=False)

    def _advance(self, bar: Any, n: int) -> None:
        self._eval_n = n
        if bar is not None and self._should_update(n, bar.total):
            self._draw(bar, n)

    def _catch_up(self, bar: Any) -> None:
        """Draw the last count of an evaluation bar if its redraw was skipped."""
        if not bar.disable and bar.n < self._eval_n:
            _update_n(bar, self._eval_n)

    def _should_update(self, current: int, total: float | None) -> bool:
        if not self.is_enabled:
            return False
        if current == total:
            return True
        if current % self.refresh_rate:
            return False
        return self.max_draw_fraction is None or time.monotonic() >= self._budget_until

    def _draw(self, bar: Any, n: int) -> None:
        start = time.monotonic()
        _update_n(bar, n)
        if self.max_draw_fraction:
            self._budget_until = start + (time.monotonic() - start) / self.max_draw_fraction

    @staticmethod
    def _resolve_refresh_rate(refresh_rate: int) -> int:
        if os.getenv("COLAB_GPU") and refresh_rate == 1:
            return 20
        if "TQDM_MINITERS" in os.environ:
            return max(int(os.environ["TQDM_MINITERS"]), refresh_rate)
        return refresh_rate


def _update_n(bar: Any, value: int) -> None:
    if not bar.disable:
        bar.n = value
        bar.refresh()
