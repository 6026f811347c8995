from __future__ import annotations

import os
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from lit_hooks import (
    CALLBACK_HOOK_NAMES,
    CheckpointIOProtocol,
    DataHooks,
    LoggerProtocol,
    ModelHooks,
    PrecisionProtocol,
    StrategyProtocol,
)
from lit_hooks.testing import (
    FakeCheckpointIO,
    FakeDeepSpeedStrategy,
    FakePrecision,
    FakeShardedStrategy,
    FakeStrategy,
    RecordingCallback,
    RecordingLogger,
)


class Net(nn.Module, ModelHooks, DataHooks):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(2, 1)
        self.transfers: list[str] = []
        self.backward_hook_calls = 0

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).sum()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> str:
        return f"val{batch_idx}"

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> str:
        return f"test{batch_idx}"

    def predict_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch)

    def backward(self, loss: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        self.backward_hook_calls += 1
        loss.backward(*args, **kwargs)

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.transfers.append(f"before{dataloader_idx}")
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.transfers.append(f"after{dataloader_idx}")
        return batch * 2


def test_protocol_conformance() -> None:
    assert isinstance(FakePrecision(), PrecisionProtocol)
    assert isinstance(FakeCheckpointIO(), CheckpointIOProtocol)
    assert isinstance(RecordingLogger(), LoggerProtocol)
    assert not isinstance(object(), StrategyProtocol)


def test_fake_strategy_steps_and_collectives() -> None:
    strategy = FakeStrategy()
    net = Net()
    strategy.connect(net)
    assert strategy.setup_module(net) is net and strategy.model is net and strategy.lightning_module is net
    batch = strategy.batch_to_device(torch.ones(1, 2), dataloader_idx=1)
    assert net.transfers == ["before1", "after1"]
    torch.testing.assert_close(batch, torch.full((1, 2), 2.0))
    assert strategy.validation_step(batch, 3) == "val3" and strategy.test_step(batch, 4) == "test4"
    assert strategy.predict_step(batch, 0).shape == (1, 1)

    optimizer = strategy.setup_optimizer(torch.optim.SGD(net.parameters(), lr=1.0))
    before = net.layer.weight.detach().clone()
    expected_loss = net.layer(batch).sum().item()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = strategy.training_step(batch, 0)
        return strategy.backward(loss, optimizer)

    loss = strategy.optimizer_step(optimizer, closure)
    assert net.backward_hook_calls == 1  # backward goes through the module's hook
    assert loss.detach().item() == pytest.approx(expected_loss)
    torch.testing.assert_close(net.layer.weight.detach(), before - batch)  # d(sum(Wx+b))/dW = x

    tensor = torch.arange(3.0)
    assert strategy.reduce(tensor) is tensor and strategy.all_gather(tensor) is tensor
    assert strategy.broadcast({"a": 1}) == {"a": 1} and strategy.reduce_boolean_decision(False) is False
    strategy.barrier("sync")
    assert strategy.barriers == ["sync"]
    assert (strategy.world_size, strategy.global_rank, strategy.is_global_zero) == (1, 0, True)
    assert strategy.distributed_sampler_kwargs is None
    with strategy.tensor_init_context():
        assert torch.empty(1).device.type == "cpu"


def test_fake_strategy_checkpoint_round_trip(tmp_path: Path) -> None:
    strategy = FakeStrategy()
    net = Net()
    strategy.connect(net)
    strategy.setup_module(net)
    optimizer = strategy.setup_optimizer(torch.optim.Adam(net.parameters(), lr=0.1))
    net.training_step(torch.ones(1, 2), 0).backward()
    optimizer.step()
    path = tmp_path / "sub" / "model.ckpt"
    checkpoint = {
        "state_dict": strategy.lightning_module_state_dict(),
        "optimizer_states": [strategy.optimizer_state(optimizer)],
    }
    strategy.save_checkpoint(checkpoint, path)
    assert sorted(os.listdir(path.parent)) == ["model.ckpt"]  # no temporary file left behind

    other = FakeStrategy()
    other_net = Net()
    nn.init.zeros_(other_net.layer.weight)
    other.connect(other_net)
    other.setup_module(other_net)
    other_opt = other.setup_optimizer(torch.optim.Adam(other_net.parameters(), lr=0.1))
    loaded = other.load_checkpoint(path)
    other.load_model_state_dict(loaded)
    other.load_optimizer_state_dict(loaded)
    torch.testing.assert_close(other_net.layer.weight, net.layer.weight)
    assert other_opt.state_dict()["state"][0]["step"] == 1

    with pytest.raises(ValueError, match="1 optimizer states but 2 optimizers"):
        other.setup_optimizer(torch.optim.SGD(other_net.parameters(), lr=0.1))
        other.load_optimizer_state_dict(loaded)
    other.remove_checkpoint(path)
    assert not path.exists()
    with pytest.raises(FileNotFoundError, match="model.ckpt"):
        other.load_checkpoint(path)


def test_fake_deepspeed_restores_optimizer_while_loading(tmp_path: Path) -> None:
    strategy = FakeDeepSpeedStrategy(gradient_accumulation_steps=2)
    assert not strategy.lightning_restore_optimizer and strategy.restore_checkpoint_after_setup
    net = Net()
    strategy.connect(net)
    optimizer = strategy.setup_optimizer(torch.optim.Adam(net.parameters()))
    net.training_step(torch.ones(1, 2), 0).backward()
    optimizer.step()
    path = tmp_path / "ds.ckpt"
    strategy.save_checkpoint({"optimizer_states": [optimizer.state_dict()]}, path)
    fresh = FakeDeepSpeedStrategy(gradient_accumulation_steps=2)
    fresh_opt = fresh.setup_optimizer(torch.optim.Adam(Net().parameters()))
    fresh.load_checkpoint(path)
    assert fresh_opt.state_dict()["state"][0]["step"] == 1
    assert strategy.is_gradient_accumulation_boundary() is False
    with pytest.raises(ValueError, match="positive int"):
        FakeDeepSpeedStrategy(gradient_accumulation_steps=0)


def test_fake_sharded_no_backward_sync_disabled_records_nothing() -> None:
    strategy = FakeShardedStrategy()
    with strategy.no_backward_sync(nn.Linear(1, 1), enabled=False):
        pass
    assert strategy.no_sync_entries == [] and not strategy.is_sharded


def test_fake_precision_clipping() -> None:
    precision = FakePrecision()
    layer = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer.weight.grad = torch.full((2, 2), 10.0)
    layer.bias.grad = torch.full((2,), -10.0)
    precision.clip_gradients(layer, optimizer, 0.5, "value")
    assert layer.weight.grad.max().item() == 0.5 and layer.bias.grad.min().item() == -0.5
    precision.clip_gradients(layer, optimizer, 0.1, "norm")
    norm = torch.cat([layer.weight.grad.flatten(), layer.bias.grad]).norm()
    assert norm.item() == pytest.approx(0.1, rel=1e-4)
    precision.clip_gradients(layer, optimizer, 0.0, "norm")  # disabled
    assert precision.clip_calls == [(0.5, "value"), (0.1, "norm")]
    with pytest.raises(ValueError, match="'l1'"):
        precision.clip_gradients(layer, optimizer, 1.0, "l1")


def test_recording_callback_records_every_hook_with_its_arguments() -> None:
    recorder = RecordingCallback()
    recorder.setup("trainer", "module", stage="fit")
    recorder.on_train_batch_end("trainer", "module", {"loss": 1}, "batch", 7)
    recorder.on_test_batch_start("trainer", "module", "batch", 2)
    recorder.on_exception("trainer", "module", ValueError("x"))
    recorder.load_state_dict({"a": 1})
    assert recorder.state_dict() == {}
    assert recorder.calls[:3] == [
        ("setup", {"stage": "fit"}),
        ("on_train_batch_end", {"outputs": {"loss": 1}, "batch": "batch", "batch_idx": 7}),
        ("on_test_batch_start", {"batch": "batch", "batch_idx": 2, "dataloader_idx": 0}),
    ]
    assert recorder.hook_names[3:] == ["on_exception", "load_state_dict", "state_dict"]
    for name in CALLBACK_HOOK_NAMES:
        assert getattr(RecordingCallback, name).__qualname__ == f"RecordingCallback.{name}"
    with pytest.raises(TypeError):
        recorder.on_fit_start("trainer")  # the real signature is enforced


def test_recording_logger(tmp_path: Path) -> None:
    logger = RecordingLogger(save_dir=str(tmp_path), name="exp", version=3)
    assert logger.log_dir == os.path.join(str(tmp_path), "exp", "version_3")
    assert logger.root_dir == os.path.join(str(tmp_path), "exp")
    assert logger.experiment is logger and logger.group_separator == "/"
    logger.log_hyperparams(Namespace(lr=0.1))
    logger.log_hyperparams({"layers": 2})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.log_metrics({"loss": 0.5, "acc": 0.9}, step=5)
    logger.log_graph(nn.Linear(1, 1))
    logger.save()
    logger.after_save_checkpoint("cb")
    logger.finalize("success")
    assert logger.metrics == [(0, {"loss": 1.0}), (5, {"loss": 0.5, "acc": 0.9})]
    assert logger.hparams == {"lr": 0.1, "layers": 2} and logger.hparams_calls == 2
    assert (logger.graphs, logger.saved, logger.finalized) == (["Linear"], 1, "success")
    assert logger.checkpoint_callbacks == ["cb"]
    assert RecordingLogger(version="custom", save_dir="d").log_dir == os.path.join("d", "recording", "custom")
    assert RecordingLogger().log_dir is None
