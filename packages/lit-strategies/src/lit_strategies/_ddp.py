"""Distributed data parallel training: one process per device, gradients all-reduced in backward."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn import Module
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from typing_extensions import override

from lit_hooks import rank_zero_info
from lit_strategies._distributed import (
    default_pg_timeout,
)
from lit_strategies._process_group import _ProcessGroupStrategy
from lit_strategies._strategy import _ForwardRedirection

if TYPE_CHECKING:
    from lit_hooks import Registry
    from lit_precision import Precision
    from lit_strategies._accelerators import Accelerator
    from lit_strategies._checkpoint_io import CheckpointIO
    from lit_strategies._environments import ClusterEnvironment
    from lit_strategies._strategy import Strategy

__all__ = ["DDPStrategy"]

log = logging.getLogger(__name__)

_UNUSED_PARAMETERS_HINT = (
    "It looks like your LightningModule has parameters that were not used in producing the loss returned"
    " by training_step. If this is intentional, you must enable the detection of unused parameters in DDP,"
    " either by setting the string value `strategy='ddp_find_unused_parameters_true'`"
    " or by setting the flag in the strategy with `strategy=DDPStrategy(find_unused_parameters=True)`."
)


def _find_tensors(obj: Any) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in _find_tensors(item)]
    if isinstance(obj, dict):
        return [t for item in obj.values() for t in _find_tensors(item)]
    return []


def _prepare_for_backward(model: DistributedDataParallel, output: Any) -> None:
    """Arm DDP's reducer for a backward pass that happens outside the wrapper's forward (manual optimization)."""
    if torch.is_grad_enabled() and model.require_backward_grad_sync:
        model.require_forward_param_sync = True
        tensors = _find_tensors(output) if model.find_unused_parameters and not model.static_graph else []
        reducer = model.reducer
        reducer._rebuild_buckets()
        reducer.prepare_for_backward(tensors)
    else:
        model.require_forward_param_sync = False


def _is_post_local_sgd_state(state: object) -> bool:
    from torch.distributed.algorithms.ddp_comm_hooks.post_localSGD_hook import PostLocalSGDState

    return isinstance(state, PostLocalSGDState)


class _DDPForwardRedirection(_ForwardRedirection):
    """In manual optimization the user calls backward later: keep DDP from preparing the reducer in forward."""

    @override
    def on_after_inner_forward(self, wrapper: Module, module: Module) -> None:
        if isinstance(wrapper, DistributedDataParallel) and not getattr(
            module, "automatic_optimization", True
        ):
            wrapper.require_backward_grad_sync = False

    @override
    def on_after_outer_forward(self, wrapper: Module, module: Module) -> None:
        if isinstance(wrapper, DistributedDataParallel) and not getattr(
            module, "automatic_optimization", True
        ):
            wrapper.require_backward_grad_sync = True


def _augment_message(exception: BaseException, pattern: str, new_message: str) -> None:
    if any(isinstance(arg, str) and re.match(pattern, arg, re.DOTALL) for arg in exception.args):
        exception.args = tuple(
            new_message if isinstance(arg, str) and re.match(pattern, arg, re.DOTALL) else arg
            for arg in exception.args
        )


class DDPStrategy(_ProcessGroupStrategy):
    """Multi-process data parallel training with ``torch.nn.parallel.DistributedDataParallel``.

    One process runs per device (``gloo`` on CPU, ``nccl`` on CUDA unless ``process_group_backend`` says
    otherwise). The model is wrapped in ``DistributedDataParallel`` by :meth:`setup_module`, so gradients are
    averaged across processes during backward; :meth:`no_backward_sync` skips that while accumulating gradients
    (the :class:`lit_hooks.BackwardSyncControl` capability). Registered as ``ddp`` (``popen``), ``ddp_spawn``,
    ``ddp_fork``, ``ddp_notebook`` and their ``_find_unused_parameters_{true,false}`` variants.

    Args:
        accelerator: The accelerator; set by the Trainer when ``None``.
        parallel_devices: The device of each process on this node, e.g. ``[torch.device("cpu")] * 2``.
        cluster_environment: Ranks and rendezvous address (``LightningEnvironment`` for local runs).
        checkpoint_io: How checkpoints are written and read.
        precision_plugin: The precision; full precision when ``None``.
        ddp_comm_state: State passed to ``ddp_comm_hook`` (e.g. a ``PostLocalSGDState``).
        ddp_comm_hook: A DDP communication hook (CUDA only), e.g. ``fp16_compress_hook``.
        ddp_comm_wrapper: Wraps ``ddp_comm_hook``, e.g. ``fp16_compress_wrapper``.
        model_averaging_period: Steps between model averagings with post-local SGD.
        process_group_backend: ``"gloo"``, ``"nccl"``...; chosen from the device type when ``None``.
        timeout: How long collectives wait for other processes before failing.
        start_method: How processes are started: ``"popen"`` (run the script again per rank, the default),
            ``"spawn"``, ``"fork"`` or ``"forkserver"`` (``torch.multiprocessing``).
        **kwargs: Passed to ``DistributedDataParallel``, e.g. ``find_unused_parameters=True``,
            ``static_graph=True``, ``gradient_as_bucket_view=True``.

    Raises:
        ValueError: If ``start_method`` is not one of the choices.
    """

    def __init__(
        self,
        accelerator: Accelerator | None = None,
        parallel_devices: list[torch.device] | None = None,
        cluster_environment: ClusterEnvironment | None = None,
        checkpoint_io: CheckpointIO | None = None,
        precision_plugin: Precision | None = None,
        ddp_comm_state: object | None = None,
        ddp_comm_hook: Callable[..., Any] | None = None,
        ddp_comm_wrapper: Callable[..., Any] | None = None,
        model_averaging_period: int | None = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = default_pg_timeout,
        start_method: str = "popen",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            accelerator=accelerator,
            parallel_devices=parallel_devices,
            cluster_environment=cluster_environment,
            checkpoint_io=checkpoint_io,
            precision_plugin=precision_plugin,
            process_group_backend=process_group_backend,
            timeout=timeout,
            start_method=start_method,
        )
        self._forward_redirection = _DDPForwardRedirection()
        self._ddp_kwargs = kwargs
        self._ddp_comm_state = ddp_comm_state
        self._ddp_comm_hook = ddp_comm_hook
        self._ddp_comm_wrapper = ddp_comm_wrapper
        self._model_averaging_period = model_averaging_period
        self._model_averager: Any = None
        self._static_graph_delay_done = False

    # ------------------------------------------------------------------------------------------ set-up
    @override
    def setup_module(self, module: Module) -> Module:
        """Convert, move and wrap ``module`` in ``DistributedDataParallel`` (layer sync applied first, if set)."""
        if self._layer_sync is not None:
            if self._lightning_module is None:
                self.connect(module)
            synced = self._layer_sync.apply(module)
            if module is self._lightning_module:
                self._lightning_module = synced
            module = synced
        return super().setup_module(module)

    @override
    def _setup_model(self, model: Module) -> DistributedDataParallel:
        """Wrap ``model`` in ``DistributedDataParallel`` and register the communication hook, if any."""
        device_ids = self.determine_ddp_device_ids()
        log.debug(f"setting up DDP model with device ids: {device_ids}, kwargs: {self._ddp_kwargs}")
        ctx = torch.cuda.stream(torch.cuda.Stream()) if device_ids is not None else nullcontext()
        with ctx:
            wrapped = DistributedDataParallel(module=model, device_ids=device_ids, **self._ddp_kwargs)
        self._register_ddp_hooks(wrapped)
        return wrapped

    def configure_ddp(self) -> None:
        """Wrap the connected module (Lightning's name for :meth:`setup_module` without conversion)."""
        module = self._require_module("configure_ddp")
        self.model = self._setup_model(module)

    def _register_ddp_hooks(self, model: DistributedDataParallel) -> None:
        # communication hooks need NCCL and one device per process
        if self.root_device.type != "cuda" or self._ddp_comm_hook is None:
            return
        hook = self._ddp_comm_hook
        if self._ddp_comm_wrapper is not None:
            hook = self._ddp_comm_wrapper(hook)
        model.register_comm_hook(state=self._ddp_comm_state, hook=hook)

    # ------------------------------------------------------------------------------------------ backward sync
    def no_backward_sync(self, module: Module, enabled: bool = True) -> AbstractContextManager[Any]:
        """Skip the gradient all-reduce of backward passes inside the context when ``enabled``.

        Used while accumulating gradients: only the last micro-batch before the optimizer step synchronises.
        ``module`` is the wrapped model (or the module this strategy wrapped).

        Raises:
            TypeError: If ``module`` is not wrapped in ``DistributedDataParallel``.
        """
        if not enabled:
            return nullcontext()
        if isinstance(module, DistributedDataParallel):
            return module.no_sync()
        if isinstance(self._model, DistributedDataParallel) and self._model.module is module:
            return self._model.no_sync()
        raise TypeError(
            "Blocking backward sync is only possible if the module passed to"
            f" `{type(self).__name__}.no_backward_sync` is wrapped in `DistributedDataParallel`."
            f" Got: {type(module).__name__}. Call `strategy.setup_module(module)` first."
        )

    @override
    def pre_backward(self, closure_loss: Tensor) -> None:
        if not isinstance(self._model, DistributedDataParallel):
            return
        module = self._lightning_module
        if module is not None and not getattr(module, "automatic_optimization", True):
            _prepare_for_backward(self._model, closure_loss)

    @override
    def post_backward(self, closure_loss: Tensor) -> None:
        # the first backward of a static graph in manual optimization must flush the delayed all-reduce
        model = self._model
        module = self._lightning_module
        if not isinstance(model, DistributedDataParallel) or module is None:
            return
        if getattr(module, "automatic_optimization", True) or not getattr(model, "static_graph", False):
            return
        if self._static_graph_delay_done:
            return
        model.reducer._delay_all_reduce()
        self._static_graph_delay_done = True

    @override
    def optimizer_step(
        self, optimizer: Optimizer, closure: Callable[[], Any], model: Module | None = None, **kwargs: Any
    ) -> Any:
        output = super().optimizer_step(optimizer, closure, model, **kwargs)
        if self._ddp_comm_state is not None and _is_post_local_sgd_state(self._ddp_comm_state):
            averager = self._get_model_averager(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            averager.average_parameters(iter(params))
        return output

    def _get_model_averager(self, optimizer: Optimizer) -> Any:
        if self._model_averager is None:
            if self._model_averaging_period is None:
                raise ValueError(
                    "Post-localSGD algorithm is used, but model averaging period is not provided to DDP strategy."
                    " Pass `DDPStrategy(model_averaging_period=...)`."
                )
            from torch.distributed.algorithms.model_averaging.averagers import PeriodicModelAverager
            from torch.distributed.optim import PostLocalSGDOptimizer, ZeroRedundancyOptimizer

            inner = getattr(optimizer, "_optimizer", optimizer)
            if isinstance(inner, (ZeroRedundancyOptimizer, PostLocalSGDOptimizer)):
                raise ValueError(
                    "Currently model averaging cannot work with a distributed optimizer of type"
                    f" {type(inner).__name__}."
                )
            self._model_averager = PeriodicModelAverager(
                period=self._model_averaging_period,
                warmup_steps=getattr(self._ddp_comm_state, "start_localSGD_iter", 0),
            )
        return self._model_averager

    # ------------------------------------------------------------------------------------------ lifecycle
    @override
    def on_exception(self, exception: BaseException) -> None:
        _augment_message(
            exception,
            ".*Expected to have finished reduction in the prior iteration.*",
            _UNUSED_PARAMETERS_HINT,
        )

    @override
    def teardown(self) -> None:
        """Unwrap the module (and revert layer sync), then tear down like every strategy."""
        log.debug(f"{type(self).__name__}: tearing down strategy")
        if isinstance(self._model, DistributedDataParallel):
            model = self._model
            if not model.static_graph and model._get_ddp_logging_data().get("can_set_static_graph"):
                rank_zero_info(
                    "Your model can run with static graph optimizations. For future training runs, we suggest you"
                    f" pass `Trainer(..., strategy={type(self).__name__}(static_graph=True))` to enable them."
                )
            self._model = self._lightning_module
        if self._layer_sync is not None and self._lightning_module is not None:
            self._lightning_module = self._layer_sync.revert(self._lightning_module)
            self._model = self._lightning_module
        super().teardown()

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        for name, start_method in (
            ("ddp", "popen"),
            ("ddp_spawn", "spawn"),
            ("ddp_fork", "fork"),
            ("ddp_notebook", "fork"),
        ):
            strategy_registry.register(
                name,
                cls,
                description=f"DDP strategy with `start_method` '{start_method}'",
                start_method=start_method,
            )
        for prefix, start_method in (
            ("ddp", "popen"),
            ("ddp_spawn", "spawn"),
            ("ddp_fork", "fork"),
            ("ddp_notebook", "fork"),
        ):
            for find_unused in (False, True):
                strategy_registry.register(
                    f"{prefix}_find_unused_parameters_{str(find_unused).lower()}",
                    cls,
                    description=(
                        f"DDP strategy with `find_unused_parameters` as {find_unused} and `start_method`"
                        f" '{start_method}'"
                    ),
                    find_unused_parameters=find_unused,
                    start_method=start_method,
                )

    @override
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(start_method={self._start_method!r}, num_processes={self.num_processes},"
            f" process_group_backend={self._process_group_backend!r})"
        )
