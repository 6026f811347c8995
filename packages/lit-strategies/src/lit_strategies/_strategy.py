"""The :class:`Strategy` base class: model placement, steps, backward, optimizer steps, collectives, checkpoints."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer
from torch.overrides import TorchFunctionMode

from lit_precision import Precision
from lit_strategies._checkpoint_io import CheckpointIO, TorchCheckpointIO

if TYPE_CHECKING:
    from lit_hooks import Registry
    from lit_strategies._accelerators import Accelerator

__all__ = ["Strategy"]

log = logging.getLogger(__name__)

TBroadcast = TypeVar("TBroadcast")


def _move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a nested batch to ``device``; tensors already there are returned as they are."""
    if isinstance(batch, Tensor):
        if batch.device == device:
            return batch
        non_blocking = device.type == "cuda" and batch.device.type == "cpu" and batch.is_pinned()
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (list, tuple)):
        moved = [_move_to_device(item, device) for item in batch]
        if all(new is old for new, old in zip(moved, batch)):
            return batch
        if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
            return type(batch)(*moved)
        return type(batch)(moved)
    if isinstance(batch, Mapping):
        items = {key: _move_to_device(value, device) for key, value in batch.items()}
        if all(items[key] is value for key, value in batch.items()):
            return batch
        try:
            return type(batch)(items)
        except TypeError:
            return items
    to = getattr(batch, "to", None)
    if callable(to) and not isinstance(batch, type):
        return to(device)
    return batch


def _optimizer_to_device(optimizer: Optimizer, device: torch.device) -> None:
    """Move the optimizer's state tensors (momentum buffers...) to ``device``; ``step`` counters stay put."""
    for param_state in optimizer.state.values():
        for key, value in param_state.items():
            if isinstance(value, Tensor) and key != "step" and value.device != device:
                param_state[key] = value.to(device)


def _unwrap_optimizer(optimizer: Any) -> Any:
    # a ``LightningOptimizer`` keeps the real optimizer in ``_optimizer``
    return getattr(optimizer, "_optimizer", optimizer)


class _EmptyInit(TorchFunctionMode):
    """Skip the ``torch.nn.init`` calls made while modules are built (their memory stays uninitialised)."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if self.enabled and getattr(func, "__module__", None) == "torch.nn.init":
            return kwargs["tensor"] if "tensor" in kwargs else args[0]
        return func(*args, **kwargs)


class _ForwardRedirection:
    """Call a method of a wrapped module *through the wrapper's forward*.

    Wrappers such as ``DistributedDataParallel`` do their work in ``forward`` (preparing the gradient reduction,
    broadcasting buffers). To run ``module.training_step(batch)`` with those hooks, the inner module's ``forward``
    is swapped for a function that restores it and calls ``training_step``; then the wrapper is called.
    """

    def __call__(self, wrapper: Module, module: Module, method_name: str, *args: Any, **kwargs: Any) -> Any:
        if method_name == "forward":
            return wrapper(*args, **kwargs)
        had_instance_forward = "forward" in module.__dict__
        instance_forward = module.__dict__.get("forward")

        def restore() -> None:
            if had_instance_forward:
                module.forward = instance_forward  # type: ignore[method-assign]
            else:
                module.__dict__.pop("forward", None)

        def redirected_forward(*inner_args: Any, **inner_kwargs: Any) -> Any:
            # restore first: the step itself may call ``self(...)``
            restore()
            out = getattr(module, method_name)(*inner_args, **inner_kwargs)
            self.on_after_inner_forward(wrapper, module)
            return out

        module.forward = redirected_forward  # type: ignore[method-assign]
        try:
            out = wrapper(*args, **kwargs)
        finally:
            restore()
        self.on_after_outer_forward(wrapper, module)
        return out

    def on_after_inner_forward(self, wrapper: Module, module: Module) -> None:
        """Called right after the redirected method returned, still inside the wrapper's forward."""

    def on_after_outer_forward(self, wrapper: Module, module: Module) -> None:
        """Called after the wrapper's forward returned."""


class Strategy(ABC):
    """Base class of strategies: how a model is placed, wrapped and trained across devices and processes.

    A strategy composes an accelerator (the device type), a precision plugin (dtypes, autocast, loss scaling) and
    a checkpoint I/O, and implements :class:`lit_hooks.StrategyProtocol`: loops call its ``*_step`` methods,
    :meth:`backward`, :meth:`optimizer_step` and collectives without knowing the concrete class. It also works in a
    hand-written loop: :meth:`setup_module` converts, moves and wraps a model, :meth:`setup_optimizer` adapts an
    optimizer, and :meth:`backward` / :meth:`optimizer_step` do the rest.

    Args:
        accelerator: The accelerator; set later by the Trainer when ``None``.
        checkpoint_io: How checkpoints are written and read; a :class:`TorchCheckpointIO` when ``None``.
        precision_plugin: The precision; full precision (``"32-true"``) when ``None``.
    """

    def __init__(
        self,
        accelerator: Accelerator | None = None,
        checkpoint_io: CheckpointIO | None = None,
        precision_plugin: Precision | None = None,
    ) -> None:
        self._accelerator: Accelerator | None = accelerator
        self._checkpoint_io: CheckpointIO | None = checkpoint_io
        self._precision_plugin: Precision | None = precision_plugin
        self._lightning_module: Any = None
        self._model: Module | None = None
        self._launcher: Any = None
        self._forward_redirection: _ForwardRedirection = _ForwardRedirection()
        self._optimizers: list[Optimizer] = []
        self.lr_scheduler_configs: list[Any] = []

    # ------------------------------------------------------------------------------------------ components
    @property
    def launcher(self) -> Any:
        """The launcher that starts this strategy's processes, or ``None`` when nothing needs launching."""
        return self._launcher

    def _configure_launcher(self) -> None:  # noqa: B027
        """Attach the launcher matching the strategy's configuration (none for single-process strategies)."""

    @property
    def accelerator(self) -> Accelerator | None:
        return self._accelerator

    @accelerator.setter
    def accelerator(self, accelerator: Accelerator | None) -> None:
        self._accelerator = accelerator

    @property
    def checkpoint_io(self) -> CheckpointIO:
        """The checkpoint I/O (a :class:`TorchCheckpointIO` unless another one was given)."""
        if self._checkpoint_io is None:
            self._checkpoint_io = TorchCheckpointIO()
        return self._checkpoint_io

    @checkpoint_io.setter
    def checkpoint_io(self, io: CheckpointIO | None) -> None:
        self._checkpoint_io = io

    @property
    def precision_plugin(self) -> Precision:
        """The precision plugin (full precision unless another one was given)."""
        if self._precision_plugin is None:
            self._precision_plugin = Precision()
        return self._precision_plugin

    @precision_plugin.setter
    def precision_plugin(self, precision_plugin: Precision | None) -> None:
        self._precision_plugin = precision_plugin

    @property
    def optimizers(self) -> list[Optimizer]:
        """The optimizers set up with this strategy."""
        return self._optimizers

    @optimizers.setter
    def optimizers(self, optimizers: list[Optimizer]) -> None:
        self._optimizers = list(optimizers)

    # ------------------------------------------------------------------------------------------ topology
    @property
    @abstractmethod
    def root_device(self) -> torch.device:
        """The device of this process's model replica."""

    @property
    def world_size(self) -> int:
        return 1

    @property
    def global_rank(self) -> int:
        return 0

    @property
    def local_rank(self) -> int:
        return 0

    @property
    def node_rank(self) -> int:
        return 0

    @property
    @abstractmethod
    def is_global_zero(self) -> bool:
        """Whether this process has global rank zero (the one that writes files)."""

    @property
    def distributed_sampler_kwargs(self) -> dict[str, Any] | None:
        """``num_replicas``/``rank`` for a ``DistributedSampler``; ``None`` when the data is not split."""
        return None

    @property
    def handles_gradient_accumulation(self) -> bool:
        """Whether the strategy decides when to step during gradient accumulation (DeepSpeed does)."""
        return False

    @property
    def restore_checkpoint_after_setup(self) -> bool:
        """Whether checkpoints must be loaded after :meth:`setup_module` (sharded strategies)."""
        return False

    @property
    def lightning_restore_optimizer(self) -> bool:
        """``False`` when the strategy restores optimizer states itself while loading a checkpoint."""
        return True

    # ------------------------------------------------------------------------------------------ model
    @property
    def model(self) -> Module | None:
        """The module as the strategy runs it, possibly wrapped (e.g. in ``DistributedDataParallel``)."""
        return self._model if self._model is not None else self._lightning_module

    @model.setter
    def model(self, new_model: Module | None) -> None:
        self._model = new_model

    @property
    def lightning_module(self) -> Any:
        """The user's module without wrappers (``None`` before :meth:`connect`)."""
        return self._lightning_module

    def connect(self, model: Any) -> None:
        """Attach the user's module; :attr:`lightning_module` and :attr:`model` return it afterwards."""
        self._lightning_module = model
        self._model = model

    def setup_environment(self) -> None:
        """Prepare this process before the model is set up: select the device (and start process groups)."""
        if self._accelerator is not None:
            self._accelerator.setup_device(self.root_device)

    def setup_module(self, module: Module) -> Module:
        """Convert ``module`` to the precision's dtype, move it to :attr:`root_device` and wrap it if needed.

        Connects ``module`` first when no module was connected yet. Returns the module to run (also stored as
        :attr:`model`); :attr:`lightning_module` stays the unwrapped module.
        """
        if self._lightning_module is None:
            self.connect(module)
        converted = self.precision_plugin.convert_module(module)
        if module is self._lightning_module and converted is not module:
            # a conversion that returned a new object replaces the connected module
            self._lightning_module = converted
        module = converted
        self._model = module
        self.model_to_device()
        self._model = self._setup_model(module)
        return self._model

    def _setup_model(self, model: Module) -> Module:
        """Wrap the model for this strategy (no wrapping by default)."""
        return model

    def setup_optimizer(self, optimizer: Optimizer) -> Optimizer:
        """Adapt ``optimizer`` to the set-up module, record it in :attr:`optimizers` and return the one to use."""
        optimizer = self._setup_optimizer(optimizer)
        _optimizer_to_device(_unwrap_optimizer(optimizer), self.root_device)
        if not any(existing is optimizer for existing in self._optimizers):
            self._optimizers.append(optimizer)
        return optimizer

    def _setup_optimizer(self, optimizer: Optimizer) -> Optimizer:
        """Wrap the optimizer for this strategy (no wrapping by default)."""
        return optimizer

    def model_to_device(self) -> None:
        """Move :attr:`model` to :attr:`root_device`."""
        if self.model is not None:
            self.model.to(self.root_device)

    def batch_to_device(self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0) -> Any:
        """Move ``batch`` to ``device`` (default :attr:`root_device`); tensors already there are not copied.

        When the connected module defines ``transfer_batch_to_device`` (a ``LightningModule``), its
        ``on_before_batch_transfer``, ``transfer_batch_to_device`` and ``on_after_batch_transfer`` hooks run instead.
        """
        device = device if device is not None else self.root_device
        module = self._lightning_module
        if module is not None:
            handler = getattr(module, "_apply_batch_transfer_handler", None)
            if callable(handler):
                return handler(batch, device=device, dataloader_idx=dataloader_idx)
            if callable(getattr(module, "transfer_batch_to_device", None)):
                batch = module.on_before_batch_transfer(batch, dataloader_idx)
                batch = module.transfer_batch_to_device(batch, device, dataloader_idx)
                return module.on_after_batch_transfer(batch, dataloader_idx)
        return _move_to_device(batch, device)

    def process_dataloader(self, dataloader: object) -> object:
        """Wrap a data loader if the strategy needs to (returned unchanged by default)."""
        return dataloader

    # ------------------------------------------------------------------------------------------ steps
    def _step(self, method_name: str, context: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        module = self._lightning_module
        if module is None:
            raise RuntimeError(
                f"`{type(self).__name__}.{method_name}` needs a module: call `strategy.connect(module)` or"
                " `strategy.setup_module(module)` first."
            )
        with context:
            model = self.model
            if model is not None and model is not module:
                return self._forward_redirection(model, module, method_name, *args, **kwargs)
            return getattr(module, method_name)(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``training_step`` (through the wrapper) under the precision's train-step context."""
        return self._step("training_step", self.precision_plugin.train_step_context(), args, kwargs)

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``validation_step`` under the precision's val-step context."""
        return self._step("validation_step", self.precision_plugin.val_step_context(), args, kwargs)

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``test_step`` under the precision's test-step context."""
        return self._step("test_step", self.precision_plugin.test_step_context(), args, kwargs)

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        """Run the module's ``predict_step`` under the precision's predict-step context."""
        return self._step("predict_step", self.precision_plugin.predict_step_context(), args, kwargs)

    # ------------------------------------------------------------------------------------------ optimization
    def pre_backward(self, closure_loss: Tensor) -> None:  # noqa: B027
        """Called before the precision's backward (strategy-specific preparation)."""

    def post_backward(self, closure_loss: Tensor) -> None:  # noqa: B027
        """Called after the precision's backward."""

    def backward(
        self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        """Backpropagate ``closure_loss`` through the precision plugin.

        Runs the strategy's :meth:`pre_backward`, the precision's ``pre_backward`` (e.g. loss scaling),
        ``backward`` (the module's ``backward`` hook if it has one) and ``post_backward``, then :meth:`post_backward`.

        Args:
            closure_loss: The loss to differentiate.
            optimizer: The optimizer being stepped, ``None`` in manual optimization.
            *args: Forwarded to the backward call.
            **kwargs: Forwarded to the backward call.

        Returns:
            The loss as returned by the precision's ``post_backward`` (detached).
        """
        self.pre_backward(closure_loss)
        module = self._lightning_module
        precision = self.precision_plugin
        closure_loss = precision.pre_backward(closure_loss, module)
        precision.backward(closure_loss, module, optimizer, *args, **kwargs)
        closure_loss = precision.post_backward(closure_loss, module)
        self.post_backward(closure_loss)
        return closure_loss

    def optimizer_step(
        self, optimizer: Optimizer, closure: Callable[[], Any], model: Module | None = None, **kwargs: Any
    ) -> Any:
        """Step ``optimizer`` through the precision plugin, which runs ``closure`` (forward and backward) first.

        Args:
            optimizer: The optimizer to step.
            closure: Computes the loss and calls :meth:`backward`.
            model: The module being optimized; the connected module when ``None``.
            **kwargs: Forwarded to ``optimizer.step``.
        """
        model = model if model is not None else self._lightning_module
        return self.precision_plugin.optimizer_step(optimizer, model, closure, **kwargs)

    def clip_gradients_norm(
        self,
        module: Module,
        optimizer: Optimizer,
        max_norm: float,
        norm_type: float = 2.0,
        error_if_nonfinite: bool = True,
    ) -> Tensor:
        """Rescale the module's gradients to a total ``norm_type``-norm of at most ``max_norm``; return the norm.

        Gradients are unscaled first when the precision uses a grad scaler.
        """
        self.precision_plugin.unscale_gradients(optimizer)
        parameters = self.precision_plugin.main_params(optimizer)
        return torch.nn.utils.clip_grad_norm_(
            list(parameters), max_norm=max_norm, norm_type=norm_type, error_if_nonfinite=error_if_nonfinite
        )

    def clip_gradients_value(self, module: Module, optimizer: Optimizer, clip_val: float) -> None:
        """Clamp the module's gradients to ``[-clip_val, clip_val]`` (after unscaling, with a grad scaler)."""
        self.precision_plugin.unscale_gradients(optimizer)
        torch.nn.utils.clip_grad_value_(
            list(self.precision_plugin.main_params(optimizer)), clip_value=clip_val
        )

    # ------------------------------------------------------------------------------------------ collectives
    @abstractmethod
    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: Any | None = "mean") -> Any:
        """Reduce a tensor across processes (``"mean"``, ``"sum"`` or a ``ReduceOp``); other values pass through."""

    @abstractmethod
    def barrier(self, name: str | None = None) -> None:
        """Wait until every process reaches this point."""

    @abstractmethod
    def broadcast(self, obj: TBroadcast, src: int = 0) -> TBroadcast:
        """Send ``obj`` from rank ``src`` to every process."""

    @abstractmethod
    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        """Gather ``tensor`` from every process, stacked on a new leading dimension."""

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        """Combine a per-process decision (``all`` ranks must agree, or ``any`` rank suffices)."""
        return decision

    # ------------------------------------------------------------------------------------------ state
    def lightning_module_state_dict(self) -> dict[str, Any]:
        """The unwrapped module's state dict."""
        return self._require_module("lightning_module_state_dict").state_dict()

    def optimizer_state(self, optimizer: Optimizer) -> dict[str, Any]:
        """The state dict of ``optimizer``; sharded optimizers are consolidated and returned on rank zero only."""
        optimizer = _unwrap_optimizer(optimizer)
        if hasattr(optimizer, "consolidate_state_dict"):
            optimizer.consolidate_state_dict()
            return optimizer.state_dict() if self.is_global_zero else {}
        return optimizer.state_dict()

    def load_model_state_dict(self, checkpoint: Mapping[str, Any], strict: bool = True) -> None:
        """Load ``checkpoint["state_dict"]`` into the unwrapped module."""
        self._require_module("load_model_state_dict").load_state_dict(checkpoint["state_dict"], strict=strict)

    def load_optimizer_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        """Load ``checkpoint["optimizer_states"]`` into :attr:`optimizers`, in order.

        Raises:
            ValueError: If the checkpoint holds a different number of optimizer states.
        """
        states = checkpoint["optimizer_states"]
        if len(states) != len(self._optimizers):
            raise ValueError(
                f"The checkpoint holds {len(states)} optimizer state(s) but {len(self._optimizers)} optimizer(s) are"
                " set up. Configure the same optimizers as the run that wrote the checkpoint."
            )
        for optimizer, state in zip(self._optimizers, states):
            optimizer.load_state_dict(state)
            _optimizer_to_device(_unwrap_optimizer(optimizer), self.root_device)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` through :attr:`checkpoint_io` on global rank zero."""
        if self.is_global_zero:
            self.checkpoint_io.save_checkpoint(checkpoint, filepath, storage_options=storage_options)

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """Read a checkpoint through :attr:`checkpoint_io` (safe ``weights_only`` loading unless ``False``)."""
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()
        return self.checkpoint_io.load_checkpoint(checkpoint_path, weights_only=weights_only)

    def remove_checkpoint(self, filepath: Any) -> None:
        """Delete a checkpoint through :attr:`checkpoint_io` on global rank zero."""
        if self.is_global_zero:
            self.checkpoint_io.remove_checkpoint(filepath)

    def _require_module(self, what: str) -> Any:
        if self._lightning_module is None:
            raise RuntimeError(
                f"`{type(self).__name__}.{what}` needs a module: call `strategy.connect(module)` first."
            )
        return self._lightning_module

    # ------------------------------------------------------------------------------------------ contexts
    @contextmanager
    def tensor_init_context(self, empty_init: bool | None = None) -> Generator[None, None, None]:
        """Create tensors and modules on :attr:`root_device` in the precision's dtype.

        Args:
            empty_init: Skip the ``torch.nn.init`` initialisation (for weights that are loaded right after).
        """
        with ExitStack() as stack:
            stack.enter_context(_EmptyInit(enabled=bool(empty_init)))
            stack.enter_context(self.root_device)
            stack.enter_context(self.precision_plugin.tensor_init_context())
            yield

    @contextmanager
    def model_sharded_context(self) -> Generator[None, None, None]:
        """Context in which ``configure_model`` runs; sharded strategies create the layers sharded here."""
        yield

    # ------------------------------------------------------------------------------------------ lifecycle
    def teardown(self) -> None:
        """Move the module and optimizer states back to CPU and tear down precision, accelerator and I/O."""
        cpu = torch.device("cpu")
        for optimizer in self._optimizers:
            _optimizer_to_device(_unwrap_optimizer(optimizer), cpu)
        if self._lightning_module is not None and self.root_device.type != "cpu":
            log.debug(f"{type(self).__name__}: moving model to CPU")
            self._lightning_module.cpu()
        self.precision_plugin.teardown()
        if self._accelerator is not None:
            self._accelerator.teardown()
        self.checkpoint_io.teardown()

    @classmethod  # noqa: B027
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        """Register this class's strategy names in ``strategy_registry`` (subclasses override it)."""

    def on_train_start(self) -> None:  # noqa: B027
        """Called when training begins."""

    def on_validation_start(self) -> None:  # noqa: B027
        """Called when validation begins."""

    def on_test_start(self) -> None:  # noqa: B027
        """Called when testing begins."""

    def on_predict_start(self) -> None:  # noqa: B027
        """Called when prediction begins."""

    def on_train_end(self) -> None:  # noqa: B027
        """Called when training ends."""

    def on_validation_end(self) -> None:  # noqa: B027
        """Called when validation ends."""

    def on_test_end(self) -> None:  # noqa: B027
        """Called when testing ends."""

    def on_predict_end(self) -> None:  # noqa: B027
        """Called when prediction ends."""

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:  # noqa: B027
        """Called before each training batch."""

    def on_exception(self, exception: BaseException) -> None:  # noqa: B027
        """Called when the run is interrupted by ``exception``."""

    def _reset_optimizers_and_schedulers(self) -> None:
        self._optimizers = []
        self.lr_scheduler_configs = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}(precision_plugin={self.precision_plugin!r})"
