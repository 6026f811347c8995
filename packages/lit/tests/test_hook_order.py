"""Hook call order of fit/validate/test/predict (automatic and manual optimization) against the reference.

The expected sequences are the reference behaviour of Lightning 2.6.5 (lightning-api.md section 5): a recording
module and a recording callback log every hook when it returns (so nested calls such as ``forward`` inside
``training_step``, or ``train(False)`` inside ``on_validation_model_eval``, come first).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from torch.utils.data import DataLoader

import lit as L
from lit.demos.boring_classes import BoringModel, RandomDataset

MODULE_HOOKS = [
    "configure_callbacks", "prepare_data", "setup", "configure_model", "configure_optimizers", "on_fit_start",
    "zero_grad", "val_dataloader", "train_dataloader", "test_dataloader", "predict_dataloader", "train",
    "on_validation_model_eval", "on_validation_model_train", "on_validation_model_zero_grad", "on_test_model_eval",
    "on_test_model_train", "on_predict_model_eval", "on_validation_start", "on_validation_epoch_start",
    "on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer", "on_validation_batch_start",
    "forward", "validation_step", "on_validation_batch_end", "on_validation_epoch_end", "on_validation_end",
    "on_train_start", "on_train_epoch_start", "on_train_batch_start", "training_step", "on_before_zero_grad",
    "optimizer_zero_grad", "on_before_backward", "backward", "on_after_backward", "on_before_optimizer_step",
    "clip_gradients", "configure_gradient_clipping", "optimizer_step", "lr_scheduler_step", "on_train_batch_end",
    "on_train_epoch_end", "on_save_checkpoint", "on_train_end", "on_fit_end", "teardown", "on_test_start",
    "on_test_epoch_start", "on_test_batch_start", "test_step", "on_test_batch_end", "on_test_epoch_end",
    "on_test_end", "on_predict_start", "on_predict_epoch_start", "on_predict_batch_start", "predict_step",
    "on_predict_batch_end", "on_predict_epoch_end", "on_predict_end", "manual_backward", "on_load_checkpoint",
]  # fmt: skip
CALLBACK_HOOKS = [
    "setup", "teardown", "on_fit_start", "on_fit_end", "on_sanity_check_start", "on_sanity_check_end",
    "on_train_batch_start", "on_train_batch_end", "on_train_epoch_start", "on_train_epoch_end",
    "on_validation_epoch_start", "on_validation_epoch_end", "on_test_epoch_start", "on_test_epoch_end",
    "on_predict_epoch_start", "on_predict_epoch_end", "on_validation_batch_start", "on_validation_batch_end",
    "on_test_batch_start", "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end", "on_train_start",
    "on_train_end", "on_validation_start", "on_validation_end", "on_test_start", "on_test_end", "on_predict_start",
    "on_predict_end", "on_exception", "on_save_checkpoint", "on_load_checkpoint", "on_before_backward",
    "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad", "state_dict", "load_state_dict",
]  # fmt: skip


def _fmt(name: str, args: tuple[Any, ...]) -> str:
    if name in ("setup", "teardown"):
        stage = args[-1]
        return f"{name}({getattr(stage, 'value', stage)})"
    if name == "train":
        return f"train({args[0] if args else True})"
    return name


class RecordingModel(BoringModel):
    def __init__(self, called: list[str], manual: bool = False) -> None:
        super().__init__()
        self._called = called
        self._manual = manual
        if manual:
            self.automatic_optimization = False
        for hook in MODULE_HOOKS:
            setattr(self, hook, partial(self._record, hook, getattr(self, hook)))

    def _record(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        self._called.append(_fmt(name, args + tuple(kwargs.values())))
        return out

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if not self._manual:
            return super().training_step(batch, batch_idx)
        opt = self.optimizers()
        loss = self.step(batch)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step(lambda: self._called.append("closure"))
        return loss

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RandomDataset(32, 64), batch_size=32)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(RandomDataset(32, 64), batch_size=32)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(RandomDataset(32, 64), batch_size=32)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(RandomDataset(32, 64), batch_size=32)


class RecordingCallback(L.Callback):
    def __init__(self, called: list[str]) -> None:
        self._called = called
        for hook in CALLBACK_HOOKS:
            setattr(self, hook, partial(self._record, hook, getattr(self, hook)))

    def _record(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._called.append("Callback." + _fmt(name, args + tuple(kwargs.values())))
        return fn(*args, **kwargs)


def _run(tmp_path: Any, entry: str, manual: bool = False, checkpointing: bool = False) -> list[str]:
    called: list[str] = []
    model = RecordingModel(called, manual=manual)
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=2,
        limit_test_batches=2,
        limit_predict_batches=2,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[RecordingCallback(called)],
        logger=False,
        enable_checkpointing=checkpointing,
    )
    del called[:]
    getattr(trainer, entry)(model)
    return called


@pytest.mark.parametrize(
    "entry, key, manual",
    [
        ("fit", "fit", False),
        ("fit", "fit_manual", True),
        ("validate", "validate", False),
        ("test", "test", False),
        ("predict", "predict", False),
    ],
)
def test_hook_order_matches_reference(tmp_path: Any, entry: str, key: str, manual: bool) -> None:
    assert _run(tmp_path, entry, manual) == EXPECTED[key]


def test_fit_with_model_checkpoint_hook_order(tmp_path: Any) -> None:
    """The default ModelCheckpoint saves after the module's on_train_epoch_end: callbacks' state_dict, their
    on_save_checkpoint, then the module's on_save_checkpoint."""
    assert _run(tmp_path, "fit", checkpointing=True) == EXPECTED["fit_checkpoint"]


def test_resume_hook_order_matches_reference(tmp_path: Any) -> None:
    """Resuming from an end-of-epoch checkpoint: module/callback restore between configure_model and
    configure_optimizers, then a normal (sanity-checked) second epoch."""
    kwargs: dict[str, Any] = {
        "default_root_dir": tmp_path,
        "limit_train_batches": 2,
        "limit_val_batches": 2,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
    }
    first = L.Trainer(max_epochs=1, **kwargs)
    first.fit(RecordingModel([]))
    ckpt = tmp_path / "epoch0.ckpt"
    first.save_checkpoint(ckpt)
    called: list[str] = []
    trainer = L.Trainer(max_epochs=2, callbacks=[RecordingCallback(called)], **kwargs)
    model = RecordingModel(called)
    del called[:]
    trainer.fit(model, ckpt_path=ckpt)
    assert called == EXPECTED["fit_resume"]
    assert trainer.global_step == 4 and trainer.current_epoch == 2


# Sequences recorded by running Lightning 2.6.5 with the recorder below (1 epoch, limit 2 train/val batches,
# batch size 32, no checkpointing/progress bar/summary/logger). They agree with lightning-api.md section 5.
EXPECTED = {
    "fit": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(fit)",
        "setup(fit)",
        "configure_model",
        "configure_optimizers",
        "Callback.on_fit_start",
        "on_fit_start",
        "zero_grad",
        "Callback.on_sanity_check_start",
        "val_dataloader",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_sanity_check_end",
        "train_dataloader",
        "Callback.on_train_start",
        "on_train_start",
        "Callback.on_train_epoch_start",
        "on_train_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "training_step",
        "Callback.on_before_zero_grad",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "clip_gradients",
        "configure_gradient_clipping",
        "optimizer_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "training_step",
        "Callback.on_before_zero_grad",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "clip_gradients",
        "configure_gradient_clipping",
        "optimizer_step",
        "lr_scheduler_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "zero_grad",
        "on_validation_model_zero_grad",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_train_epoch_end",
        "on_train_epoch_end",
        "Callback.on_train_end",
        "on_train_end",
        "Callback.on_fit_end",
        "on_fit_end",
        "Callback.teardown(fit)",
        "teardown(fit)",
    ],
    "validate": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(validate)",
        "setup(validate)",
        "configure_model",
        "zero_grad",
        "val_dataloader",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.teardown(validate)",
        "teardown(validate)",
    ],
    "test": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(test)",
        "setup(test)",
        "configure_model",
        "zero_grad",
        "test_dataloader",
        "train(False)",
        "on_test_model_eval",
        "Callback.on_test_start",
        "on_test_start",
        "Callback.on_test_epoch_start",
        "on_test_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_test_batch_start",
        "on_test_batch_start",
        "forward",
        "test_step",
        "Callback.on_test_batch_end",
        "on_test_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_test_batch_start",
        "on_test_batch_start",
        "forward",
        "test_step",
        "Callback.on_test_batch_end",
        "on_test_batch_end",
        "Callback.on_test_epoch_end",
        "on_test_epoch_end",
        "Callback.on_test_end",
        "on_test_end",
        "train(True)",
        "on_test_model_train",
        "Callback.teardown(test)",
        "teardown(test)",
    ],
    "predict": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(predict)",
        "setup(predict)",
        "configure_model",
        "zero_grad",
        "predict_dataloader",
        "train(False)",
        "on_predict_model_eval",
        "Callback.on_predict_start",
        "on_predict_start",
        "Callback.on_predict_epoch_start",
        "on_predict_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_predict_batch_start",
        "on_predict_batch_start",
        "forward",
        "predict_step",
        "Callback.on_predict_batch_end",
        "on_predict_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_predict_batch_start",
        "on_predict_batch_start",
        "forward",
        "predict_step",
        "Callback.on_predict_batch_end",
        "on_predict_batch_end",
        "Callback.on_predict_epoch_end",
        "on_predict_epoch_end",
        "Callback.on_predict_end",
        "on_predict_end",
        "Callback.teardown(predict)",
        "teardown(predict)",
    ],
    "fit_manual": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(fit)",
        "setup(fit)",
        "configure_model",
        "configure_optimizers",
        "Callback.on_fit_start",
        "on_fit_start",
        "zero_grad",
        "Callback.on_sanity_check_start",
        "val_dataloader",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_sanity_check_end",
        "train_dataloader",
        "Callback.on_train_start",
        "on_train_start",
        "Callback.on_train_epoch_start",
        "on_train_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "manual_backward",
        "closure",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "training_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "manual_backward",
        "closure",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "training_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "zero_grad",
        "on_validation_model_zero_grad",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_train_epoch_end",
        "on_train_epoch_end",
        "Callback.on_train_end",
        "on_train_end",
        "Callback.on_fit_end",
        "on_fit_end",
        "Callback.teardown(fit)",
        "teardown(fit)",
    ],
    "fit_checkpoint": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(fit)",
        "setup(fit)",
        "configure_model",
        "configure_optimizers",
        "Callback.on_fit_start",
        "on_fit_start",
        "zero_grad",
        "Callback.on_sanity_check_start",
        "val_dataloader",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_sanity_check_end",
        "train_dataloader",
        "Callback.on_train_start",
        "on_train_start",
        "Callback.on_train_epoch_start",
        "on_train_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "training_step",
        "Callback.on_before_zero_grad",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "clip_gradients",
        "configure_gradient_clipping",
        "optimizer_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "training_step",
        "Callback.on_before_zero_grad",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "clip_gradients",
        "configure_gradient_clipping",
        "optimizer_step",
        "lr_scheduler_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "zero_grad",
        "on_validation_model_zero_grad",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_train_epoch_end",
        "on_train_epoch_end",
        "Callback.state_dict",
        "Callback.on_save_checkpoint",
        "on_save_checkpoint",
        "Callback.on_train_end",
        "on_train_end",
        "Callback.on_fit_end",
        "on_fit_end",
        "Callback.teardown(fit)",
        "teardown(fit)",
    ],
    "fit_resume": [
        "configure_callbacks",
        "prepare_data",
        "Callback.setup(fit)",
        "setup(fit)",
        "configure_model",
        "on_load_checkpoint",
        "Callback.on_load_checkpoint",
        "configure_optimizers",
        "Callback.on_fit_start",
        "on_fit_start",
        "zero_grad",
        "Callback.on_sanity_check_start",
        "val_dataloader",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_sanity_check_end",
        "train_dataloader",
        "Callback.on_train_start",
        "on_train_start",
        "Callback.on_train_epoch_start",
        "on_train_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "training_step",
        "Callback.on_before_zero_grad",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "clip_gradients",
        "configure_gradient_clipping",
        "optimizer_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_train_batch_start",
        "on_train_batch_start",
        "forward",
        "training_step",
        "Callback.on_before_zero_grad",
        "on_before_zero_grad",
        "optimizer_zero_grad",
        "Callback.on_before_backward",
        "on_before_backward",
        "backward",
        "Callback.on_after_backward",
        "on_after_backward",
        "Callback.on_before_optimizer_step",
        "on_before_optimizer_step",
        "clip_gradients",
        "configure_gradient_clipping",
        "optimizer_step",
        "lr_scheduler_step",
        "Callback.on_train_batch_end",
        "on_train_batch_end",
        "zero_grad",
        "on_validation_model_zero_grad",
        "train(False)",
        "on_validation_model_eval",
        "Callback.on_validation_start",
        "on_validation_start",
        "Callback.on_validation_epoch_start",
        "on_validation_epoch_start",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "on_before_batch_transfer",
        "transfer_batch_to_device",
        "on_after_batch_transfer",
        "Callback.on_validation_batch_start",
        "on_validation_batch_start",
        "forward",
        "validation_step",
        "Callback.on_validation_batch_end",
        "on_validation_batch_end",
        "Callback.on_validation_epoch_end",
        "on_validation_epoch_end",
        "Callback.on_validation_end",
        "on_validation_end",
        "train(True)",
        "on_validation_model_train",
        "Callback.on_train_epoch_end",
        "on_train_epoch_end",
        "Callback.on_train_end",
        "on_train_end",
        "Callback.on_fit_end",
        "on_fit_end",
        "Callback.teardown(fit)",
        "teardown(fit)",
    ],
}


def test_dispatch_order_callbacks_module_and_monitoring_callbacks(tmp_path: Any) -> None:
    """callbacks -> module for every hook; on_train_epoch_end runs monitoring callbacks after the module, and
    checkpoint callbacks are moved to the end of the callback list (tuner callbacks to the front)."""
    from lit.callbacks import EarlyStopping

    order: list[str] = []

    class Plain(L.Callback):
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            order.append(self.tag)

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            order.append(f"{self.tag}.start")

    class Stopper(EarlyStopping):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            order.append("early_stopping")

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            pass

    class ModelCheckpoint(Plain):  # named like the checkpoint callback: moved last
        pass

    class LearningRateFinder(Plain):  # named like a tuner callback: moved first
        pass

    class Model(BoringModel):
        def on_train_epoch_end(self) -> None:
            order.append("module")

        def on_train_start(self) -> None:
            order.append("module.start")

    callbacks = [
        ModelCheckpoint("ckpt"),
        Stopper(monitor="x"),
        Plain("a"),
        LearningRateFinder("tuner"),
        Plain("b"),
    ]
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        callbacks=callbacks,
    )
    trainer.fit(Model())
    assert [type(c).__name__ for c in trainer.callbacks] == [
        "LearningRateFinder",
        "Stopper",
        "Plain",
        "Plain",
        "ModelCheckpoint",
    ]
    assert order == [
        "tuner.start", "a.start", "b.start", "ckpt.start", "module.start",
        "tuner", "a", "b", "module", "early_stopping", "ckpt",
    ]  # fmt: skip
