"""The :class:`Callback` base class: one no-op method per trainer event, with Lightning's names and signatures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor
    from torch.optim import Optimizer

    from lit_hooks._protocols import ModuleProtocol, TrainerProtocol

__all__ = ["CALLBACK_HOOK_NAMES", "Callback"]


class Callback:
    """Base class for callbacks: override the hooks you need, the others do nothing.

    Every hook receives the trainer (use only the members of :class:`~lit_hooks.TrainerProtocol`) and the
    module being trained, followed by the event's own arguments. A callback that keeps state implements
    :meth:`state_dict`/:meth:`load_state_dict`; the state is stored in checkpoints under :attr:`state_key`.

    Example:
        >>> class CountBatches(Callback):
        ...     def __init__(self) -> None:
        ...         self.seen = 0
        ...     def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        ...         self.seen += 1
        ...     def state_dict(self):
        ...         return {"seen": self.seen}
        ...     def load_state_dict(self, state_dict):
        ...         self.seen = state_dict["seen"]
        >>> CountBatches().state_key
        'CountBatches'
    """

    @property
    def state_key(self) -> str:
        """The key of this callback's state in ``checkpoint["callbacks"]``.

        Defaults to the class ``__qualname__``. Override it (typically with :meth:`_generate_state_key`) when
        several instances of the same class keep state, so that each gets its own entry.
        """
        return type(self).__qualname__

    def _generate_state_key(self, **kwargs: Any) -> str:
        """Build a state key from the class name and identifying arguments.

        Example:
            >>> Callback()._generate_state_key(monitor="val_loss", mode="min")
            "Callback{'monitor': 'val_loss', 'mode': 'min'}"
        """
        return f"{type(self).__qualname__}{kwargs!r}"

    # ---------------------------------------------------------------------------------------------------------
    # set-up and tear-down
    def setup(self, trainer: TrainerProtocol, pl_module: ModuleProtocol, stage: str) -> None:
        """Called when fit, validate, test or predict begins; ``stage`` is ``"fit"``, ``"validate"``, ..."""

    def teardown(self, trainer: TrainerProtocol, pl_module: ModuleProtocol, stage: str) -> None:
        """Called when fit, validate, test or predict ends."""

    def on_fit_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when fit begins, after set-up and before the sanity check."""

    def on_fit_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when fit ends."""

    def on_sanity_check_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called before the validation sanity check runs."""

    def on_sanity_check_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called after the validation sanity check ran."""

    # ---------------------------------------------------------------------------------------------------------
    # batches
    def on_train_batch_start(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, batch: Any, batch_idx: int
    ) -> None:
        """Called before the training step of a batch."""

    def on_train_batch_end(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Called after the training step (and optimizer step) of a batch.

        ``outputs["loss"]`` is the loss divided by ``accumulate_grad_batches``.
        """

    # ---------------------------------------------------------------------------------------------------------
    # epochs
    def on_train_epoch_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a training epoch begins."""

    def on_train_epoch_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a training epoch ends (keep per-step outputs on the module to aggregate them here)."""

    def on_validation_epoch_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a validation epoch begins."""

    def on_validation_epoch_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a validation epoch ends."""

    def on_test_epoch_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a test epoch begins."""

    def on_test_epoch_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a test epoch ends."""

    def on_predict_epoch_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a predict epoch begins."""

    def on_predict_epoch_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when a predict epoch ends."""

    def on_validation_batch_start(
        self,
        trainer: TrainerProtocol,
        pl_module: ModuleProtocol,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called before the validation step of a batch."""

    def on_validation_batch_end(
        self,
        trainer: TrainerProtocol,
        pl_module: ModuleProtocol,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called after the validation step of a batch."""

    def on_test_batch_start(
        self,
        trainer: TrainerProtocol,
        pl_module: ModuleProtocol,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called before the test step of a batch."""

    def on_test_batch_end(
        self,
        trainer: TrainerProtocol,
        pl_module: ModuleProtocol,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called after the test step of a batch."""

    def on_predict_batch_start(
        self,
        trainer: TrainerProtocol,
        pl_module: ModuleProtocol,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called before the predict step of a batch."""

    def on_predict_batch_end(
        self,
        trainer: TrainerProtocol,
        pl_module: ModuleProtocol,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Called after the predict step of a batch."""

    # ---------------------------------------------------------------------------------------------------------
    # loops
    def on_train_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the training loop begins."""

    def on_train_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the training loop ends."""

    def on_validation_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the validation loop begins."""

    def on_validation_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the validation loop ends."""

    def on_test_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the test loop begins."""

    def on_test_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the test loop ends."""

    def on_predict_start(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the predict loop begins."""

    def on_predict_end(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called when the predict loop ends."""

    def on_exception(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, exception: BaseException
    ) -> None:
        """Called when a run is interrupted by an exception (teardown hooks do not run afterwards)."""

    # ---------------------------------------------------------------------------------------------------------
    # state and checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Return the callback's state to store in checkpoints (``{}`` for stateless callbacks)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`."""

    def on_save_checkpoint(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, checkpoint: dict[str, Any]
    ) -> None:
        """Called while a checkpoint is written; ``checkpoint`` can be amended in place."""

    def on_load_checkpoint(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, checkpoint: dict[str, Any]
    ) -> None:
        """Called when a checkpoint is restored, with the full checkpoint dictionary."""

    # ---------------------------------------------------------------------------------------------------------
    # optimization
    def on_before_backward(self, trainer: TrainerProtocol, pl_module: ModuleProtocol, loss: Tensor) -> None:
        """Called before ``loss.backward()``."""

    def on_after_backward(self, trainer: TrainerProtocol, pl_module: ModuleProtocol) -> None:
        """Called after ``loss.backward()`` and before the optimizer steps."""

    def on_before_optimizer_step(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, optimizer: Optimizer
    ) -> None:
        """Called before ``optimizer.step()`` once gradients are accumulated (and unscaled under AMP)."""

    def on_before_zero_grad(
        self, trainer: TrainerProtocol, pl_module: ModuleProtocol, optimizer: Optimizer
    ) -> None:
        """Called before ``optimizer.zero_grad()``."""


#: Every event hook of :class:`Callback`, in the order they first fire during ``fit`` (then eval/predict-only
#: hooks, exception and checkpoint hooks). ``state_dict``/``load_state_dict`` are not events and are not listed.
CALLBACK_HOOK_NAMES: tuple[str, ...] = (
    "setup",
    "on_fit_start",
    "on_sanity_check_start",
    "on_validation_start",
    "on_validation_epoch_start",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_validation_epoch_end",
    "on_validation_end",
    "on_sanity_check_end",
    "on_train_start",
    "on_train_epoch_start",
    "on_train_batch_start",
    "on_before_zero_grad",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_train_batch_end",
    "on_train_epoch_end",
    "on_save_checkpoint",
    "on_train_end",
    "on_fit_end",
    "teardown",
    "on_test_start",
    "on_test_epoch_start",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_test_epoch_end",
    "on_test_end",
    "on_predict_start",
    "on_predict_epoch_start",
    "on_predict_batch_start",
    "on_predict_batch_end",
    "on_predict_epoch_end",
    "on_predict_end",
    "on_load_checkpoint",
    "on_exception",
)
