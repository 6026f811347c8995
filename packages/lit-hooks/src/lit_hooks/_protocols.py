"""Structural contracts (``typing.Protocol``) between the ``lit`` layers.

Loops talk to a :class:`StrategyProtocol` and never learn the concrete strategy class; callbacks and loggers see a
:class:`TrainerProtocol`, never the Trainer class. Optional strategy capabilities are separate protocols
(:class:`BackwardSyncControl`, :class:`Sharded`) that loops check with ``isinstance`` before using them. Any object
with the right members satisfies a protocol; no inheritance is needed. All protocols are ``runtime_checkable``:
``isinstance`` checks that the members exist (not their signatures).

The contracts cover every strategy family from the start: single device, DDP, FSDP (sharded parameters, gathered
state dicts), DeepSpeed (the engine owns backward, accumulation and stepping) and XLA (devices that need explicit
synchronisation, checkpoints written through the strategy).

Strategies, precisions and checkpoint I/O never call user hooks (``on_before_backward``, ``on_after_backward``,
...): loops dispatch every hook, so the hook order is defined in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from typing_extensions import Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from torch import Tensor
    from torch.nn import Module
    from torch.optim import Optimizer

    from lit_hooks._callback import Callback
    from lit_hooks._enums import TrainerState

__all__ = [
    "AcceleratorProtocol",
    "BackwardSyncControl",
    "CheckpointIOProtocol",
    "ClusterEnvironmentProtocol",
    "DataPositionProtocol",
    "LauncherProtocol",
    "LoggerProtocol",
    "ModuleProtocol",
    "PrecisionProtocol",
    "Sharded",
    "StatefulProtocol",
    "StrategyProtocol",
    "TrainerProtocol",
]


@runtime_checkable
class PrecisionProtocol(Protocol):
    """Numerical precision of a run: dtype conversion, autocast contexts, loss scaling and clipping.

    Attributes:
        precision: The Lightning precision string, e.g. ``"32-true"``, ``"16-mixed"``, ``"bf16-true"``.
    """

    precision: str

    def convert_module(self, module: Module) -> Module:
        """Convert the module's parameters/buffers to the run's dtype (``-true`` precisions); return the module."""
        ...

    def convert_input(self, data: Any) -> Any:
        """Cast floating-point tensors of a batch to the input dtype (no-op for mixed precision)."""
        ...

    def convert_output(self, data: Any) -> Any:
        """Cast floating-point tensors of step outputs back to the default dtype."""
        ...

    def tensor_init_context(self) -> AbstractContextManager[Any]:
        """Context in which new tensors are created with the run's default dtype."""
        ...

    def module_init_context(self) -> AbstractContextManager[Any]:
        """Context in which modules are instantiated (parameters created directly in the run's dtype)."""
        ...

    def forward_context(self) -> AbstractContextManager[Any]:
        """Context around every forward pass, e.g. ``torch.autocast`` for mixed precision."""
        ...

    def train_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``training_step`` (usually :meth:`forward_context`)."""
        ...

    def val_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``validation_step``."""
        ...

    def test_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``test_step``."""
        ...

    def predict_step_context(self) -> AbstractContextManager[Any]:
        """Context around ``predict_step``."""
        ...

    def pre_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        """Prepare the loss before backward (e.g. multiply by the grad-scaler's scale); return the tensor to use."""
        ...

    def backward(
        self, tensor: Tensor, model: Module | None, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> None:
        """Run the backward pass of ``tensor`` (through ``model.backward`` when the module defines that hook)."""
        ...

    def post_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        """Post-process the loss after backward (e.g. detach/unscale for logging); return it."""
        ...

    def optimizer_step(
        self, optimizer: Optimizer, model: Module | None, closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        """Run ``closure`` (forward + backward) and step ``optimizer``.

        With a gradient scaler the gradients are unscaled before stepping, and the return value is ``None`` when
        the step was skipped because of non-finite gradients; otherwise it is what ``optimizer.step`` returned.
        """
        ...

    def unscale_gradients(self, optimizer: Optimizer) -> None:
        """Unscale the gradients of ``optimizer`` in place (no-op without a grad scaler)."""
        ...

    def clip_gradients(
        self, module: Module | None, optimizer: Optimizer, clip_val: float | int, gradient_clip_algorithm: str
    ) -> None:
        """Clip the gradients of ``optimizer``'s parameters by ``"norm"`` or ``"value"``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (e.g. the grad scaler's); ``{}`` when stateless."""
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`."""
        ...

    def teardown(self) -> None:
        """Undo global changes (default dtype, environment variables) made by this precision."""
        ...


@runtime_checkable
class AcceleratorProtocol(Protocol):
    """A device type (CPU, CUDA, MPS, XLA): device discovery and per-process device set-up."""

    def setup_device(self, device: torch.device) -> None:
        """Make ``device`` the current device of this process (e.g. ``torch.cuda.set_device``)."""
        ...

    def teardown(self) -> None:
        """Release device resources held by this accelerator."""
        ...

    @staticmethod
    def parse_devices(devices: Any) -> Any:
        """Normalise the user's ``devices`` flag (``int``, ``str``, list) into this accelerator's format."""
        ...

    @staticmethod
    def get_parallel_devices(devices: Any) -> list[torch.device]:
        """The ``torch.device`` objects of the parsed ``devices``, one per process."""
        ...

    @staticmethod
    def auto_device_count() -> int:
        """How many devices ``devices="auto"`` selects."""
        ...

    @staticmethod
    def is_available() -> bool:
        """Whether this accelerator can be used on this machine."""
        ...

    def get_device_stats(self, device: torch.device) -> dict[str, Any]:
        """Device statistics (memory, utilisation) for monitoring callbacks."""
        ...


@runtime_checkable
class CheckpointIOProtocol(Protocol):
    """Reads and writes checkpoint files (local or remote paths)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` to ``path`` (atomically: a crash leaves any previous file intact)."""
        ...

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Read a checkpoint; ``weights_only`` follows ``torch.load`` (safe loading by default)."""
        ...

    def remove_checkpoint(self, path: Any) -> None:
        """Delete the checkpoint at ``path``."""
        ...

    def teardown(self) -> None:
        """Flush pending asynchronous writes and release resources."""
        ...


@runtime_checkable
class ClusterEnvironmentProtocol(Protocol):
    """Where this process sits in a multi-process job (torchrun, SLURM, LSF, Kubeflow, MPI, XLA, local)."""

    @property
    def creates_processes_externally(self) -> bool:
        """Whether processes are launched by the environment (torchrun, srun) rather than by ``lit``."""
        ...

    @property
    def main_address(self) -> str:
        """Host name or IP of the rank-zero process, for the process-group rendezvous."""
        ...

    @property
    def main_port(self) -> int:
        """Port of the rendezvous on :attr:`main_address`."""
        ...

    @staticmethod
    def detect() -> bool:
        """Whether the current process runs inside this environment."""
        ...

    def world_size(self) -> int:
        """Total number of processes."""
        ...

    def set_world_size(self, size: int) -> None:
        """Record the world size (ignored by environments that read it from the job)."""
        ...

    def global_rank(self) -> int:
        """Rank of this process among all processes."""
        ...

    def set_global_rank(self, rank: int) -> None:
        """Record the global rank (ignored by environments that read it from the job)."""
        ...

    def local_rank(self) -> int:
        """Rank of this process on its node."""
        ...

    def node_rank(self) -> int:
        """Index of this process's node."""
        ...

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        """Raise if ``devices``/``num_nodes`` contradict what the environment provides."""
        ...

    def teardown(self) -> None:
        """Clean up environment variables set by this environment."""
        ...


@runtime_checkable
class LoggerProtocol(Protocol):
    """An experiment logger. Methods are called on every rank; implementations log on rank zero only."""

    @property
    def name(self) -> str | None:
        """Experiment name."""
        ...

    @property
    def version(self) -> int | str | None:
        """Experiment version (``version_N`` directories count it)."""
        ...

    @property
    def root_dir(self) -> str | None:
        """Directory holding all versions of the experiment."""
        ...

    @property
    def log_dir(self) -> str | None:
        """Directory of this version's files."""
        ...

    @property
    def save_dir(self) -> str | None:
        """Base directory the logger writes under (checkpoints go to ``save_dir/name/version/checkpoints``)."""
        ...

    @property
    def group_separator(self) -> str:
        """Separator between a metric group and name, ``"/"`` by default."""
        ...

    @property
    def experiment(self) -> Any:
        """The back-end object (e.g. a ``SummaryWriter``), created on first access."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record scalar metrics at ``step``."""
        ...

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Record hyper-parameters (a dict or Namespace)."""
        ...

    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:
        """Record the model graph, if the back-end supports it."""
        ...

    def save(self) -> None:
        """Flush buffered records to storage."""
        ...

    def finalize(self, status: str) -> None:
        """Close the experiment; ``status`` is ``"success"``, ``"failed"`` or ``"finished"``."""
        ...

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Called after a checkpoint callback saved a file (e.g. to upload it)."""
        ...


@runtime_checkable
class LauncherProtocol(Protocol):
    """Starts the processes of a run (subprocess/popen, spawn, fork, XLA) and runs a function in each."""

    @property
    def is_interactive_compatible(self) -> bool:
        """Whether the launcher works in notebooks/interactive sessions (fork-based ones do)."""
        ...

    def launch(
        self, function: Callable[..., Any], *args: Any, trainer: Any | None = None, **kwargs: Any
    ) -> Any:
        """Run ``function(*args, **kwargs)`` in every process and return rank zero's result."""
        ...

    def kill(self, signum: int) -> None:
        """Forward the signal ``signum`` to the launched child processes."""
        ...


@runtime_checkable
class StrategyProtocol(Protocol):
    """What loops need from a strategy. Every strategy implements it; loops import no concrete strategy.

    A strategy owns the (possibly wrapped) model, the precision, the checkpoint I/O and the collectives. Loops
    build the step, then call :meth:`training_step` (and friends), :meth:`backward`, :meth:`optimizer_step` and
    the collectives; everything strategy-specific (DDP wrapping, FSDP sharding, DeepSpeed engines, XLA
    synchronisation) happens behind these calls.

    Gradient accumulation contract:

    * ``handles_gradient_accumulation`` is ``False`` (single device, DDP, FSDP, XLA): the loop divides the loss
      by ``accumulate_grad_batches``, calls :meth:`backward` on every batch and :meth:`optimizer_step` only at
      the accumulation boundary (and on the last batch of the epoch). For non-boundary batches it enters
      ``no_backward_sync(module, enabled=True)`` when the strategy is a :class:`BackwardSyncControl`.
    * ``handles_gradient_accumulation`` is ``True`` (DeepSpeed): the loop passes the raw loss and calls
      :meth:`optimizer_step` (whose closure runs the step and :meth:`backward`) on *every* batch, without
      zeroing gradients itself. The strategy scales the loss, decides at which micro-batch the optimizer really
      steps and zeroes the gradients after stepping.
    """

    @property
    def root_device(self) -> torch.device:
        """The device of this process's model replica."""
        ...

    @property
    def world_size(self) -> int:
        """Total number of processes."""
        ...

    @property
    def global_rank(self) -> int:
        """Rank of this process among all processes."""
        ...

    @property
    def local_rank(self) -> int:
        """Rank of this process on its node."""
        ...

    @property
    def node_rank(self) -> int:
        """Index of this process's node."""
        ...

    @property
    def is_global_zero(self) -> bool:
        """Whether this is the rank-zero process (the one that writes files)."""
        ...

    @property
    def precision_plugin(self) -> PrecisionProtocol:
        """The precision used for steps and backward."""
        ...

    @property
    def checkpoint_io(self) -> CheckpointIOProtocol:
        """The checkpoint reader/writer."""
        ...

    @property
    def model(self) -> Module | None:
        """The module as the strategy runs it, possibly wrapped (DDP, FSDP, a DeepSpeed engine)."""
        ...

    @property
    def lightning_module(self) -> Any:
        """The user's unwrapped module (``None`` before :meth:`connect`)."""
        ...

    @property
    def distributed_sampler_kwargs(self) -> dict[str, Any] | None:
        """``num_replicas``/``rank`` for a ``DistributedSampler``, or ``None`` when data is not split."""
        ...

    @property
    def handles_gradient_accumulation(self) -> bool:
        """``True`` when the strategy accumulates gradients and decides when to step (DeepSpeed-style)."""
        ...

    @property
    def restore_checkpoint_after_setup(self) -> bool:
        """``True`` when checkpoints must be loaded after :meth:`setup_module` (sharded/engine strategies)."""
        ...

    @property
    def lightning_restore_optimizer(self) -> bool:
        """``False`` when the strategy restores optimizer state itself while loading the checkpoint."""
        ...

    def setup_environment(self) -> None:
        """Prepare the process: set the device, create the process group."""
        ...

    def connect(self, module: Any) -> None:
        """Attach the user's module; afterwards :attr:`lightning_module` and :attr:`model` return it."""
        ...

    def setup_module(self, module: Module) -> Module:
        """Move, wrap or shard ``module`` for this strategy and return what loops should run (also :attr:`model`)."""
        ...

    def setup_optimizer(self, optimizer: Optimizer) -> Optimizer:
        """Adapt an optimizer to the set-up module (e.g. sharded optimizer state); return the one to use."""
        ...

    def model_to_device(self) -> None:
        """Move :attr:`model` to :attr:`root_device`."""
        ...

    def batch_to_device(self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0) -> Any:
        """Move a batch to ``device`` (default :attr:`root_device`), through the module's transfer hooks if any."""
        ...

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``training_step`` through the wrapper, under the precision's train-step context."""
        ...

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``validation_step`` under the precision's val-step context."""
        ...

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``test_step`` under the precision's test-step context."""
        ...

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``predict_step`` under the precision's predict-step context."""
        ...

    def backward(
        self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        """Backward pass of the loss through the precision; returns the (post-processed) loss."""
        ...

    def optimizer_step(
        self, optimizer: Optimizer, closure: Callable[[], Any], model: Module | None = None, **kwargs: Any
    ) -> Any:
        """Run ``closure`` and step ``optimizer`` through the precision; see the accumulation contract above."""
        ...

    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: str | None = "mean") -> Any:
        """Reduce a tensor across processes (``"mean"``/``"sum"``); single-process strategies return it as is."""
        ...

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        """Combine a per-process decision: ``all`` ranks must agree (``True``) or ``any`` rank suffices."""
        ...

    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        """Gather a tensor from every process, stacked on a new leading dimension (unchanged on one process)."""
        ...

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        """Send ``obj`` from rank ``src`` to every process and return it."""
        ...

    def barrier(self, name: str | None = None) -> None:
        """Wait until every process reaches this point."""
        ...

    def lightning_module_state_dict(self) -> dict[str, Any]:
        """The full (gathered, unwrapped) model state dict to checkpoint."""
        ...

    def optimizer_state(self, optimizer: Optimizer) -> dict[str, Any]:
        """The state dict of ``optimizer`` to checkpoint (consolidated for sharded optimizers)."""
        ...

    def load_model_state_dict(self, checkpoint: Mapping[str, Any], strict: bool = True) -> None:
        """Load ``checkpoint["state_dict"]`` into the module."""
        ...

    def load_optimizer_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        """Load ``checkpoint["optimizer_states"]`` into the strategy's optimizers."""
        ...

    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None
    ) -> None:
        """Write a checkpoint (rank zero only, unless the format is sharded)."""
        ...

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """Read a checkpoint written by :meth:`save_checkpoint`."""
        ...

    def remove_checkpoint(self, filepath: Any) -> None:
        """Delete a checkpoint written by :meth:`save_checkpoint`."""
        ...

    def tensor_init_context(self, empty_init: bool | None = None) -> AbstractContextManager[Any]:
        """Context to create tensors/modules on the right device and dtype (``empty_init`` skips initialisation)."""
        ...

    def model_sharded_context(self) -> AbstractContextManager[Any]:
        """Context in which ``configure_model`` runs (sharded instantiation for FSDP/DeepSpeed stage 3)."""
        ...

    def teardown(self) -> None:
        """Release resources: move the model back to CPU, destroy wrappers, tear down precision and I/O."""
        ...


@runtime_checkable
class BackwardSyncControl(Protocol):
    """Capability: skip the gradient all-reduce while accumulating (DDP ``no_sync``, FSDP)."""

    def no_backward_sync(self, module: Module, enabled: bool) -> AbstractContextManager[Any]:
        """Within this context, backward does not synchronise gradients when ``enabled`` is ``True``."""
        ...


@runtime_checkable
class Sharded(Protocol):
    """Capability: parameters are sharded across processes (FSDP-style).

    Module state dicts must be obtained through the strategy (:meth:`StrategyProtocol.lightning_module_state_dict`)
    because the module only holds its shard.
    """

    @property
    def is_sharded(self) -> bool:
        """Whether the module's parameters are currently sharded."""
        ...

    def module_sharded_context(self) -> AbstractContextManager[Any]:
        """Context in which modules are instantiated already sharded."""
        ...


@runtime_checkable
class StatefulProtocol(Protocol):
    """An object whose state can be saved and restored."""

    def state_dict(self) -> dict[str, Any]:
        """The state to checkpoint."""
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`."""
        ...


@runtime_checkable
class DataPositionProtocol(StatefulProtocol, Protocol):
    """A stateful data source that knows how far it got, for exact mid-epoch resume.

    Attributes:
        position: Batches consumed in the current epoch; restoring the state makes the next batch the one at
            ``position``.
    """

    position: int


@runtime_checkable
class ModuleProtocol(Protocol):
    """The module side loops drive: steps, optimizer configuration and the model hooks."""

    automatic_optimization: bool

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the loss (a tensor, a dict with ``"loss"``, or ``None`` to skip the batch)."""
        ...

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """Evaluate one validation batch."""
        ...

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """Evaluate one test batch."""
        ...

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """Predict one batch."""
        ...

    def configure_optimizers(self) -> Any:
        """Return the optimizer(s) and optional scheduler configuration."""
        ...

    def on_fit_start(self) -> None: ...
    def on_fit_end(self) -> None: ...
    def on_train_start(self) -> None: ...
    def on_train_end(self) -> None: ...
    def on_validation_start(self) -> None: ...
    def on_validation_end(self) -> None: ...
    def on_test_start(self) -> None: ...
    def on_test_end(self) -> None: ...
    def on_predict_start(self) -> None: ...
    def on_predict_end(self) -> None: ...
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None: ...
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None: ...
    def on_validation_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_validation_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_test_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_test_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_predict_batch_start(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None: ...
    def on_predict_batch_end(
        self, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None: ...
    def on_validation_model_zero_grad(self) -> None: ...
    def on_validation_model_eval(self) -> None: ...
    def on_validation_model_train(self) -> None: ...
    def on_test_model_eval(self) -> None: ...
    def on_test_model_train(self) -> None: ...
    def on_predict_model_eval(self) -> None: ...
    def on_train_epoch_start(self) -> None: ...
    def on_train_epoch_end(self) -> None: ...
    def on_validation_epoch_start(self) -> None: ...
    def on_validation_epoch_end(self) -> None: ...
    def on_test_epoch_start(self) -> None: ...
    def on_test_epoch_end(self) -> None: ...
    def on_predict_epoch_start(self) -> None: ...
    def on_predict_epoch_end(self) -> None: ...
    def on_before_zero_grad(self, optimizer: Optimizer) -> None: ...
    def on_before_backward(self, loss: Tensor) -> None: ...
    def on_after_backward(self) -> None: ...
    def on_before_optimizer_step(self, optimizer: Optimizer) -> None: ...
    def configure_sharded_model(self) -> None: ...
    def configure_model(self) -> None: ...


@runtime_checkable
class TrainerProtocol(Protocol):
    """The trainer as callbacks and loggers see it. Callbacks must use only these members.

    Attributes:
        should_stop: Set to ``True`` (e.g. by early stopping) to stop training at the next check.
    """

    should_stop: bool

    @property
    def current_epoch(self) -> int: ...
    @property
    def global_step(self) -> int:
        """Number of optimizer steps taken (all optimizers)."""
        ...

    @property
    def max_epochs(self) -> int | None: ...
    @property
    def min_epochs(self) -> int | None: ...
    @property
    def max_steps(self) -> int: ...
    @property
    def min_steps(self) -> int | None: ...
    @property
    def state(self) -> TrainerState:
        """``.fn`` (TrainerFn), ``.stage`` (RunningStage) and ``.status`` (TrainerStatus)."""
        ...

    @property
    def training(self) -> bool: ...
    @property
    def validating(self) -> bool: ...
    @property
    def testing(self) -> bool: ...
    @property
    def predicting(self) -> bool: ...
    @property
    def sanity_checking(self) -> bool: ...
    @property
    def callback_metrics(self) -> dict[str, Any]:
        """Latest value of every logged metric (epoch values for ``on_epoch`` metrics)."""
        ...

    @property
    def logged_metrics(self) -> dict[str, Any]: ...
    @property
    def progress_bar_metrics(self) -> dict[str, Any]: ...
    @property
    def loggers(self) -> list[LoggerProtocol]: ...
    @property
    def logger(self) -> LoggerProtocol | None: ...
    @property
    def log_dir(self) -> str | None: ...
    @property
    def default_root_dir(self) -> str: ...
    @property
    def is_global_zero(self) -> bool: ...
    @property
    def world_size(self) -> int: ...
    @property
    def global_rank(self) -> int: ...
    @property
    def local_rank(self) -> int: ...
    @property
    def strategy(self) -> StrategyProtocol: ...
    @property
    def precision(self) -> str: ...
    @property
    def lightning_module(self) -> Any: ...
    @property
    def optimizers(self) -> list[Optimizer]: ...
    @property
    def lr_scheduler_configs(self) -> list[Any]: ...
    @property
    def callbacks(self) -> list[Callback]: ...
    @property
    def num_training_batches(self) -> int | float: ...
    @property
    def num_val_batches(self) -> list[int | float]: ...
    @property
    def num_sanity_val_batches(self) -> list[int | float]: ...
    @property
    def num_test_batches(self) -> list[int | float]: ...
    @property
    def num_predict_batches(self) -> list[int | float]: ...
    @property
    def estimated_stepping_batches(self) -> int | float: ...
    @property
    def fast_dev_run(self) -> int | bool: ...
    @property
    def accumulate_grad_batches(self) -> int: ...
    @property
    def check_val_every_n_epoch(self) -> int | None: ...
    @property
    def val_check_interval(self) -> int | float: ...
    @property
    def log_every_n_steps(self) -> int: ...
    @property
    def checkpoint_callback(self) -> Any | None: ...
    @property
    def checkpoint_callbacks(self) -> list[Any]: ...
    @property
    def early_stopping_callback(self) -> Any | None: ...
    def save_checkpoint(
        self, filepath: Any, weights_only: bool | None = False, storage_options: Any | None = None
    ) -> None:
        """Save a checkpoint of the current state to ``filepath``."""
        ...

    def print(self, *args: Any, **kwargs: Any) -> None:
        """``print`` on rank zero only."""
        ...
