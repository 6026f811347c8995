from __future__ import annotations

import subprocess
import sys
from collections import namedtuple
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from lit_hooks import BackwardSyncControl, MissingExtraError, Sharded, StrategyProtocol
from lit_precision import DoublePrecision, MixedPrecision, Precision
from lit_strategies import (
    STRATEGY_REGISTRY,
    AsyncCheckpointIO,
    CPUAccelerator,
    DDPStrategy,
    DeepSpeedStrategy,
    FSDPStrategy,
    LightningEnvironment,
    SingleDeviceStrategy,
    SingleDeviceXLAStrategy,
    Strategy,
    TorchSyncBatchNorm,
    XLAStrategy,
    _distributed,
    _launchers,
    _MultiProcessingLauncher,
    _SubprocessScriptLauncher,
)


class Regressor(nn.Module):
    """A module with Lightning-style step methods."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)
        self.calls: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append("forward")
        return self.layer(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.calls.append("training_step")
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch[0]).sum()

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch[0]).dtype  # type: ignore[return-value]

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch[0])


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, generator=generator)
    return x, x.sum(dim=1, keepdim=True) * 0.5 + 0.1


def test_protocols_and_capabilities() -> None:
    single = SingleDeviceStrategy()
    ddp = DDPStrategy(parallel_devices=[torch.device("cpu")] * 2)
    fsdp = FSDPStrategy(parallel_devices=[torch.device("cpu")] * 2)
    for strategy in (single, ddp, fsdp):
        assert isinstance(strategy, StrategyProtocol)
    assert not isinstance(single, BackwardSyncControl) and not isinstance(single, Sharded)
    assert isinstance(ddp, BackwardSyncControl) and not isinstance(ddp, Sharded)
    assert isinstance(fsdp, BackwardSyncControl) and isinstance(fsdp, Sharded)


def test_single_device_training_matches_a_plain_loop() -> None:
    torch.manual_seed(0)
    module = Regressor()
    reference = Regressor()
    reference.load_state_dict(module.state_dict())
    strategy = SingleDeviceStrategy("cpu", accelerator=CPUAccelerator())
    strategy.setup_environment()
    model = strategy.setup_module(module)
    assert model is module and strategy.model is module and strategy.lightning_module is module
    optimizer = strategy.setup_optimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    assert strategy.optimizers == [optimizer]
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    x, y = _data()
    for step in range(3):
        batch = strategy.batch_to_device((x, y))

        def closure(batch: Any = batch, step: int = step) -> torch.Tensor:
            optimizer.zero_grad()
            loss = strategy.training_step(batch, step)
            return strategy.backward(loss, optimizer)

        loss = strategy.optimizer_step(optimizer, closure)
        assert not loss.requires_grad
        ref_optimizer.zero_grad()
        nn.functional.mse_loss(reference(x), y).backward()
        ref_optimizer.step()
    for p, q in zip(module.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert module.calls[:2] == ["training_step", "forward"]
    # collectives are identities in one process
    t = torch.tensor([1.0, 2.0])
    assert strategy.reduce(t) is t and strategy.all_gather(t) is t and strategy.broadcast("x") == "x"
    assert strategy.reduce_boolean_decision(False) is False
    assert (strategy.world_size, strategy.global_rank, strategy.is_global_zero) == (1, 0, True)
    assert strategy.distributed_sampler_kwargs is None


def test_eval_steps_run_under_the_precision_contexts() -> None:
    strategy = SingleDeviceStrategy(precision_plugin=MixedPrecision("bf16-mixed", "cpu"))
    module = Regressor()
    strategy.setup_module(module)
    x, y = _data()
    assert strategy.validation_step((x, y), 0).dtype == torch.bfloat16
    assert strategy.test_step((x, y), 0) == torch.bfloat16
    assert strategy.predict_step((x, y), 0).dtype == torch.bfloat16
    assert strategy.training_step((x, y), 0).dtype == torch.float32  # mse_loss autocasts to float32
    assert module.layer(x).dtype == torch.float32  # outside the step contexts


def test_steps_need_a_module() -> None:
    with pytest.raises(RuntimeError, match=r"SingleDeviceStrategy.training_step` needs a module.*connect"):
        SingleDeviceStrategy().training_step(1)


def test_setup_module_applies_the_precision() -> None:
    strategy = SingleDeviceStrategy(precision_plugin=DoublePrecision())
    model = strategy.setup_module(nn.Linear(2, 2))
    assert model.weight.dtype == torch.float64


class _Wrapper(nn.Module):
    """Counts forward calls, like DDP's forward does its bookkeeping."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.forward_calls = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.forward_calls += 1
        return self.module(*args, **kwargs)


def test_steps_are_redirected_through_the_wrapper_forward() -> None:
    module = Regressor()
    strategy = SingleDeviceStrategy()
    strategy.connect(module)
    wrapper = _Wrapper(module)
    strategy.model = wrapper
    x, y = _data()
    loss = strategy.training_step((x, y), 0)
    assert wrapper.forward_calls == 1
    assert module.calls == ["training_step", "forward"]
    assert "forward" not in module.__dict__  # the original forward is back
    assert loss.grad_fn is not None
    torch.testing.assert_close(strategy.predict_step((x, y), 0), module.layer(x))
    assert wrapper.forward_calls == 2


class _Batch(namedtuple("_Batch", ["x", "y"])):
    pass


def test_batch_to_device_does_not_copy_what_is_already_there() -> None:
    strategy = SingleDeviceStrategy("cpu")
    x, y = _data()
    assert strategy.batch_to_device(x) is x
    nested = {"inputs": [x, (y, 3)], "name": "b"}
    assert strategy.batch_to_device(nested) is nested
    batch = _Batch(x, y)
    assert strategy.batch_to_device(batch) is batch
    moved = strategy.batch_to_device({"x": x}, device=torch.device("meta"))
    assert moved["x"].device.type == "meta"
    named = strategy.batch_to_device(_Batch(x, y), device=torch.device("meta"))
    assert type(named) is _Batch and named.x.is_meta


def test_batch_to_device_uses_the_module_hooks() -> None:
    calls: list[str] = []

    class WithHooks(Regressor):
        def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            calls.append(f"before:{dataloader_idx}")
            return batch

        def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
            calls.append(f"transfer:{device.type}")
            return batch * 2

        def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
            calls.append("after")
            return batch + 1

    strategy = SingleDeviceStrategy()
    strategy.connect(WithHooks())
    assert strategy.batch_to_device(torch.ones(1), dataloader_idx=2).item() == 3.0
    assert calls == ["before:2", "transfer:cpu", "after"]


def test_tensor_init_context_empty_init_and_dtype() -> None:
    strategy = SingleDeviceStrategy(precision_plugin=DoublePrecision())
    state = torch.get_rng_state()
    with strategy.tensor_init_context(empty_init=True):
        layer = nn.Linear(64, 64)
    assert torch.equal(torch.get_rng_state(), state)  # no initialisation consumed random numbers
    assert layer.weight.dtype == torch.float64
    with strategy.tensor_init_context():
        nn.Linear(64, 64)
    assert not torch.equal(torch.get_rng_state(), state)
    assert torch.get_default_dtype() == torch.float32


def test_checkpoint_round_trip_through_the_strategy(tmp_path: Path) -> None:
    strategy = SingleDeviceStrategy()
    model = strategy.setup_module(Regressor())
    optimizer = strategy.setup_optimizer(torch.optim.Adam(model.parameters()))
    x, y = _data()
    strategy.backward(strategy.training_step((x, y), 0), optimizer)
    strategy.optimizer_step(optimizer, lambda: None)
    checkpoint = {
        "state_dict": strategy.lightning_module_state_dict(),
        "optimizer_states": [strategy.optimizer_state(optimizer)],
    }
    path = tmp_path / "model.ckpt"
    strategy.save_checkpoint(checkpoint, path)

    other = SingleDeviceStrategy()
    other_model = other.setup_module(Regressor())
    other_optimizer = other.setup_optimizer(torch.optim.Adam(other_model.parameters()))
    loaded = other.load_checkpoint(path)
    other.load_model_state_dict(loaded)
    other.load_optimizer_state_dict(loaded)
    for p, q in zip(model.parameters(), other_model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert other_optimizer.state_dict()["state"][0]["step"] == 1
    with pytest.raises(ValueError, match="holds 2 optimizer state.*1 optimizer"):
        other.load_optimizer_state_dict({"optimizer_states": [{}, {}]})
    other.remove_checkpoint(path)
    assert not path.exists()


def test_teardown_flushes_async_checkpoint_io(tmp_path: Path) -> None:
    io = AsyncCheckpointIO()
    strategy = SingleDeviceStrategy(checkpoint_io=io)
    strategy.setup_module(Regressor())
    strategy.save_checkpoint({"state_dict": strategy.lightning_module_state_dict()}, tmp_path / "a.ckpt")
    strategy.teardown()
    assert (tmp_path / "a.ckpt").is_file() and io._executor is None


def test_strategy_registry_names_match_lightning() -> None:
    ddp_names = {"ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"}
    ddp_names |= {f"{n}_find_unused_parameters_{v}" for n in list(ddp_names) for v in ("false", "true")}
    expected = ddp_names | {"fsdp", "fsdp_cpu_offload", "single_device", "single_xla", "xla", "xla_debug"}
    expected |= {
        "deepspeed",
        "deepspeed_stage_1",
        "deepspeed_stage_2",
        "deepspeed_stage_2_offload",
        "deepspeed_stage_3",
        "deepspeed_stage_3_offload",
        "deepspeed_stage_3_offload_nvme",
    }
    assert set(STRATEGY_REGISTRY.available()) == expected


@pytest.mark.parametrize(
    ("name", "start_method", "find_unused"),
    [
        ("ddp", "popen", None),
        ("ddp_spawn", "spawn", None),
        ("ddp_fork", "fork", None),
        ("ddp_notebook", "fork", None),
        ("ddp_find_unused_parameters_true", "popen", True),
        ("ddp_spawn_find_unused_parameters_false", "spawn", False),
        ("ddp_notebook_find_unused_parameters_true", "fork", True),
    ],
)
def test_registry_builds_configured_ddp(name: str, start_method: str, find_unused: bool | None) -> None:
    strategy = STRATEGY_REGISTRY.get(name)
    assert type(strategy) is DDPStrategy
    assert strategy._start_method == start_method
    assert strategy._ddp_kwargs.get("find_unused_parameters") == find_unused


def test_registry_builds_other_strategies() -> None:
    assert type(STRATEGY_REGISTRY.get("single_device")) is SingleDeviceStrategy
    assert type(STRATEGY_REGISTRY.get("fsdp")) is FSDPStrategy
    assert STRATEGY_REGISTRY.get("fsdp_cpu_offload").cpu_offload is True
    with pytest.raises(KeyError, match=r"'dpp' not found in the strategy registry. Available names: ddp, "):
        STRATEGY_REGISTRY.get("dpp")


@pytest.mark.parametrize(
    ("factory", "extra"),
    [
        (lambda: STRATEGY_REGISTRY.get("deepspeed_stage_3"), "deepspeed"),
        (DeepSpeedStrategy, "deepspeed"),
        (lambda: STRATEGY_REGISTRY.get("xla"), "xla"),
        (XLAStrategy, "xla"),
        (SingleDeviceXLAStrategy, "xla"),
    ],
)
def test_optional_strategies_name_their_extra(factory: Any, extra: str) -> None:
    from lit_hooks import module_available

    if module_available("deepspeed") or module_available("torch_xla"):
        pytest.skip("needs an environment without deepspeed and torch_xla")
    with pytest.raises(MissingExtraError, match=rf"pip install 'lit-strategies\[{extra}\]'"):
        factory()


def test_import_stays_light() -> None:
    code = (
        "import sys, lit_strategies\n"
        "heavy = ['deepspeed', 'torch_xla', 'torch.distributed.fsdp', 'fsspec', 'psutil', 'mpi4py']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(),
        check=True,
    )
    assert out.stdout.strip() == ""


def _child_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


# ----------------------------------------------------------------------------------------------- DDP (unit)
def test_ddp_arguments_and_topology(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"start_method='thread'.*'popen', 'spawn', 'fork', 'forkserver'"):
        DDPStrategy(start_method="thread")
    with pytest.raises(RuntimeError, match="has no `parallel_devices`"):
        _ = DDPStrategy().root_device
    clean_env.setenv("LOCAL_RANK", "1")
    env = LightningEnvironment()
    strategy = DDPStrategy(parallel_devices=[torch.device("cpu")] * 2, cluster_environment=env)
    strategy.num_nodes = 2
    clean_env.setenv("NODE_RANK", "1")
    clean_env.setattr(_distributed, "_reset_seed", lambda: None)
    strategy.set_world_ranks()
    try:
        assert (strategy.global_rank, strategy.world_size, strategy.local_rank, strategy.node_rank) == (
            3,
            4,
            1,
            1,
        )
        assert strategy.distributed_sampler_kwargs == {"num_replicas": 4, "rank": 3}
        assert not strategy.is_global_zero
        assert strategy.root_device == torch.device("cpu")
        assert strategy.determine_ddp_device_ids() is None
    finally:
        from lit_hooks import rank_zero_only

        rank_zero_only.rank = 0


def test_ddp_launchers() -> None:
    devices = [torch.device("cpu")] * 2
    env = LightningEnvironment()
    popen = DDPStrategy(parallel_devices=devices, cluster_environment=env)
    assert isinstance(popen.launcher, _SubprocessScriptLauncher)
    assert not popen.launcher.is_interactive_compatible
    spawn = DDPStrategy(parallel_devices=devices, cluster_environment=env, start_method="spawn")
    assert (
        isinstance(spawn.launcher, _MultiProcessingLauncher) and not spawn.launcher.is_interactive_compatible
    )
    fork = DDPStrategy(parallel_devices=devices, cluster_environment=env, start_method="fork")
    assert fork.launcher.is_interactive_compatible
    assert DDPStrategy(parallel_devices=devices).launcher is None  # no environment yet
    with pytest.raises(ValueError, match="start method 'bogus' is not available"):
        _MultiProcessingLauncher(spawn, start_method="bogus")


def test_ddp_no_backward_sync_needs_a_wrapped_module() -> None:
    strategy = DDPStrategy(parallel_devices=[torch.device("cpu")])
    with strategy.no_backward_sync(nn.Linear(1, 1), enabled=False):
        pass
    with pytest.raises(TypeError, match="wrapped in `DistributedDataParallel`. Got: Linear"):
        strategy.no_backward_sync(nn.Linear(1, 1), enabled=True)


def test_reduce_op_names_are_validated() -> None:
    assert _distributed._resolve_reduce_op("sum", None) == (torch.distributed.ReduceOp.SUM, False)
    assert _distributed._resolve_reduce_op("MAX", None) == (torch.distributed.ReduceOp.MAX, False)
    with pytest.raises(ValueError, match=r"`reduce_op='median'` is not a reduction.*'mean', 'avg', 'sum'"):
        _distributed._resolve_reduce_op("median", None)
    # without a process group the tensor comes back unchanged
    t = torch.tensor(2.0)
    assert DDPStrategy(parallel_devices=[torch.device("cpu")]).reduce(t, reduce_op="sum") is t


def test_ddp_augments_unused_parameter_errors() -> None:
    error = RuntimeError(
        "Expected to have finished reduction in the prior iteration before starting a new one."
    )
    DDPStrategy().on_exception(error)
    assert "ddp_find_unused_parameters_true" in str(error)


# ----------------------------------------------------------------------------------------------- FSDP (unit)
def test_fsdp_argument_validation() -> None:
    with pytest.raises(ValueError, match=r"sharding_strategy='HYBRID'.*'FULL_SHARD'.*'SHARD_GRAD_OP'"):
        FSDPStrategy(sharding_strategy="HYBRID")
    with pytest.raises(ValueError, match=r"state_dict_type='local'.*'full'.*'sharded'"):
        FSDPStrategy(state_dict_type="local")
    with pytest.raises(TypeError, match="auto_wrap_policy"):
        FSDPStrategy(auto_wrap_policy={"Linear"})  # type: ignore[arg-type]
    strategy = FSDPStrategy(parallel_devices=[torch.device("cpu")])
    assert not strategy.is_sharded and strategy.restore_checkpoint_after_setup
    with pytest.raises(RuntimeError, match="call `strategy.setup_module"):
        strategy.setup_optimizer(torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))
    with pytest.raises(TypeError, match="sharded with FSDP"):
        strategy.no_backward_sync(nn.Linear(1, 1), enabled=True)
    with strategy.module_sharded_context():
        layer = nn.Linear(4, 4)
    assert layer.weight.is_meta


# ----------------------------------------------------------------------------------------------- launchers (unit)
def test_subprocess_launcher_runs_in_place_when_processes_exist(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("LOCAL_RANK", "1")
    clean_env.setenv("OMP_NUM_THREADS", "1")
    launcher = _SubprocessScriptLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    assert launcher.launch(lambda a, b=0: a + b, 1, b=2) == 3
    assert launcher.procs == []


def test_subprocess_launcher_starts_one_child_per_extra_rank(clean_env: pytest.MonkeyPatch) -> None:
    started: list[tuple[list[str], dict[str, str]]] = []

    class FakePopen:
        def __init__(self, command: list[str], env: dict[str, str]) -> None:
            started.append((command, env))
            self.returncode = 0

        def poll(self) -> int:
            return 0

    clean_env.setattr(_launchers.subprocess, "Popen", FakePopen)
    clean_env.setenv("MASTER_PORT", "29555")
    clean_env.setenv("OMP_NUM_THREADS", "1")
    launcher = _SubprocessScriptLauncher(LightningEnvironment(), num_processes=3, num_nodes=2)
    launcher._call_children_scripts()
    assert [env["LOCAL_RANK"] for _, env in started] == ["1", "2"]
    assert {env["WORLD_SIZE"] for _, env in started} == {"6"}
    assert {env["MASTER_PORT"] for _, env in started} == {"29555"}
    assert {env["MASTER_ADDR"] for _, env in started} == {"127.0.0.1"}
    assert started[0][0][0] == sys.executable
    with pytest.raises(RuntimeError, match="only create subprocesses once"):
        launcher._call_children_scripts()


def test_child_process_observer_kills_everything_when_a_child_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    signals: list[tuple[str, int]] = []

    class Proc:
        def __init__(self, pid: int, code: int | None) -> None:
            self.pid, self.returncode = pid, code

        def poll(self) -> int | None:
            return self.returncode

        def send_signal(self, signum: int) -> None:
            signals.append((f"child{self.pid}", signum))

    monkeypatch.setattr(_launchers.os, "kill", lambda pid, signum: signals.append(("main", signum)))
    healthy = _launchers._ChildProcessObserver(main_pid=1, child_processes=[Proc(2, 0), Proc(3, 0)])
    assert healthy._run() and signals == []
    running = _launchers._ChildProcessObserver(main_pid=1, child_processes=[Proc(2, None)])
    assert not running._run() and signals == []
    failed = _launchers._ChildProcessObserver(main_pid=1, child_processes=[Proc(2, None), Proc(3, 1)])
    assert failed._run()
    assert [who for who, _ in signals] == ["child2", "child3", "main"]


def test_sync_batchnorm_round_trip() -> None:
    model = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
    model[1].running_mean.fill_(0.5)
    synced = TorchSyncBatchNorm().apply(model)
    assert isinstance(synced[1], nn.SyncBatchNorm)
    reverted = TorchSyncBatchNorm().revert(synced)
    assert not isinstance(reverted[1], nn.SyncBatchNorm)
    assert isinstance(reverted[1], nn.modules.batchnorm._BatchNorm)
    torch.testing.assert_close(reverted[1].running_mean, torch.full((4,), 0.5))
    reverted.eval()
    assert reverted(torch.ones(3, 2)).shape == (3, 4)


def test_default_timeout_and_precision() -> None:
    assert DDPStrategy()._timeout == timedelta(minutes=30)
    strategy: Strategy = SingleDeviceStrategy()
    assert type(strategy.precision_plugin) is Precision
    assert strategy.precision_plugin is strategy.precision_plugin  # created once


@pytest.mark.parametrize(
    "module_name", ["_accelerators", "_checkpoint_io", "_environments", "_single_device"]
)
def test_docstring_examples(module_name: str) -> None:
    import doctest
    import importlib

    module = importlib.import_module(f"lit_strategies.{module_name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
