"""The protocol proof: one small loop written only against the lit-hooks contracts drives three very different
strategies (plain, DeepSpeed-like, FSDP-like) to the same weights as a hand-written PyTorch loop."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import pytest
import torch
from torch import nn

from lit_hooks import (
    BackwardSyncControl,
    Callback,
    ModelHooks,
    PrecisionProtocol,
    Sharded,
    StrategyProtocol,
)
from lit_hooks.testing import FakeDeepSpeedStrategy, FakeShardedStrategy, FakeStrategy, RecordingCallback

LR, MOMENTUM = 0.1, 0.9


def fit_with_protocols(
    module: Any,
    strategy: StrategyProtocol,
    dataloader: Sequence[Any],
    *,
    max_epochs: int = 1,
    accumulate_grad_batches: int = 1,
    gradient_clip_val: float | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, torch.Tensor]:
    """A minimal fit loop that knows only the protocols (no concrete strategy class is ever checked)."""

    def call(hook: str, *args: Any) -> None:
        for callback in callbacks:
            getattr(callback, hook)(None, module, *args)
        getattr(module, hook)(*args)

    acc = accumulate_grad_batches
    strategy.setup_environment()
    strategy.connect(module)
    with strategy.model_sharded_context():
        module.configure_model()
    model = strategy.setup_module(module)
    optimizer = strategy.setup_optimizer(module.configure_optimizers())
    precision: PrecisionProtocol = strategy.precision_plugin
    strategy_accumulates = strategy.handles_gradient_accumulation
    call("on_fit_start")
    call("on_train_start")
    for _ in range(max_epochs):
        call("on_train_epoch_start")
        for batch_idx, batch in enumerate(dataloader):
            batch = strategy.batch_to_device(batch)
            call("on_train_batch_start", batch, batch_idx)
            boundary = (batch_idx + 1) % acc == 0 or batch_idx + 1 == len(dataloader)

            def closure(
                batch: Any = batch, batch_idx: int = batch_idx, boundary: bool = boundary
            ) -> torch.Tensor:
                loss = strategy.training_step(batch, batch_idx)
                if not strategy_accumulates:
                    loss = loss / acc
                    if batch_idx % acc == 0:
                        call("on_before_zero_grad", optimizer)
                        optimizer.zero_grad()
                call("on_before_backward", loss)
                strategy.backward(loss, optimizer)
                call("on_after_backward")
                if boundary and not strategy_accumulates:
                    call("on_before_optimizer_step", optimizer)
                    if gradient_clip_val:
                        precision.clip_gradients(model, optimizer, gradient_clip_val, "norm")
                return loss

            if strategy_accumulates or boundary:
                loss = strategy.optimizer_step(optimizer, closure)
            else:
                skip_sync = isinstance(strategy, BackwardSyncControl)
                with strategy.no_backward_sync(model, enabled=True) if skip_sync else nullcontext():
                    loss = closure()
            call("on_train_batch_end", {"loss": loss.detach()}, batch, batch_idx)
        call("on_train_epoch_end")
    call("on_train_end")
    call("on_fit_end")
    state = strategy.lightning_module_state_dict()
    strategy.teardown()
    return state


class TinyModule(nn.Module, ModelHooks):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=LR, momentum=MOMENTUM)


def make_data(num_batches: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(4, 3, generator=generator), torch.randn(4, 2, generator=generator))
        for _ in range(num_batches)
    ]


def plain_pytorch(data: list[Any], max_epochs: int, acc: int) -> dict[str, torch.Tensor]:
    model = TinyModule()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    for _ in range(max_epochs):
        for i, (x, y) in enumerate(data):
            loss = nn.functional.mse_loss(model(x), y) / acc
            loss.backward()
            if (i + 1) % acc == 0 or i + 1 == len(data):
                optimizer.step()
                optimizer.zero_grad()
    return model.state_dict()


STRATEGIES = {
    "plain": lambda acc: FakeStrategy(),
    "deepspeed": lambda acc: FakeDeepSpeedStrategy(gradient_accumulation_steps=acc),
    "sharded": lambda acc: FakeShardedStrategy(),
}


def test_all_fakes_satisfy_the_strategy_protocol_and_only_their_capabilities() -> None:
    plain, deepspeed, sharded = (make(2) for make in STRATEGIES.values())
    for strategy in (plain, deepspeed, sharded):
        assert isinstance(strategy, StrategyProtocol)
        assert isinstance(strategy.precision_plugin, PrecisionProtocol)
    assert not isinstance(plain, (BackwardSyncControl, Sharded))
    assert not isinstance(deepspeed, (BackwardSyncControl, Sharded))
    assert isinstance(sharded, BackwardSyncControl) and isinstance(sharded, Sharded)
    assert deepspeed.handles_gradient_accumulation and not plain.handles_gradient_accumulation


@pytest.mark.parametrize("acc", [1, 3])
def test_three_strategies_reach_the_weights_of_a_plain_loop(acc: int) -> None:
    data, epochs = make_data(6), 2
    expected = plain_pytorch(data, epochs, acc)
    strategies = {name: make(acc) for name, make in STRATEGIES.items()}
    for name, strategy in strategies.items():
        state = fit_with_protocols(
            TinyModule(), strategy, data, max_epochs=epochs, accumulate_grad_batches=acc
        )
        assert state.keys() == expected.keys(), name
        for key in expected:
            torch.testing.assert_close(state[key], expected[key], msg=f"{name}: {key}")

    steps_per_epoch = len(data) // acc
    plain = strategies["plain"]
    assert plain.optimizer_step_calls == epochs * steps_per_epoch
    assert plain.backward_calls == epochs * len(data)

    # the DeepSpeed-like strategy got every micro-batch and stepped on its own boundaries
    deepspeed = strategies["deepspeed"]
    assert isinstance(deepspeed, FakeDeepSpeedStrategy)
    assert deepspeed.micro_steps == deepspeed.optimizer_step_calls == epochs * len(data)
    assert deepspeed.engine_steps == epochs * steps_per_epoch

    # the sharded strategy skipped gradient sync on exactly the non-boundary batches
    sharded = strategies["sharded"]
    assert isinstance(sharded, FakeShardedStrategy)
    non_boundary = [e * len(data) + i for e in range(epochs) for i in range(len(data)) if (i + 1) % acc]
    assert sharded.no_sync_entries == non_boundary
    assert sharded.unsynced_backward_calls == len(non_boundary)
    assert sharded.synced_backward_calls == epochs * steps_per_epoch
    assert sharded.sharded_contexts == 1 and sharded.torn_down


def test_trailing_partial_window_steps_at_epoch_end() -> None:
    data, epochs, acc = make_data(5), 2, 2
    expected = plain_pytorch(data, epochs, acc)
    for make in (STRATEGIES["plain"], STRATEGIES["sharded"]):
        strategy = make(acc)
        state = fit_with_protocols(
            TinyModule(), strategy, data, max_epochs=epochs, accumulate_grad_batches=acc
        )
        for key in expected:
            torch.testing.assert_close(state[key], expected[key])
        assert strategy.optimizer_step_calls == epochs * 3  # batches 2, 4 and the last one


def test_sharded_strategy_keeps_flat_views_and_returns_gathered_copies() -> None:
    strategy = FakeShardedStrategy()
    module = TinyModule()
    state = fit_with_protocols(module, strategy, make_data(2))
    assert strategy.is_sharded
    flat = strategy.flat_params[torch.float32]
    assert flat.numel() == sum(p.numel() for p in module.parameters())
    assert [(name, shape) for name, shape, _, _ in strategy.shard_metadata] == [
        ("layer.weight", (2, 3)),
        ("layer.bias", (2,)),
    ]
    weight = module.layer.weight
    assert weight.data_ptr() == flat.data_ptr()  # the parameter is a view of the flat buffer
    torch.testing.assert_close(flat[:6].view(2, 3), weight.detach())
    assert state["layer.weight"].data_ptr() != weight.data_ptr()  # gathered copy, not a view
    torch.testing.assert_close(state["layer.weight"], weight.detach())


def test_hook_order_of_one_accumulated_window() -> None:
    recorder = RecordingCallback()
    fit_with_protocols(
        TinyModule(), FakeStrategy(), make_data(2), accumulate_grad_batches=2, callbacks=[recorder]
    )
    assert recorder.hook_names == [
        "on_fit_start",
        "on_train_start",
        "on_train_epoch_start",
        "on_train_batch_start",
        "on_before_zero_grad",
        "on_before_backward",
        "on_after_backward",
        "on_train_batch_end",
        "on_train_batch_start",
        "on_before_backward",
        "on_after_backward",
        "on_before_optimizer_step",
        "on_train_batch_end",
        "on_train_epoch_end",
        "on_train_end",
        "on_fit_end",
    ]
    first_end = recorder.calls[7][1]
    assert first_end["batch_idx"] == 0 and set(first_end) == {"outputs", "batch", "batch_idx"}


def test_gradient_clipping_goes_through_the_precision() -> None:
    strategy = FakeStrategy()
    fit_with_protocols(TinyModule(), strategy, make_data(3), gradient_clip_val=0.01)
    assert strategy.precision_plugin.clip_calls == [(0.01, "norm")] * 3
