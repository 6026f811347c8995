"""Protocol members (snapshot against the agreed contract) and runtime structural checks."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from typing_extensions import get_protocol_members

from lit_hooks import (
    AcceleratorProtocol,
    BackwardSyncControl,
    CheckpointIOProtocol,
    ClusterEnvironmentProtocol,
    DataPositionProtocol,
    LauncherProtocol,
    ModelHooks,
    ModuleProtocol,
    PrecisionProtocol,
    Sharded,
    StatefulProtocol,
    StrategyProtocol,
    TrainerProtocol,
)

STRATEGY_MEMBERS = {
    "root_device", "world_size", "global_rank", "local_rank", "node_rank", "is_global_zero", "precision_plugin",
    "checkpoint_io", "model", "lightning_module", "distributed_sampler_kwargs", "handles_gradient_accumulation",
    "restore_checkpoint_after_setup", "lightning_restore_optimizer", "setup_environment", "connect",
    "setup_module", "setup_optimizer", "model_to_device", "batch_to_device", "training_step", "validation_step",
    "test_step", "predict_step", "backward", "optimizer_step", "reduce", "reduce_boolean_decision", "all_gather",
    "broadcast", "barrier", "lightning_module_state_dict", "optimizer_state", "load_model_state_dict",
    "load_optimizer_state_dict", "save_checkpoint", "load_checkpoint", "remove_checkpoint", "tensor_init_context",
    "model_sharded_context", "teardown",
}  # fmt: skip

TRAINER_MEMBERS = {
    "current_epoch", "global_step", "max_epochs", "min_epochs", "max_steps", "min_steps", "should_stop", "state",
    "training", "validating", "testing", "predicting", "sanity_checking", "callback_metrics", "logged_metrics",
    "progress_bar_metrics", "loggers", "logger", "log_dir", "default_root_dir", "is_global_zero", "world_size",
    "global_rank", "local_rank", "strategy", "precision", "lightning_module", "optimizers", "lr_scheduler_configs",
    "callbacks", "num_training_batches", "num_val_batches", "num_sanity_val_batches", "num_test_batches",
    "num_predict_batches", "estimated_stepping_batches", "fast_dev_run", "accumulate_grad_batches",
    "check_val_every_n_epoch", "val_check_interval", "log_every_n_steps", "checkpoint_callback",
    "checkpoint_callbacks", "early_stopping_callback", "save_checkpoint", "print",
}  # fmt: skip

PRECISION_MEMBERS = {
    "precision", "convert_module", "convert_input", "convert_output", "tensor_init_context", "module_init_context",
    "forward_context", "train_step_context", "val_step_context", "test_step_context", "predict_step_context",
    "pre_backward", "backward", "post_backward", "optimizer_step", "unscale_gradients", "clip_gradients",
    "state_dict", "load_state_dict", "teardown",
}  # fmt: skip


def test_protocol_members_match_the_contract() -> None:
    assert get_protocol_members(StrategyProtocol) == STRATEGY_MEMBERS
    assert get_protocol_members(TrainerProtocol) == TRAINER_MEMBERS
    assert get_protocol_members(PrecisionProtocol) == PRECISION_MEMBERS
    assert get_protocol_members(BackwardSyncControl) == {"no_backward_sync"}
    assert get_protocol_members(Sharded) == {"is_sharded", "module_sharded_context"}
    assert get_protocol_members(DataPositionProtocol) == {"state_dict", "load_state_dict", "position"}
    assert get_protocol_members(CheckpointIOProtocol) == {
        "save_checkpoint",
        "load_checkpoint",
        "remove_checkpoint",
        "teardown",
    }
    assert get_protocol_members(LauncherProtocol) == {"is_interactive_compatible", "launch", "kill"}


class CPUAccelerator:
    def setup_device(self, device: torch.device) -> None: ...
    def teardown(self) -> None: ...
    @staticmethod
    def parse_devices(devices: Any) -> int:
        return int(devices)

    @staticmethod
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        return [torch.device("cpu")] * int(devices)

    @staticmethod
    def auto_device_count() -> int:
        return 1

    @staticmethod
    def is_available() -> bool:
        return True

    def get_device_stats(self, device: torch.device) -> dict[str, Any]:
        return {}


class LocalEnvironment:
    creates_processes_externally = False
    main_address = "127.0.0.1"
    main_port = 12910

    @staticmethod
    def detect() -> bool:
        return True

    def world_size(self) -> int:
        return 1

    def set_world_size(self, size: int) -> None: ...
    def global_rank(self) -> int:
        return 0

    def set_global_rank(self, rank: int) -> None: ...
    def local_rank(self) -> int:
        return 0

    def node_rank(self) -> int:
        return 0

    def validate_settings(self, num_devices: int, num_nodes: int) -> None: ...
    def teardown(self) -> None: ...


class InlineLauncher:
    @property
    def is_interactive_compatible(self) -> bool:
        return True

    def launch(self, function: Any, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    def kill(self, signum: int) -> None: ...


class Loader:
    def __init__(self) -> None:
        self.position = 0

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.position = state_dict["position"]


class Module(torch.nn.Module, ModelHooks):
    automatic_optimization = True

    def training_step(self, *args: Any) -> Any: ...
    def validation_step(self, *args: Any) -> Any: ...
    def test_step(self, *args: Any) -> Any: ...
    def predict_step(self, *args: Any) -> Any: ...
    def configure_optimizers(self) -> Any: ...


def test_structural_checks_accept_implementations_without_inheritance() -> None:
    assert isinstance(CPUAccelerator(), AcceleratorProtocol)
    assert isinstance(LocalEnvironment(), ClusterEnvironmentProtocol)
    assert isinstance(InlineLauncher(), LauncherProtocol)
    assert isinstance(Loader(), DataPositionProtocol) and isinstance(Loader(), StatefulProtocol)
    assert isinstance(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1), StatefulProtocol)
    assert not isinstance(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1), DataPositionProtocol)
    assert isinstance(Module(), ModuleProtocol)
    assert not isinstance(torch.nn.Linear(1, 1), ModuleProtocol)


def test_capabilities_are_checked_independently() -> None:
    class OnlyNoSync:
        def no_backward_sync(self, module: Any, enabled: bool) -> Any:
            return nullcontext()

    assert isinstance(OnlyNoSync(), BackwardSyncControl)
    assert not isinstance(OnlyNoSync(), Sharded)
    assert not isinstance(OnlyNoSync(), StrategyProtocol)
