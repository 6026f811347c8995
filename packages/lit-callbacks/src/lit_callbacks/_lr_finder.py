"""``LearningRateFinder``: a learning-rate range test run at the start of ``fit`` (Lightning's ``lr_find``).

The search trains for ``num_training_steps`` optimizer steps while the learning rate grows from ``min_lr`` to
``max_lr`` (exponentially or linearly), records the smoothed training loss of each step, stops early when the
loss diverges, and then puts the model, optimizer, loop progress and everything else back exactly as it was.
The suggested learning rate is the one with the steepest loss decrease. The pure pieces are functions:
:func:`lr_find_schedule` and :func:`suggest_lr_index`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from lit_callbacks._tuning import TuningSession, datamodule_of, has_attr, set_attr, tuning_session
from lit_hooks import Callback, MisconfigurationException, MissingExtraError, rank_zero_info, rank_zero_warn

__all__ = ["LRFinderResult", "LearningRateFinder", "lr_find_schedule", "suggest_lr_index"]

_LR_ATTR_NAMES = ("lr", "learning_rate")


def lr_find_schedule(
    min_lr: float, max_lr: float, num_training: int, mode: str = "exponential"
) -> list[float]:
    """The learning rate of each step of the range test (the same values as Lightning's ``lr_find``).

    Step 0 uses ``min_lr``; step ``i >= 1`` uses ``min_lr * (max_lr / min_lr) ** ((i + 1) / num_training)``
    (exponential) or ``min_lr + (i + 1) / num_training * (max_lr - min_lr)`` (linear), so the last step uses
    ``max_lr``.

    Example:
        >>> lr_find_schedule(0.1, 1.0, 4, "linear")
        [0.1, 0.55, 0.775, 1.0]
        >>> [round(lr, 6) for lr in lr_find_schedule(1e-3, 1.0, 3)]
        [0.001, 0.1, 1.0]
    """
    out: list[float] = []
    for i in range(num_training):
        if i == 0:
            out.append(min_lr)
            continue
        r = (i + 1) / num_training
        out.append(
            min_lr * (max_lr / min_lr) ** r if mode == "exponential" else min_lr + r * (max_lr - min_lr)
        )
    return out


def suggest_lr_index(
    lrs: Sequence[float], losses: Sequence[float], skip_begin: int = 10, skip_end: int = 1
) -> int | None:
    """Index of the point with the steepest loss decrease (most negative ``d loss / d lr``), or ``None``.

    The first ``skip_begin`` and last ``skip_end`` points and non-finite losses are ignored; fewer than two
    remaining points give ``None``.

    Example:
        >>> suggest_lr_index([1.0, 2.0, 3.0, 4.0, 5.0], [4.0, 3.9, 3.0, 0.5, 0.4], skip_begin=0, skip_end=0)
        2
    """
    end = len(losses) - skip_end
    loss_t = torch.tensor(list(losses[skip_begin:end]))
    lr_t = torch.tensor(list(lrs[skip_begin:end]))
    finite = torch.isfinite(loss_t)
    loss_t = loss_t[finite]
    lr_t = lr_t[finite]
    if len(loss_t) < 2:
        return None
    gradients = torch.gradient(loss_t, spacing=[lr_t])[0]
    best = int(torch.argmin(gradients).item())
    kept = torch.arange(len(losses))[skip_begin:end][finite]
    return int(kept[best].item())


class LRFinderResult:
    """The outcome of a learning-rate range test (Lightning's ``_LRFinder``): ``results``, ``suggestion()``, ``plot()``.

    Args:
        mode: ``"exponential"`` or ``"linear"``: how the learning rate grew.
        lr_min: The first learning rate.
        lr_max: The last learning rate.
        num_training: The number of steps requested.

    Attributes:
        results: ``{"lr": [...], "loss": [...]}``, one entry per optimizer step (smoothed losses).
    """

    def __init__(self, mode: str, lr_min: float, lr_max: float, num_training: int) -> None:
        self.mode = mode
        self.lr_min = lr_min
        self.lr_max = lr_max
        self.num_training = num_training
        self.results: dict[str, Any] = {}
        self._optimal_idx: int | None = None
        self._total_batch_idx = 0

    def suggestion(self, skip_begin: int = 10, skip_end: int = 1) -> float | None:
        """The learning rate at the steepest loss decrease, or ``None`` when too few points were recorded.

        Args:
            skip_begin: Points skipped at the start (too early to say anything).
            skip_end: Points skipped at the end (the loss may already diverge).
        """
        idx = suggest_lr_index(self.results.get("lr", []), self.results.get("loss", []), skip_begin, skip_end)
        self._optimal_idx = idx
        if idx is None:
            rank_zero_warn(
                "Failed to compute suggestion for learning rate because there are not enough points. Increase the"
                " number of training steps (`num_training`) or the size of your dataset/dataloader."
            )
            return None
        return float(self.results["lr"][idx])

    def plot(self, suggest: bool = False, show: bool = False, ax: Any = None) -> Any:
        """Plot the loss against the learning rate with matplotlib; returns the figure.

        Args:
            suggest: Mark the suggested learning rate with a red dot.
            show: Call ``matplotlib.pyplot.show()``.
            ax: Draw into these axes instead of a new figure.

        Raises:
            MissingExtraError: matplotlib is not installed (``pip install 'lit[plot]'``).
        """
        try:
            import matplotlib.pyplot as plt  # pants: no-infer-dep
        except ImportError as err:
            raise MissingExtraError("LRFinderResult.plot", "matplotlib", "plot", "lit") from err
        lrs = self.results["lr"]
        losses = self.results["loss"]
        if ax is None:
            fig, ax = plt.subplots()
        else:
            fig = ax.figure
        ax.plot(lrs, losses)
        if self.mode == "exponential":
            ax.set_xscale("log")
        ax.set_xlabel("Learning rate")
        ax.set_ylabel("Loss")
        if suggest:
            if self._optimal_idx is None:  # keep the point of the caller's last `suggestion(...)`
                self.suggestion()
            idx = self._optimal_idx
            if idx is not None:
                ax.plot(lrs[idx], losses[idx], markersize=10, marker="o", color="red")
        if show:
            plt.show()
        return fig

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(mode={self.mode!r}, lr_min={self.lr_min!r}, lr_max={self.lr_max!r},"
            f" num_training={self.num_training!r}, points={len(self.results.get('loss', []))})"
        )


class _LRRecorder(Callback):
    """Sets the learning rate of each search step and records the smoothed loss (the only callback of the search)."""

    def __init__(
        self,
        optimizer: Any,
        lrs: list[float],
        early_stop_threshold: float | None,
        progress: Iterator[int] | None = None,
        beta: float = 0.98,
    ) -> None:
        self.optimizer = optimizer
        self.schedule = lrs
        self.early_stop_threshold = early_stop_threshold
        self.progress = progress
        self.beta = beta
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.avg_loss = 0.0
        self.best_loss = 0.0
        self.start_step = 0
        self.diverged = False

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.start_step = trainer.global_step

    def _steps(self, trainer: Any, batch_idx: int) -> bool:
        return (batch_idx + 1) % max(int(trainer.accumulate_grad_batches), 1) == 0

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not self._steps(trainer, batch_idx):
            return
        lr = self.schedule[min(len(self.lrs), len(self.schedule) - 1)]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.lrs.append(lr)

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self._steps(trainer, batch_idx):
            return
        if not outputs:
            self.losses.append(float("nan"))  # a skipped step: ignored by the suggestion
            return
        loss = outputs if isinstance(outputs, torch.Tensor) else outputs["loss"]
        current = float(loss.item())
        step = trainer.global_step - self.start_step
        self.avg_loss = self.beta * self.avg_loss + (1 - self.beta) * current
        smoothed = self.avg_loss / (1 - self.beta ** (step + 1))
        threshold = self.early_stop_threshold
        if threshold is not None and step > 1 and smoothed > threshold * self.best_loss:
            trainer.should_stop = True
            self.diverged = True
        trainer.should_stop = trainer.strategy.broadcast(trainer.should_stop)
        if smoothed < self.best_loss or step == 1:
            self.best_loss = smoothed
        self.losses.append(smoothed)
        if self.progress is not None:
            next(self.progress, None)


def _lr_attr_name(model: Any, attr_name: str, datamodule: Any) -> str:
    if attr_name:
        if not has_attr(model, attr_name, datamodule):
            raise AttributeError(
                f"The attribute name for the learning rate was set to {attr_name!r}, but it is neither an attribute"
                " of the model nor a key of `model.hparams` (nor of the datamodule). Add it, or pass another"
                " `attr_name`."
            )
        return attr_name
    for name in _LR_ATTR_NAMES:
        if has_attr(model, name, datamodule):
            return name
    raise AttributeError(
        f"When using the learning rate finder, either `model` or `model.hparams` should have one of these fields:"
        f" {_LR_ATTR_NAMES}. If your model has a different name for the learning rate, set it with"
        " `attr_name=...`, or pass `update_attr=False`."
    )


def _check_number(name: str, value: Any, *, minimum: float, strict: bool, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        extra = " or None" if allow_none else ""
        raise ValueError(f"`{name}={value!r}` is invalid: expected a finite number {bound}{extra}.")


class LearningRateFinder(Callback):
    """Runs a learning-rate range test at the start of ``fit`` and (optionally) sets the suggested rate.

    The search trains from the current state for ``num_training_steps`` steps with the learning rate growing
    from ``min_lr`` to ``max_lr``, then restores the model, optimizer, loop progress, callbacks and random state
    exactly; only the learning-rate attribute (``lr``/``learning_rate`` of the model, its ``hparams`` or the
    datamodule) and the optimizer's learning rate change when ``update_attr=True``. Validation is skipped during
    the search. The result is in :attr:`optimal_lr` (an :class:`LRFinderResult`).

    Override :meth:`on_fit_start` and call :meth:`lr_find` from another hook to search at other times (for
    example at chosen epochs while fine-tuning). Needs a trainer providing ``tuning_session()`` (lit's Trainer).

    Args:
        min_lr: The learning rate of the first step.
        max_lr: The learning rate of the last step.
        num_training_steps: How many learning rates (optimizer steps) to try.
        mode: ``"exponential"`` (default) or ``"linear"`` growth.
        early_stop_threshold: Stop when the smoothed loss exceeds ``early_stop_threshold`` times the best loss so
            far; ``None`` never stops early.
        update_attr: Set the suggested learning rate on the model attribute and the optimizer.
        attr_name: The attribute holding the learning rate; ``"lr"`` and ``"learning_rate"`` are found
            automatically.

    Example:
        >>> LearningRateFinder(num_training_steps=50, mode="linear").optimal_lr is None
        True
    """

    SUPPORTED_MODES = ("linear", "exponential")

    def __init__(
        self,
        min_lr: float = 1e-8,
        max_lr: float = 1,
        num_training_steps: int = 100,
        mode: str = "exponential",
        early_stop_threshold: float | None = 4.0,
        update_attr: bool = True,
        attr_name: str = "",
    ) -> None:
        if not isinstance(mode, str) or mode.lower() not in self.SUPPORTED_MODES:
            raise ValueError(
                f"`mode={mode!r}` is invalid: expected one of {self.SUPPORTED_MODES} (how the learning rate grows)."
            )
        mode = mode.lower()
        _check_number("min_lr", min_lr, minimum=0.0, strict=mode == "exponential")
        _check_number("max_lr", max_lr, minimum=0.0, strict=True)
        if max_lr <= min_lr:
            raise ValueError(
                f"`max_lr={max_lr!r}` must be larger than `min_lr={min_lr!r}`: the search grows the learning rate"
                " from `min_lr` to `max_lr`."
            )
        if (
            isinstance(num_training_steps, bool)
            or not isinstance(num_training_steps, int)
            or num_training_steps < 1
        ):
            raise ValueError(
                f"`num_training_steps={num_training_steps!r}` is invalid: expected an integer >= 1."
            )
        _check_number("early_stop_threshold", early_stop_threshold, minimum=0.0, strict=True, allow_none=True)
        if not isinstance(update_attr, bool):
            raise TypeError(f"`update_attr={update_attr!r}` is invalid: expected True or False.")
        if not isinstance(attr_name, str):
            raise TypeError(
                f"`attr_name={attr_name!r}` is invalid: expected a string ('' finds 'lr' or 'learning_rate')."
            )
        self._min_lr = min_lr
        self._max_lr = max_lr
        self._num_training_steps = num_training_steps
        self._mode = mode
        self._early_stop_threshold = early_stop_threshold
        self._update_attr = update_attr
        self._attr_name = attr_name
        self._early_exit = False
        self.optimal_lr: LRFinderResult | None = None

    def lr_find(self, trainer: Any, pl_module: Any) -> None:
        """Run the search now (the optimizers must exist, as from ``on_fit_start`` on)."""
        session = tuning_session(trainer, type(self).__name__)
        self.optimal_lr = self._search(trainer, pl_module, session)
        if self._early_exit:
            session.end_run()

    def _search(self, trainer: Any, pl_module: Any, session: TuningSession) -> LRFinderResult | None:
        if trainer.fast_dev_run:
            rank_zero_warn("Skipping learning rate finder since `fast_dev_run` is enabled.")
            return None
        datamodule = datamodule_of(trainer)
        attr = _lr_attr_name(pl_module, self._attr_name, datamodule) if self._update_attr else ""
        optimizers = list(trainer.optimizers)
        if len(optimizers) != 1:
            raise MisconfigurationException(
                f"`model.configure_optimizers()` returned {len(optimizers)} optimizers, but the learning rate finder"
                " works with a single optimizer. Return one optimizer, or tune each one separately."
            )
        n = self._num_training_steps
        result = LRFinderResult(self._mode, self._min_lr, self._max_lr, n)
        schedule = lr_find_schedule(self._min_lr, self._max_lr, n, self._mode)
        recorder = _LRRecorder(optimizers[0], schedule, self._early_stop_threshold)
        with session:
            recorder.progress = session.progress("Finding best initial lr", n)
            session.run_trial(n, [recorder])
        if len(recorder.losses) < n:
            rank_zero_info(
                f"LR finder stopped early after {len(recorder.losses)} steps due to diverging loss."
            )
        result._total_batch_idx = len(recorder.losses)
        result.results = trainer.strategy.broadcast({"lr": recorder.lrs, "loss": recorder.losses})
        if self._update_attr:
            lr = result.suggestion()
            if lr is not None:
                set_attr(pl_module, attr, lr, datamodule)
                for opt in trainer.optimizers:
                    for group in opt.param_groups:
                        group["lr"] = lr
                rank_zero_info(f"Learning rate set to {lr}")
        return result

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self.lr_find(trainer, pl_module)
