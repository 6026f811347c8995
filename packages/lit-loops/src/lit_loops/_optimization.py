"""Automatic and manual optimization of one training batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from torch import Tensor

from lit_hooks import MisconfigurationException
from lit_loops._strategy import no_backward_sync

if TYPE_CHECKING:
    from lit_loops._runner import LoopRunner

__all__ = ["Optimization"]


class _Closure:
    """``training_step`` -> ``zero_grad`` -> ``backward``, run by the optimizer (or directly when accumulating)."""

    __slots__ = ("batch_idx", "extra", "opt", "ran", "result_loss", "runner", "step_args", "zero_grad")

    def __init__(
        self, opt: Optimization, step_args: tuple[Any, ...], batch_idx: int, zero_grad: bool
    ) -> None:
        self.opt = opt
        self.runner = opt.runner
        self.step_args = step_args
        self.batch_idx = batch_idx
        self.zero_grad = zero_grad
        self.result_loss: Tensor | None = None
        self.extra: dict[str, Any] = {}
        self.ran = False

    def __call__(self) -> Tensor | None:
        runner = self.runner
        self.ran = True
        output = runner.call_step("training_step", *self.step_args)
        loss: Tensor | None
        if isinstance(output, Tensor):
            loss = output
        elif isinstance(output, Mapping):
            loss = output.get("loss")
            if loss is None:
                raise MisconfigurationException(
                    "In automatic_optimization, when `training_step` returns a dict, the 'loss' key needs to be present"
                )
            self.extra = {k: v for k, v in output.items() if k != "loss"}
        elif output is None:
            loss = None
        else:
            raise MisconfigurationException(
                "In automatic optimization, `training_step` must return a Tensor, a dict, or None (where the step will"
                f" be skipped). Got {type(output).__name__}."
            )
        if loss is not None:
            accumulate = runner._accumulate
            if accumulate != 1 and not self.opt._strategy_accumulates_cached:
                loss = loss / accumulate
            self.result_loss = loss.detach()
        if self.zero_grad:
            self.opt.zero_grad(self.batch_idx)
        if loss is not None:
            runner.run_backward(loss, self.opt.current_optimizer)
        return loss


class Optimization:
    """Runs the optimization of one batch for the epoch loop (automatic or manual).

    Args:
        runner: the owning runner.
    """

    def __init__(self, runner: LoopRunner) -> None:
        self.runner = runner
        self.current_optimizer: Any = None
        self._strategy_accumulates_cached = False

    def setup(self) -> None:
        """Cache per-run facts (called once the strategy is set up)."""
        self._strategy_accumulates_cached = self.strategy_accumulates

    @property
    def strategy_accumulates(self) -> bool:
        """The strategy scales the loss and decides when to step (DeepSpeed-style gradient accumulation)."""
        return bool(getattr(self.runner.strategy, "handles_gradient_accumulation", False))

    def zero_grad(self, batch_idx: int) -> None:
        """``on_before_zero_grad`` hooks, then ``optimizer_zero_grad`` (counted in the progress)."""
        runner = self.runner
        progress = runner.fit_loop.epoch_loop.automatic_optimization.optim_progress.optimizer.zero_grad
        optimizer = self.current_optimizer
        d = runner.dispatcher
        if "on_before_zero_grad" in runner._active_hooks:
            d.call_callbacks("on_before_zero_grad", optimizer)
            d.call_module("on_before_zero_grad", optimizer)
        progress.increment_ready()
        progress.increment_started()
        d.call_module_always("optimizer_zero_grad", runner._epoch, batch_idx, optimizer)
        progress.increment_completed()

    def run_automatic(self, batch_idx: int, step_args: tuple[Any, ...]) -> dict[str, Any]:
        """Run one batch of automatic optimization; returns the outputs passed to ``on_train_batch_end``."""
        runner = self.runner
        epoch_loop = runner.fit_loop.epoch_loop
        optimizer = runner.optimizers[0]
        self.current_optimizer = optimizer
        accumulate = runner._accumulate
        strategy_accumulates = self._strategy_accumulates_cached
        zero_grad = not strategy_accumulates and (accumulate == 1 or batch_idx % accumulate == 0)
        closure = _Closure(self, step_args, batch_idx, zero_grad)
        if accumulate != 1 and not strategy_accumulates and epoch_loop._should_accumulate():
            with no_backward_sync(runner.strategy, runner.module):
                closure()
        else:
            lopt = runner.lightning_optimizers[0]
            step_progress = epoch_loop.automatic_optimization.optim_progress.optimizer.step
            step_progress.increment_ready()
            runner.dispatcher.call_module_always("optimizer_step", runner._epoch, batch_idx, lopt, closure)
            if not closure.ran:
                raise MisconfigurationException(
                    "The closure hasn't been executed. HINT: did you call `optimizer_closure()` in your"
                    " `optimizer_step` hook? It could also happen because the `optimizer.step(optimizer_closure)`"
                    " call did not execute it internally."
                )
            step_progress.increment_completed()
        loss = closure.result_loss
        if loss is None:
            return {}
        out = {"loss": loss}
        if closure.extra:
            out.update(closure.extra)
        return out

    def run_manual(self, step_args: tuple[Any, ...]) -> dict[str, Any]:
        """Run one batch of manual optimization (the user steps the optimizers in ``training_step``)."""
        output = self.runner.call_step("training_step", *step_args)
        if output is None:
            return {}
        if isinstance(output, Mapping):
            return {k: (v.detach() if isinstance(v, Tensor) else v) for k, v in output.items()}
        if isinstance(output, Tensor):
            return {"loss": output.detach()}
        raise MisconfigurationException(
            "In manual optimization, `training_step` must either return a Tensor or have no return."
            f" Got {type(output).__name__}."
        )
