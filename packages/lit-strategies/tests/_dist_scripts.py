"""Multi-process scenarios run as scripts by ``test_distributed.py`` (each rank is a separate process).

Usage: ``python _dist_scripts.py {ddp|spawn|fsdp} OUTPUT_FILE``. Rank 0 writes its results to ``OUTPUT_FILE`` with
``torch.save``; the test compares them with a single-process reference.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import torch
from torch import nn

from lit_strategies import CPUAccelerator, DDPStrategy, FSDPStrategy, LightningEnvironment

TIMEOUT = timedelta(seconds=60)
WORLD_SIZE = 2
STEPS = 3
BATCH_PER_RANK = 4
LR = 0.1


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)


class MLP(nn.Module):
    """The step uses the layers directly and a root-level parameter, never ``self(...)``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.net(x) * self.scale, y)


def dataset() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(STEPS * WORLD_SIZE * BATCH_PER_RANK, 4, generator=generator)
    y = x @ torch.tensor([[0.5], [-1.0], [2.0], [0.1]]) + 0.3
    return x, y


def rank_batch(step: int, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s part of global batch ``step`` (a DistributedSampler without shuffling: every 2nd sample)."""
    x, y = dataset()
    start = step * WORLD_SIZE * BATCH_PER_RANK
    indices = torch.arange(start + rank, start + WORLD_SIZE * BATCH_PER_RANK, WORLD_SIZE)
    return x[indices], y[indices]


def _flat_grads(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in module.parameters()])


# ------------------------------------------------------------------------------------------------ DDP (popen)
def ddp_main(out: str) -> None:
    strategy = DDPStrategy(
        accelerator=CPUAccelerator(),
        parallel_devices=[torch.device("cpu")] * WORLD_SIZE,
        cluster_environment=LightningEnvironment(),
        timeout=TIMEOUT,
    )
    strategy.launcher.launch(ddp_train, strategy, out)


def ddp_train(strategy: DDPStrategy, out: str) -> None:
    strategy.setup_environment()
    rank = strategy.global_rank
    torch.manual_seed(rank)  # different initial weights: DDP must broadcast rank 0's
    module = Regressor()
    model = strategy.setup_module(module)
    optimizer = strategy.setup_optimizer(torch.optim.SGD(model.parameters(), lr=LR))
    losses = []
    for step in range(STEPS):
        batch = strategy.batch_to_device(rank_batch(step, rank))

        def closure(batch: Any = batch, step: int = step) -> torch.Tensor:
            optimizer.zero_grad()
            loss = strategy.training_step(batch, step)
            return strategy.backward(loss, optimizer)

        losses.append(strategy.optimizer_step(optimizer, closure))
    params = torch.cat([p.detach().reshape(-1) for p in module.parameters()])
    gathered_params = strategy.all_gather(params)

    # gradients of a synchronised backward are identical; under no_backward_sync they are local
    batch = rank_batch(0, rank)
    optimizer.zero_grad()
    strategy.backward(strategy.training_step(batch, 0), optimizer)
    synced_grads = strategy.all_gather(_flat_grads(module))
    optimizer.zero_grad()
    with strategy.no_backward_sync(model, enabled=True):
        strategy.backward(strategy.training_step(batch, 0), optimizer)
    local_grads = strategy.all_gather(_flat_grads(module))
    # the unwrapped module is accepted too
    optimizer.zero_grad()
    with strategy.no_backward_sync(module, enabled=True):
        strategy.backward(strategy.training_step(batch, 0), optimizer)
    local_grads_2 = strategy.all_gather(_flat_grads(module))

    results = {
        "params": params,
        "gathered_params": gathered_params,
        "synced_grads": synced_grads,
        "local_grads": local_grads,
        "local_grads_2": local_grads_2,
        "mean": strategy.reduce(torch.tensor(float(rank + 1))),
        "sum": strategy.reduce(torch.tensor(float(rank + 1)), reduce_op="sum"),
        "max": strategy.reduce(torch.tensor(float(rank + 1)), reduce_op="max"),
        "int_mean": strategy.reduce(torch.tensor(rank * 3)),
        "broadcast": strategy.broadcast({"from": rank}),
        "all": strategy.reduce_boolean_decision(rank == 0, all=True),
        "any": strategy.reduce_boolean_decision(rank == 0, all=False),
        "sampler": strategy.distributed_sampler_kwargs,
        "world_size": strategy.world_size,
        "losses": torch.stack(losses),
    }
    strategy.barrier()
    if strategy.is_global_zero:
        torch.save(results, out)
    strategy.teardown()
    assert strategy.model is module


# ------------------------------------------------------------------------------------------------ spawn launcher
def spawn_main(out: str) -> None:
    strategy = DDPStrategy(
        parallel_devices=[torch.device("cpu")] * WORLD_SIZE,
        cluster_environment=LightningEnvironment(),
        timeout=TIMEOUT,
        start_method="spawn",
    )
    result = strategy.launcher.launch(spawn_worker, strategy, 10, offset=5)
    torch.save(result, out)


def spawn_worker(strategy: DDPStrategy, base: int, offset: int = 0) -> dict[str, Any]:
    strategy.setup_environment()
    value = strategy.reduce(torch.tensor(float(base + strategy.global_rank + offset)), reduce_op="sum")
    return {"rank": strategy.global_rank, "sum": value, "local_rank_env": strategy.local_rank}


# ------------------------------------------------------------------------------------------------ FSDP (popen)
def fsdp_main(out: str) -> None:
    strategy = _fsdp_strategy("full")
    strategy.launcher.launch(fsdp_train, strategy, out)


def _fsdp_strategy(state_dict_type: str) -> FSDPStrategy:
    return FSDPStrategy(
        accelerator=CPUAccelerator(),
        parallel_devices=[torch.device("cpu")] * WORLD_SIZE,
        cluster_environment=LightningEnvironment(),
        timeout=TIMEOUT,
        auto_wrap_policy={nn.Linear},
        state_dict_type=state_dict_type,
    )


def _fsdp_step(strategy: FSDPStrategy, model: nn.Module, optimizer: Any, step: int, rank: int) -> None:
    # gradient accumulation over two micro-batches: the first one without gradient synchronisation
    x, y = rank_batch(step, rank)
    half = BATCH_PER_RANK // 2
    optimizer.zero_grad()
    with strategy.no_backward_sync(model, enabled=True):
        strategy.backward(strategy.training_step((x[:half], y[:half]), step) / 2, optimizer)
    strategy.backward(strategy.training_step((x[half:], y[half:]), step) / 2, optimizer)
    strategy.optimizer_step(optimizer, lambda: None)


def fsdp_train(strategy: FSDPStrategy, out: str) -> None:
    import os

    strategy.setup_environment()
    rank = strategy.global_rank
    torch.manual_seed(0)  # FSDP does not broadcast: every rank starts from the same weights
    model = strategy.setup_module(MLP())
    is_dtensor = type(model.net[0].weight).__name__ == "DTensor"
    optimizer = strategy.setup_optimizer(torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9))
    for step in range(STEPS - 1):
        _fsdp_step(strategy, model, optimizer, step, rank)
    norm = strategy.clip_gradients_norm(model, optimizer, max_norm=1e6)

    directory = os.path.dirname(out)
    full_path = os.path.join(directory, "full.ckpt")
    checkpoint = {
        "state_dict": strategy.lightning_module_state_dict(),
        "optimizer_states": [strategy.optimizer_state(optimizer)],
        "epoch": 1,
    }
    saved_state = {k: v.clone() for k, v in checkpoint["state_dict"].items()}
    saved_optimizer = checkpoint["optimizer_states"][0]
    strategy.save_checkpoint(checkpoint, full_path)
    strategy.barrier()

    # a step that is undone by loading the checkpoint, then the last step again
    _fsdp_step(strategy, model, optimizer, STEPS - 1, rank)
    loaded = strategy.load_checkpoint(full_path)
    strategy.load_model_state_dict(loaded)
    strategy.load_optimizer_state_dict(loaded)
    restored_state = strategy.lightning_module_state_dict()
    _fsdp_step(strategy, model, optimizer, STEPS - 1, rank)
    final_state = strategy.lightning_module_state_dict()

    # sharded checkpoints: save from a second strategy, load into a third one on the same process group
    sharded = _fsdp_strategy("sharded")
    sharded.setup_environment()
    torch.manual_seed(100 + rank)
    model_2 = sharded.setup_module(MLP())
    optimizer_2 = sharded.setup_optimizer(torch.optim.SGD(model_2.parameters(), lr=LR, momentum=0.9))
    sharded.load_model_state_dict(loaded)
    sharded.load_optimizer_state_dict(loaded)
    sharded_dir = os.path.join(directory, "sharded.ckpt")
    sharded.save_checkpoint(
        {
            "state_dict": sharded.lightning_module_state_dict(),
            "optimizer_states": [sharded.optimizer_state(optimizer_2)],
            "epoch": 7,
        },
        sharded_dir,
    )
    target = _fsdp_strategy("sharded")
    target.setup_environment()
    torch.manual_seed(200 + rank)
    model_3 = target.setup_module(MLP())
    optimizer_3 = target.setup_optimizer(torch.optim.SGD(model_3.parameters(), lr=LR, momentum=0.9))
    metadata = target.load_checkpoint(sharded_dir)
    target.load_model_state_dict(metadata)
    target.load_optimizer_state_dict(metadata)
    _fsdp_step(target, model_3, optimizer_3, STEPS - 1, rank)
    target._state_dict_type = "full"  # gather the result on rank 0 for the comparison
    sharded_final = target.lightning_module_state_dict()

    results = {
        "is_dtensor": is_dtensor,
        "saved_state": saved_state,
        "saved_optimizer": saved_optimizer,
        "restored_state": restored_state,
        "final_state": final_state,
        "sharded_epoch": metadata["epoch"],
        "sharded_files": sorted(os.listdir(sharded_dir)),
        "sharded_final": sharded_final,
        "norm": norm,
    }
    strategy.barrier()
    if strategy.is_global_zero:
        torch.save(results, out)
    strategy.teardown()


if __name__ == "__main__":
    scenario, output = sys.argv[1], sys.argv[2]
    {"ddp": ddp_main, "spawn": spawn_main, "fsdp": fsdp_main}[scenario](output)
