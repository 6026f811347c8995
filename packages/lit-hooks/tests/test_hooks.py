"""Callback and module hook base classes against the Lightning 2.6 reference (names and signatures)."""

from __future__ import annotations

import inspect
from collections import namedtuple
from typing import Any

import pytest
import torch

from lit_hooks import (
    CALLBACK_HOOK_NAMES,
    CHECKPOINT_HOOK_NAMES,
    DATA_HOOK_NAMES,
    MODEL_HOOK_NAMES,
    REMOVED_HOOKS,
    Callback,
    CheckpointHooks,
    DataHooks,
    MisconfigurationException,
    ModelHooks,
    check_removed_hooks,
)

# written from the Lightning 2.6 reference (`lightning.pytorch.callbacks.Callback`)
REFERENCE_CALLBACK_SIGNATURES = {
    "setup": "(self, trainer, pl_module, stage)",
    "teardown": "(self, trainer, pl_module, stage)",
    "on_fit_start": "(self, trainer, pl_module)",
    "on_fit_end": "(self, trainer, pl_module)",
    "on_sanity_check_start": "(self, trainer, pl_module)",
    "on_sanity_check_end": "(self, trainer, pl_module)",
    "on_train_batch_start": "(self, trainer, pl_module, batch, batch_idx)",
    "on_train_batch_end": "(self, trainer, pl_module, outputs, batch, batch_idx)",
    "on_train_epoch_start": "(self, trainer, pl_module)",
    "on_train_epoch_end": "(self, trainer, pl_module)",
    "on_validation_epoch_start": "(self, trainer, pl_module)",
    "on_validation_epoch_end": "(self, trainer, pl_module)",
    "on_test_epoch_start": "(self, trainer, pl_module)",
    "on_test_epoch_end": "(self, trainer, pl_module)",
    "on_predict_epoch_start": "(self, trainer, pl_module)",
    "on_predict_epoch_end": "(self, trainer, pl_module)",
    "on_validation_batch_start": "(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0)",
    "on_validation_batch_end": "(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0)",
    "on_test_batch_start": "(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0)",
    "on_test_batch_end": "(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0)",
    "on_predict_batch_start": "(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0)",
    "on_predict_batch_end": "(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0)",
    "on_train_start": "(self, trainer, pl_module)",
    "on_train_end": "(self, trainer, pl_module)",
    "on_validation_start": "(self, trainer, pl_module)",
    "on_validation_end": "(self, trainer, pl_module)",
    "on_test_start": "(self, trainer, pl_module)",
    "on_test_end": "(self, trainer, pl_module)",
    "on_predict_start": "(self, trainer, pl_module)",
    "on_predict_end": "(self, trainer, pl_module)",
    "on_exception": "(self, trainer, pl_module, exception)",
    "state_dict": "(self)",
    "load_state_dict": "(self, state_dict)",
    "on_save_checkpoint": "(self, trainer, pl_module, checkpoint)",
    "on_load_checkpoint": "(self, trainer, pl_module, checkpoint)",
    "on_before_backward": "(self, trainer, pl_module, loss)",
    "on_after_backward": "(self, trainer, pl_module)",
    "on_before_optimizer_step": "(self, trainer, pl_module, optimizer)",
    "on_before_zero_grad": "(self, trainer, pl_module, optimizer)",
}

# written from the Lightning 2.6 reference (`lightning.pytorch.core.hooks`)
REFERENCE_MODEL_HOOK_SIGNATURES = {
    "on_fit_start": "(self)",
    "on_fit_end": "(self)",
    "on_train_start": "(self)",
    "on_train_end": "(self)",
    "on_validation_start": "(self)",
    "on_validation_end": "(self)",
    "on_test_start": "(self)",
    "on_test_end": "(self)",
    "on_predict_start": "(self)",
    "on_predict_end": "(self)",
    "on_train_batch_start": "(self, batch, batch_idx)",
    "on_train_batch_end": "(self, outputs, batch, batch_idx)",
    "on_validation_batch_start": "(self, batch, batch_idx, dataloader_idx=0)",
    "on_validation_batch_end": "(self, outputs, batch, batch_idx, dataloader_idx=0)",
    "on_test_batch_start": "(self, batch, batch_idx, dataloader_idx=0)",
    "on_test_batch_end": "(self, outputs, batch, batch_idx, dataloader_idx=0)",
    "on_predict_batch_start": "(self, batch, batch_idx, dataloader_idx=0)",
    "on_predict_batch_end": "(self, outputs, batch, batch_idx, dataloader_idx=0)",
    "on_validation_model_zero_grad": "(self)",
    "on_validation_model_eval": "(self)",
    "on_validation_model_train": "(self)",
    "on_test_model_eval": "(self)",
    "on_test_model_train": "(self)",
    "on_predict_model_eval": "(self)",
    "on_train_epoch_start": "(self)",
    "on_train_epoch_end": "(self)",
    "on_validation_epoch_start": "(self)",
    "on_validation_epoch_end": "(self)",
    "on_test_epoch_start": "(self)",
    "on_test_epoch_end": "(self)",
    "on_predict_epoch_start": "(self)",
    "on_predict_epoch_end": "(self)",
    "on_before_zero_grad": "(self, optimizer)",
    "on_before_backward": "(self, loss)",
    "on_after_backward": "(self)",
    "on_before_optimizer_step": "(self, optimizer)",
    "configure_sharded_model": "(self)",
    "configure_model": "(self)",
}

REFERENCE_DATA_HOOK_SIGNATURES = {
    "prepare_data": "(self)",
    "setup": "(self, stage)",
    "teardown": "(self, stage)",
    "train_dataloader": "(self)",
    "test_dataloader": "(self)",
    "val_dataloader": "(self)",
    "predict_dataloader": "(self)",
    "transfer_batch_to_device": "(self, batch, device, dataloader_idx)",
    "on_before_batch_transfer": "(self, batch, dataloader_idx)",
    "on_after_batch_transfer": "(self, batch, dataloader_idx)",
}

REFERENCE_CHECKPOINT_HOOK_SIGNATURES = {
    "on_load_checkpoint": "(self, checkpoint)",
    "on_save_checkpoint": "(self, checkpoint)",
}


def _signature(fn: Any) -> str:
    parts = []
    for p in inspect.signature(fn).parameters.values():
        parts.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return "(" + ", ".join(parts) + ")"


@pytest.mark.parametrize(
    ("cls", "reference"),
    [
        (Callback, REFERENCE_CALLBACK_SIGNATURES),
        (ModelHooks, REFERENCE_MODEL_HOOK_SIGNATURES),
        (DataHooks, REFERENCE_DATA_HOOK_SIGNATURES),
        (CheckpointHooks, REFERENCE_CHECKPOINT_HOOK_SIGNATURES),
    ],
)
def test_every_reference_hook_exists_with_its_signature(cls: type, reference: dict[str, str]) -> None:
    ours = {
        name: _signature(fn) for name, fn in vars(cls).items() if callable(fn) and not name.startswith("_")
    }
    assert ours == reference


def test_hook_name_tuples() -> None:
    assert sorted(CALLBACK_HOOK_NAMES) == sorted(
        set(REFERENCE_CALLBACK_SIGNATURES) - {"state_dict", "load_state_dict"}
    )
    assert len(set(CALLBACK_HOOK_NAMES)) == len(CALLBACK_HOOK_NAMES)
    assert CALLBACK_HOOK_NAMES[:2] == ("setup", "on_fit_start")
    assert MODEL_HOOK_NAMES == tuple(REFERENCE_MODEL_HOOK_SIGNATURES)
    assert DATA_HOOK_NAMES == tuple(REFERENCE_DATA_HOOK_SIGNATURES)
    assert CHECKPOINT_HOOK_NAMES == tuple(REFERENCE_CHECKPOINT_HOOK_SIGNATURES)


class Stateful(Callback):
    def __init__(self, monitor: str, mode: str) -> None:
        self.monitor, self.mode = monitor, mode

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)


def test_callback_defaults_and_state_key() -> None:
    cb = Callback()
    assert cb.state_key == "Callback"
    assert cb.state_dict() == {}
    assert cb.load_state_dict({"x": 1}) is None
    for name in CALLBACK_HOOK_NAMES:
        params = list(inspect.signature(getattr(cb, name)).parameters.values())
        args = [None] * sum(p.default is p.empty for p in params)
        assert getattr(cb, name)(*args) is None
    assert Stateful("val_loss", "min").state_key == "Stateful{'monitor': 'val_loss', 'mode': 'min'}"


class _Net(torch.nn.Module, ModelHooks, DataHooks, CheckpointHooks):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 2)


def test_model_hook_defaults() -> None:
    net = _Net()
    assert net.prepare_data_per_node is True
    assert net.allow_zero_length_dataloader_with_multiple_devices is False
    assert net.on_train_batch_start(None, 0) is None
    net.layer.weight.grad = torch.ones(2, 2)
    net.on_validation_model_zero_grad()
    assert net.layer.weight.grad is None
    net.on_validation_model_eval()
    assert not net.training and not net.layer.training
    net.on_validation_model_train()
    assert net.training
    net.on_test_model_eval()
    assert not net.training
    net.on_test_model_train()
    net.on_predict_model_eval()
    assert not net.training


def test_model_hook_defaults_use_the_trainer_model_when_attached() -> None:
    wrapped = torch.nn.Sequential(torch.nn.Linear(1, 1))

    class Trainer:
        model = wrapped

    class Attached(ModelHooks):
        trainer = Trainer()

    Attached().on_test_model_eval()
    assert not wrapped.training


def test_data_hook_defaults() -> None:
    hooks = DataHooks()
    assert hooks.on_before_batch_transfer("b", 0) == "b"
    assert hooks.on_after_batch_transfer("b", 0) == "b"
    assert hooks.prepare_data() is None and hooks.setup("fit") is None and hooks.teardown("fit") is None
    for name, entry in [
        ("train_dataloader", "fit"),
        ("val_dataloader", "validate"),
        ("test_dataloader", "test"),
        ("predict_dataloader", "predict"),
    ]:
        with pytest.raises(
            MisconfigurationException, match=rf"`{name}` is not implemented.*Trainer\.{entry}"
        ):
            getattr(hooks, name)()


Sample = namedtuple("Sample", ["x", "label"])


class _ToCounter:
    def __init__(self) -> None:
        self.devices: list[torch.device] = []

    def to(self, device: torch.device) -> _ToCounter:
        self.devices.append(device)
        return self


class _InPlaceTo:
    def to(self, device: torch.device) -> None:
        self.device = device


def test_transfer_batch_to_device_moves_tensors_and_objects_with_to() -> None:
    hooks = DataHooks()
    x = torch.arange(3.0)
    custom, in_place = _ToCounter(), _InPlaceTo()
    batch = {"s": Sample(x, "cat"), "objs": [custom, in_place], "n": 3}
    out = hooks.transfer_batch_to_device(batch, torch.device("cpu"), 0)
    assert out["s"].x is x  # already on the device: no copy
    assert out["s"].label == "cat" and out["n"] == 3
    assert out["objs"][0] is custom and custom.devices == [torch.device("cpu")]
    assert out["objs"][1] is in_place and in_place.device == torch.device("cpu")
    moved = hooks.transfer_batch_to_device(torch.ones(1, dtype=torch.float64), "meta", 0)
    assert moved.device.type == "meta" and moved.dtype == torch.float64


def test_removed_hooks_raise() -> None:
    class Old(ModelHooks):
        def training_epoch_end(self, outputs: Any) -> None:
            pass

    class OldCallback(Callback):
        def on_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            pass

    with pytest.raises(NotImplementedError) as err:
        check_removed_hooks(Old())
    message = str(err.value)
    assert "`Old` defines `training_epoch_end`" in message and "v2.0.0" in message
    assert "on_train_epoch_end" in message and "16520" in message
    with pytest.raises(NotImplementedError, match="`on_epoch_start`.*on_train_epoch_start"):
        check_removed_hooks(OldCallback)
    check_removed_hooks(_Net())
    check_removed_hooks(Callback())
    expected = {
        "training_epoch_end",
        "validation_epoch_end",
        "test_epoch_end",
        "training_step_end",
        "validation_step_end",
        "test_step_end",
        "on_epoch_start",
        "on_epoch_end",
        "on_batch_start",
        "on_batch_end",
    }
    assert expected <= set(REMOVED_HOOKS)
    assert not set(REMOVED_HOOKS) & (set(CALLBACK_HOOK_NAMES) | set(MODEL_HOOK_NAMES) | set(DATA_HOOK_NAMES))
