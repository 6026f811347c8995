"""Hook mixins of the module side: model hooks, data hooks and checkpoint hooks, with Lightning's defaults."""

from __future__ import annotations

from abc import ABC
from typing import TYPE_CHECKING, Any

import torch

from lit_hooks._collections import apply_to_collection
from lit_hooks._errors import MisconfigurationException

if TYPE_CHECKING:
    from torch import Tensor
    from torch.optim import Optimizer

__all__ = [
    "CHECKPOINT_HOOK_NAMES",
    "CheckpointHooks",
    "DATA_HOOK_NAMES",
    "DataHooks",
    "MODEL_HOOK_NAMES",
    "ModelHooks",
    "REMOVED_HOOKS",
    "check_removed_hooks",
]


def _model_of(hooks: object) -> Any:
    """The (possibly wrapped) model the trainer drives, falling back to the object itself."""
    try:
        trainer = getattr(hooks, "trainer", None)
    except (AttributeError, RuntimeError):  # an unattached LightningModule raises on `.trainer`
        trainer = None
    model = getattr(trainer, "model", None) if trainer is not None else None
    return model if model is not None else hooks


class ModelHooks:
    """Hooks of the module being trained. Each default does nothing unless documented otherwise."""

    def on_fit_start(self) -> None:
        """Called at the very beginning of fit (on every process under DDP)."""

    def on_fit_end(self) -> None:
        """Called at the very end of fit."""

    def on_train_start(self) -> None:
        """Called at the beginning of training after the sanity check."""

    def on_train_end(self) -> None:
        """Called at the end of training before the logger experiment is closed."""

    def on_validation_start(self) -> None:
        """Called at the beginning of validation."""

    def on_validation_end(self) -> None:
        """Called at the end of validation."""

    def on_test_start(self) -> None:
        """Called at the beginning of testing."""

    def on_test_end(self) -> None:
        """Called at the end of testing."""

    def on_predict_start(self) -> None:
        """Called at the beginning of predicting."""

    def on_predict_end(self) -> None:
        """Called at the end of predicting."""

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        """Called before the training step of a batch; return ``-1`` to skip the rest of the epoch."""
        return None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Called after the training step of a batch; ``outputs["loss"]`` is normalised by accumulation."""

    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before the validation step of a batch."""

    def on_validation_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Called after the validation step of a batch."""

    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before the test step of a batch."""

    def on_test_batch_end(self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called after the test step of a batch."""

    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        """Called before the predict step of a batch."""

    def on_predict_batch_end(
        self, outputs: Any | None, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        """Called after the predict step of a batch."""

    def on_validation_model_zero_grad(self) -> None:
        """Called by the training loop before validation to release gradients; default: ``self.zero_grad()``."""
        zero_grad = getattr(self, "zero_grad", None)
        if callable(zero_grad):
            zero_grad()

    def on_validation_model_eval(self) -> None:
        """Called when validation starts; default: put the trainer's model in eval mode."""
        _model_of(self).eval()

    def on_validation_model_train(self) -> None:
        """Called when validation ends if overridden (the loop restores the training mode itself otherwise)."""
        _model_of(self).train()

    def on_test_model_eval(self) -> None:
        """Called when testing starts; default: put the trainer's model in eval mode."""
        _model_of(self).eval()

    def on_test_model_train(self) -> None:
        """Called when testing ends if overridden (the loop restores the training mode itself otherwise)."""
        _model_of(self).train()

    def on_predict_model_eval(self) -> None:
        """Called when predicting starts; default: put the trainer's model in eval mode."""
        _model_of(self).eval()

    def on_train_epoch_start(self) -> None:
        """Called at the beginning of a training epoch."""

    def on_train_epoch_end(self) -> None:
        """Called at the end of a training epoch (keep step outputs as attributes to aggregate them here)."""

    def on_validation_epoch_start(self) -> None:
        """Called at the beginning of a validation epoch."""

    def on_validation_epoch_end(self) -> None:
        """Called at the end of a validation epoch."""

    def on_test_epoch_start(self) -> None:
        """Called at the beginning of a test epoch."""

    def on_test_epoch_end(self) -> None:
        """Called at the end of a test epoch."""

    def on_predict_epoch_start(self) -> None:
        """Called at the beginning of predicting."""

    def on_predict_epoch_end(self) -> None:
        """Called at the end of predicting."""

    def on_before_zero_grad(self, optimizer: Optimizer) -> None:
        """Called after ``training_step`` and before ``optimizer.zero_grad()``."""

    def on_before_backward(self, loss: Tensor) -> None:
        """Called before ``loss.backward()``; ``loss`` is already divided by the accumulation factor."""

    def on_after_backward(self) -> None:
        """Called after ``loss.backward()`` and before the optimizer steps (gradients may still be scaled)."""

    def on_before_optimizer_step(self, optimizer: Optimizer) -> None:
        """Called before ``optimizer.step()``, once gradients are accumulated and unscaled, before clipping."""

    def configure_sharded_model(self) -> None:
        """Deprecated: override :meth:`configure_model` instead."""

    def configure_model(self) -> None:
        """Create layers here to build them under the strategy's sharded/precision-aware context.

        Called at the start of every fit/validate/test/predict of the same process, so it must be idempotent.
        """


class DataHooks:
    """Data hooks shared by the module and the data module.

    Attributes:
        prepare_data_per_node: When ``True`` every node's local rank zero calls :meth:`prepare_data`; otherwise
            only the global rank zero does.
        allow_zero_length_dataloader_with_multiple_devices: Allow an empty data loader on some rank.
    """

    prepare_data_per_node: bool = True
    allow_zero_length_dataloader_with_multiple_devices: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.prepare_data_per_node = True
        self.allow_zero_length_dataloader_with_multiple_devices = False

    def prepare_data(self) -> None:
        """Download and write data to disk; runs on one process per node (or in total), never assign state here."""

    def setup(self, stage: str) -> None:
        """Called on every process at the beginning of fit/validate/test/predict; ``stage`` names which."""

    def teardown(self, stage: str) -> None:
        """Called on every process at the end of fit/validate/test/predict."""

    def train_dataloader(self) -> Any:
        """Return the training data loader(s)."""
        raise MisconfigurationException(_missing_loader_message("train_dataloader", "fit"))

    def test_dataloader(self) -> Any:
        """Return the test data loader(s)."""
        raise MisconfigurationException(_missing_loader_message("test_dataloader", "test"))

    def val_dataloader(self) -> Any:
        """Return the validation data loader(s)."""
        raise MisconfigurationException(_missing_loader_message("val_dataloader", "validate"))

    def predict_dataloader(self) -> Any:
        """Return the predict data loader(s)."""
        raise MisconfigurationException(_missing_loader_message("predict_dataloader", "predict"))

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Move ``batch`` to ``device``; override for custom batch types.

        The default moves every tensor (and every object with a ``.to`` method) found in nested lists, tuples,
        mappings, namedtuples, dataclasses and sets. Transfers are non-blocking only for pinned CPU tensors going
        to a CUDA device.
        """
        return _move_to_device(batch, device)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Alter the batch before it is moved to the device; returns it unchanged by default."""
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Alter the batch after it was moved to the device; returns it unchanged by default."""
        return batch


def _missing_loader_message(hook: str, entry_point: str) -> str:
    return (
        f"`{hook}` is not implemented, but `Trainer.{entry_point}` needs it to get data. Either override"
        f" `{hook}()` in your LightningModule/LightningDataModule, or pass data loaders to `Trainer.{entry_point}`."
    )


class _Transferable(ABC):  # noqa: B024 (used only for its __subclasshook__)
    """Matches any object with a callable ``to`` method (tensors, modules, custom batch classes)."""

    @classmethod
    def __subclasshook__(cls, subclass: Any) -> Any:
        if cls is _Transferable:
            return callable(getattr(subclass, "to", None)) or NotImplemented
        return NotImplemented


def _move_to_device(batch: Any, device: torch.device | str | int) -> Any:
    if not isinstance(device, torch.device):
        device = torch.device(device)
    to_cuda = device.type == "cuda"

    def move(data: Any) -> Any:
        if isinstance(data, torch.Tensor):
            if to_cuda and data.device.type == "cpu" and data.is_pinned():
                return data.to(device, non_blocking=True)
            return data.to(device)
        moved = data.to(device)
        # some custom ``.to`` implementations work in place and return None
        return data if moved is None else moved

    return apply_to_collection(batch, _Transferable, move)


class CheckpointHooks:
    """Hooks to read or amend the checkpoint dictionary."""

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called with the full checkpoint dictionary when a checkpoint is restored."""

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called with the checkpoint dictionary before it is saved; add or change entries in place."""


#: Every hook of :class:`ModelHooks`.
MODEL_HOOK_NAMES: tuple[str, ...] = tuple(name for name in vars(ModelHooks) if not name.startswith("_"))
#: Every hook of :class:`DataHooks` (attributes excluded).
DATA_HOOK_NAMES: tuple[str, ...] = tuple(
    name for name, value in vars(DataHooks).items() if not name.startswith("_") and callable(value)
)
#: Every hook of :class:`CheckpointHooks`.
CHECKPOINT_HOOK_NAMES: tuple[str, ...] = ("on_load_checkpoint", "on_save_checkpoint")

_EPOCH_END_HINT = (
    "To use the outputs of every step, store them as attributes of the module during the steps. Migration"
    " examples: https://github.com/Lightning-AI/pytorch-lightning/pull/16520."
)

#: Hooks removed in Lightning 2.0, mapped to what to use instead. Defining one of them is an error.
REMOVED_HOOKS: dict[str, str] = {
    "training_epoch_end": f"Use the `on_train_epoch_end` hook instead. {_EPOCH_END_HINT}",
    "validation_epoch_end": f"Use the `on_validation_epoch_end` hook instead. {_EPOCH_END_HINT}",
    "test_epoch_end": f"Use the `on_test_epoch_end` hook instead. {_EPOCH_END_HINT}",
    "training_step_end": "Move its code to the end of `training_step`.",
    "validation_step_end": "Move its code to the end of `validation_step`.",
    "test_step_end": "Move its code to the end of `test_step`.",
    "on_epoch_start": (
        "Use `on_train_epoch_start`, `on_validation_epoch_start`, `on_test_epoch_start` or"
        " `on_predict_epoch_start` instead."
    ),
    "on_epoch_end": (
        "Use `on_train_epoch_end`, `on_validation_epoch_end`, `on_test_epoch_end` or `on_predict_epoch_end` instead."
    ),
    "on_batch_start": "Use `on_train_batch_start` instead.",
    "on_batch_end": "Use `on_train_batch_end` instead.",
    "on_pretrain_routine_start": "Use `on_fit_start` instead.",
    "on_pretrain_routine_end": "Use `on_fit_start` instead.",
    "on_init_start": "There is no replacement: run the code before creating the Trainer.",
    "on_init_end": "There is no replacement: run the code after creating the Trainer.",
    "on_hpc_save": "Use `on_save_checkpoint` instead.",
    "on_hpc_load": "Use `on_load_checkpoint` instead.",
    "on_configure_sharded_model": "Use `setup` instead.",
    "on_before_accelerator_backend_setup": "Use `setup` instead.",
    "on_keyboard_interrupt": "Use `on_exception` and check `isinstance(exception, KeyboardInterrupt)` instead.",
}


def check_removed_hooks(obj: object) -> None:
    """Raise if the class of ``obj`` (a module, data module or callback, or the class itself) defines a hook
    that was removed in Lightning 2.0.

    Raises:
        NotImplementedError: Naming the hook, the class and the replacement.
    """
    cls = obj if isinstance(obj, type) else type(obj)
    for hook, hint in REMOVED_HOOKS.items():
        if callable(getattr(cls, hook, None)):
            raise NotImplementedError(
                f"`{cls.__name__}` defines `{hook}`, but support for this hook was removed in v2.0.0 and it would"
                f" never be called. {hint}"
            )
