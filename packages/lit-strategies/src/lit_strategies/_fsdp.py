"""Fully sharded data parallel training with FSDP2 (``torch.distributed.fsdp.fully_shard``)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Generator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer
from typing_extensions import override

from lit_hooks import rank_zero_warn
from lit_strategies._checkpoint_io import _split_protocol
from lit_strategies._distributed import default_pg_timeout
from lit_strategies._process_group import _ProcessGroupStrategy
from lit_strategies._strategy import _EmptyInit, _unwrap_optimizer

if TYPE_CHECKING:
    from lit_hooks import Registry
    from lit_precision import Precision
    from lit_strategies._accelerators import Accelerator
    from lit_strategies._checkpoint_io import CheckpointIO
    from lit_strategies._environments import ClusterEnvironment
    from lit_strategies._strategy import Strategy

__all__ = ["FSDPStrategy"]

log = logging.getLogger(__name__)

_SHARDING_STRATEGIES = ("FULL_SHARD", "SHARD_GRAD_OP")
_STATE_DICT_TYPES = ("full", "sharded")
_METADATA_FILENAME = "meta.pt"

_Policy = set[type[Module]] | type[Module] | list[type[Module]] | Callable[[Module], bool]


def _as_predicate(policy: _Policy | None, argument: str) -> Callable[[Module], bool] | None:
    """Turn a set/list of layer classes or a predicate into a predicate on modules."""
    if policy is None:
        return None
    if isinstance(policy, type) and issubclass(policy, Module):
        classes: tuple[type[Module], ...] = (policy,)
    elif isinstance(policy, (set, frozenset, list, tuple)):
        classes = tuple(policy)
        if not all(isinstance(c, type) and issubclass(c, Module) for c in classes):
            raise TypeError(
                f"`{argument}` must hold `nn.Module` subclasses (e.g. `{{nn.TransformerEncoderLayer}}`), but got"
                f" {policy!r}."
            )
    elif callable(policy):
        return policy  # type: ignore[return-value]
    else:
        raise TypeError(
            f"`{argument}={policy!r}` is not supported. Pass a set of layer classes (e.g. `{{nn.Linear}}`) or a"
            " function `module -> bool`."
        )
    return lambda module: isinstance(module, classes)


def _has_meta_tensors(module: Module) -> bool:
    return any(t.is_meta for t in module.parameters()) or any(t.is_meta for t in module.buffers())


def _is_sharded_checkpoint(path: Path) -> bool:
    return path.is_dir() and (path / _METADATA_FILENAME).is_file()


class FSDPStrategy(_ProcessGroupStrategy):
    """Fully sharded data parallel training on FSDP2 (``torch.distributed.fsdp.fully_shard``).

    Each process keeps only a shard of every parameter, gradient and optimizer state (as ``DTensor`` s); layers
    are all-gathered just in time for forward and backward. Layers selected by ``auto_wrap_policy`` are sharded as
    separate units (then the root module), which bounds the memory of one all-gather. Works on CPU with ``gloo``
    and on CUDA with ``nccl``. Create optimizers *after* :meth:`setup_module`: sharding replaces the parameters.
    Implements the :class:`lit_hooks.Sharded` and :class:`lit_hooks.BackwardSyncControl` capabilities. Registered
    as ``fsdp`` and ``fsdp_cpu_offload``.

    Checkpoints are full state dicts written by rank zero (``state_dict_type="full"``, loadable without FSDP), or
    a directory of per-rank shards written with ``torch.distributed.checkpoint`` plus a ``meta.pt`` file with the
    rest of the checkpoint (``"sharded"``).

    Args:
        accelerator: The accelerator; set by the Trainer when ``None``.
        parallel_devices: The device of each process on this node.
        cluster_environment: Ranks and rendezvous address.
        checkpoint_io: How full checkpoints are written and read.
        precision_plugin: The precision. ``"bf16-true"``/``"16-true"`` convert the module before sharding; mixed
            precision runs the forward pass under autocast.
        process_group_backend: ``"gloo"``, ``"nccl"``...; chosen from the device type when ``None``.
        timeout: How long collectives wait for other processes before failing.
        cpu_offload: ``True`` (or a ``CPUOffloadPolicy``) keeps sharded parameters on CPU between uses (CUDA runs).
        mixed_precision: An FSDP2 ``MixedPrecisionPolicy`` (e.g. bfloat16 parameters, float32 reductions).
        auto_wrap_policy: Layer classes (a set, list or one class) or a predicate ``module -> bool`` selecting the
            sub-modules sharded as their own units.
        activation_checkpointing_policy: Layer classes (or a predicate) whose activations are recomputed in backward.
        sharding_strategy: ``"FULL_SHARD"`` (free gathered parameters after forward) or ``"SHARD_GRAD_OP"`` (keep
            them until backward).
        state_dict_type: ``"full"`` or ``"sharded"``, the checkpoint format (see above).
        start_method: ``"popen"`` (default), ``"spawn"``, ``"fork"`` or ``"forkserver"``.
        **kwargs: Passed to ``fully_shard`` (e.g. ``mesh``).

    Raises:
        ValueError: For an unknown ``sharding_strategy`` or ``state_dict_type``.
        TypeError: For a malformed policy.
    """

    def __init__(
        self,
        accelerator: Accelerator | None = None,
        parallel_devices: list[torch.device] | None = None,
        cluster_environment: ClusterEnvironment | None = None,
        checkpoint_io: CheckpointIO | None = None,
        precision_plugin: Precision | None = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = default_pg_timeout,
        cpu_offload: Any = None,
        mixed_precision: Any = None,
        auto_wrap_policy: _Policy | None = None,
        activation_checkpointing_policy: _Policy | None = None,
        sharding_strategy: str = "FULL_SHARD",
        state_dict_type: str = "full",
        start_method: str = "popen",
        **kwargs: Any,
    ) -> None:
        if sharding_strategy not in _SHARDING_STRATEGIES:
            raise ValueError(
                f"`{type(self).__name__}(sharding_strategy={sharding_strategy!r})` is not supported. Choose"
                f" {_SHARDING_STRATEGIES[0]!r} (reshard parameters after forward) or {_SHARDING_STRATEGIES[1]!r}"
                " (keep them gathered until backward)."
            )
        if state_dict_type not in _STATE_DICT_TYPES:
            raise ValueError(
                f"`{type(self).__name__}(state_dict_type={state_dict_type!r})` is not supported. Choose 'full' (one"
                " file written by rank zero) or 'sharded' (a directory with one shard per rank)."
            )
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
        self.cpu_offload = cpu_offload
        self.mixed_precision = mixed_precision
        self._auto_wrap_predicate = _as_predicate(auto_wrap_policy, "auto_wrap_policy")
        self._checkpointing_predicate = _as_predicate(
            activation_checkpointing_policy, "activation_checkpointing_policy"
        )
        self.sharding_strategy = sharding_strategy
        self._state_dict_type = state_dict_type
        self._fsdp_kwargs = kwargs
        self._is_set_up = False

    # ------------------------------------------------------------------------------------------ capabilities
    @property
    def is_sharded(self) -> bool:
        """Whether :meth:`setup_module` sharded the module."""
        return self._is_set_up

    @contextmanager
    def module_sharded_context(self) -> Generator[None, None, None]:
        """Instantiate modules without allocating their weights (on the ``meta`` device, in the precision's dtype).

        :meth:`setup_module` shards such a module first, then allocates only the local shards on the device and
        calls each layer's ``reset_parameters()``.
        """
        with torch.device("meta"), self.precision_plugin.module_init_context():
            yield

    @override
    @contextmanager
    def model_sharded_context(self) -> Generator[None, None, None]:
        with self.module_sharded_context():
            yield

    @override
    @contextmanager
    def tensor_init_context(self, empty_init: bool | None = None) -> Generator[None, None, None]:
        """Create tensors in the precision's dtype; with ``empty_init`` on the ``meta`` device (materialised later)."""
        device_context: AbstractContextManager[Any] = torch.device("meta") if empty_init else nullcontext()
        with (
            _EmptyInit(enabled=bool(empty_init)),
            device_context,
            self.precision_plugin.tensor_init_context(),
        ):
            yield

    def no_backward_sync(self, module: Module, enabled: bool = True) -> AbstractContextManager[Any]:
        """Skip the gradient reduce-scatter of backward passes inside the context when ``enabled``.

        Raises:
            TypeError: If ``module`` was not sharded by this strategy.
        """
        if not enabled:
            return nullcontext()
        if not hasattr(module, "set_requires_gradient_sync"):
            raise TypeError(
                "Blocking backward sync is only possible if the module passed to"
                f" `{type(self).__name__}.no_backward_sync` was sharded with FSDP. Got: {type(module).__name__}."
                " Call `strategy.setup_module(module)` first."
            )
        return _no_gradient_sync(module)

    @property
    @override
    def restore_checkpoint_after_setup(self) -> bool:
        return True

    # ------------------------------------------------------------------------------------------ set-up
    @override
    def setup_module(self, module: Module) -> Module:
        """Convert to the precision's dtype, apply activation checkpointing, shard and move ``module``.

        The module is sharded in place (``fully_shard`` keeps its class and names), so the returned module is also
        :attr:`lightning_module`.
        """
        from torch.distributed.fsdp import fully_shard

        if self._lightning_module is None:
            self.connect(module)
        converted = self.precision_plugin.convert_module(module)
        if module is self._lightning_module:
            self._lightning_module = converted
        module = converted
        if self._checkpointing_predicate is not None:
            _apply_activation_checkpointing(module, self._checkpointing_predicate)
        materialize = _has_meta_tensors(module)
        if not materialize:
            module.to(self.root_device)
        kwargs = self._fully_shard_kwargs()
        if self._auto_wrap_predicate is not None:
            # inner units first, then the root; ``modules()`` is parents-first, so walk it backwards
            for child in reversed(list(module.modules())):
                if child is not module and self._auto_wrap_predicate(child):
                    fully_shard(child, **kwargs)
        fully_shard(module, **kwargs)
        if materialize:
            _materialize(module, self.root_device)
        self._model = module
        self._is_set_up = True
        return module

    def _fully_shard_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"reshard_after_forward": self.sharding_strategy == "FULL_SHARD"}
        if self.mixed_precision is not None:
            kwargs["mp_policy"] = self.mixed_precision
        if self.cpu_offload:
            from torch.distributed.fsdp import CPUOffloadPolicy

            kwargs["offload_policy"] = (
                self.cpu_offload if not isinstance(self.cpu_offload, bool) else CPUOffloadPolicy()
            )
        kwargs.update(self._fsdp_kwargs)
        return kwargs

    @override
    def model_to_device(self) -> None:
        # sharded parameters are placed by ``fully_shard``; only unsharded modules are moved
        if self.model is not None and not self._is_set_up:
            self.model.to(self.root_device)

    @override
    def _setup_optimizer(self, optimizer: Optimizer) -> Optimizer:
        model = self._model
        if model is None or not self._is_set_up:
            raise RuntimeError(
                f"`{type(self).__name__}.setup_optimizer` needs a sharded module: call `strategy.setup_module(model)`"
                " first, then create the optimizer from the returned module's parameters."
            )
        sharded = {id(p) for p in model.parameters()}
        params = [p for group in _unwrap_optimizer(optimizer).param_groups for p in group["params"]]
        if params and not any(id(p) in sharded for p in params):
            raise ValueError(
                "The optimizer does not reference any parameter of the sharded module: it was created before"
                f" `{type(self).__name__}.setup_module` replaced the parameters by their shards. Create the optimizer"
                " after `setup_module`, from `model.parameters()`."
            )
        return optimizer

    # ------------------------------------------------------------------------------------------ steps
    @override
    def _step(self, method_name: str, context: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        module = self._lightning_module
        if module is None or not self._is_set_up:
            return super()._step(method_name, context, args, kwargs)
        # go through the module's own ``__call__`` so FSDP's forward hooks gather the root's parameters even when
        # the step method never calls ``self(...)``
        with context:
            return self._forward_redirection(module, module, method_name, *args, **kwargs)

    @override
    def clip_gradients_norm(
        self,
        module: Module,
        optimizer: Optimizer,
        max_norm: float,
        norm_type: float = 2.0,
        error_if_nonfinite: bool = True,
    ) -> Tensor:
        """Clip by the global norm over all shards (every rank must call this)."""
        self.precision_plugin.unscale_gradients(optimizer)
        parameters = [p for p in self.precision_plugin.main_params(optimizer) if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(
            parameters, max_norm=max_norm, norm_type=norm_type, error_if_nonfinite=error_if_nonfinite
        )
        return norm.full_tensor() if hasattr(norm, "full_tensor") else norm

    # ------------------------------------------------------------------------------------------ state
    def _state_dict_options(self, full: bool) -> Any:
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=full, cpu_offload=full)

    @override
    def lightning_module_state_dict(self) -> dict[str, Any]:
        """The model state dict: gathered on rank zero (empty on other ranks) for ``"full"``, local shards
        (``DTensor`` s) for ``"sharded"``. Every rank must call it."""
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        model = self._require_module("lightning_module_state_dict")
        if not self._is_set_up:
            return model.state_dict()
        return get_model_state_dict(model, options=self._state_dict_options(self._state_dict_type == "full"))

    @override
    def optimizer_state(self, optimizer: Optimizer) -> dict[str, Any]:
        """The optimizer state; for ``"full"`` gathered on rank zero and keyed by parameter index like a plain
        ``optimizer.state_dict()``. Every rank must call it."""
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        optimizer = _unwrap_optimizer(optimizer)
        model = self._model
        if model is None or not self._is_set_up:
            return optimizer.state_dict()
        full = self._state_dict_type == "full"
        state = get_optimizer_state_dict(model, optimizer, options=self._state_dict_options(full))
        if not full:
            return state
        if not self.is_global_zero:
            return {}
        return _fqn_to_index_keys(state, model, optimizer)

    @override
    def load_model_state_dict(self, checkpoint: Mapping[str, Any], strict: bool = True) -> None:
        """Load a full model state dict (present on every rank) into the sharded module."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        model = self._require_module("load_model_state_dict")
        state_dict = checkpoint["state_dict"]
        if not self._is_set_up:
            model.load_state_dict(state_dict, strict=strict)
            return
        if not state_dict and self._loaded_sharded:
            return  # a sharded checkpoint was already loaded in place by ``load_checkpoint``
        set_model_state_dict(model, state_dict, options=StateDictOptions(full_state_dict=True, strict=strict))

    @override
    def load_optimizer_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        """Load full optimizer states (keyed by parameter index, present on every rank) into the sharded
        optimizers."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        states = checkpoint["optimizer_states"]
        if self._loaded_sharded and not any(states):
            return
        if len(states) != len(self._optimizers):
            raise ValueError(
                f"The checkpoint holds {len(states)} optimizer state(s) but {len(self._optimizers)} optimizer(s) are"
                " set up. Configure the same optimizers as the run that wrote the checkpoint."
            )
        model = self._model
        for optimizer, state in zip(self._optimizers, states):
            optimizer = _unwrap_optimizer(optimizer)
            if model is None or not self._is_set_up:
                optimizer.load_state_dict(state)
                continue
            fqn_state = _index_to_fqn_keys(state, model, optimizer)
            set_optimizer_state_dict(
                model, optimizer, optim_state_dict=fqn_state, options=StateDictOptions(full_state_dict=True)
            )

    _loaded_sharded = False

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None
    ) -> None:
        """Write a full checkpoint file on rank zero, or a sharded checkpoint directory from every rank."""
        if self._state_dict_type == "full":
            super().save_checkpoint(checkpoint, filepath, storage_options=storage_options)
            return
        if storage_options is not None:
            raise TypeError(
                f"`{type(self).__name__}.save_checkpoint(..., storage_options=...)` is not supported with"
                " `state_dict_type='sharded'`, which writes through `torch.distributed.checkpoint`."
            )
        import torch.distributed.checkpoint as dcp

        protocol, local = _split_protocol(self.broadcast(filepath))
        if protocol is not None:
            raise ValueError(f"Sharded FSDP checkpoints need a local or shared directory, got {filepath!r}.")
        path = Path(local)
        if self.is_global_zero and path.is_file():
            path.unlink()
        self.barrier()
        rest = dict(checkpoint)
        shards: dict[str, Any] = {"model": rest.pop("state_dict")}
        for index, state in enumerate(rest.pop("optimizer_states", [])):
            shards[f"optimizer_{index}"] = state
        dcp.save(shards, checkpoint_id=path)
        if self.is_global_zero:
            torch.save(rest, path / _METADATA_FILENAME)
        self.barrier()

    @override
    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        """Read a checkpoint: a full file through the checkpoint I/O, or a sharded directory loaded in place into
        the set-up module and optimizers (its ``state_dict``/``optimizer_states`` entries are then empty)."""
        protocol, local = _split_protocol(self.broadcast(checkpoint_path))
        path = Path(local)
        if protocol is not None or not _is_sharded_checkpoint(path):
            self._loaded_sharded = False
            return super().load_checkpoint(checkpoint_path, weights_only=weights_only)
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

        model = self._require_module("load_checkpoint")
        if not self._is_set_up:
            raise RuntimeError(
                f"The sharded checkpoint {str(path)!r} can only be loaded into a module set up with"
                f" `{type(self).__name__}.setup_module`."
            )
        options = self._state_dict_options(False)
        model_state = model.state_dict()
        shards: dict[str, Any] = {"model": model_state}
        optimizers = [_unwrap_optimizer(o) for o in self._optimizers]
        for index, optimizer in enumerate(optimizers):
            shards[f"optimizer_{index}"] = get_optimizer_state_dict(model, optimizer, options=options)
        dcp.load(shards, checkpoint_id=path)
        model.load_state_dict(shards["model"])
        for index, optimizer in enumerate(optimizers):
            set_optimizer_state_dict(
                model, optimizer, optim_state_dict=shards[f"optimizer_{index}"], options=options
            )
        metadata = torch.load(
            path / _METADATA_FILENAME, map_location="cpu", weights_only=weights_only is not False
        )
        metadata["state_dict"] = {}
        metadata["optimizer_states"] = [{} for _ in optimizers]
        self._loaded_sharded = True
        return metadata

    @override
    def remove_checkpoint(self, filepath: Any) -> None:
        protocol, local = _split_protocol(filepath)
        if protocol is None and _is_sharded_checkpoint(Path(local)):
            if self.is_global_zero:
                shutil.rmtree(local)
            return
        super().remove_checkpoint(filepath)

    @override
    def teardown(self) -> None:
        self._is_set_up = False
        super().teardown()

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Registry[Strategy]) -> None:
        strategy_registry.register("fsdp", cls, description="Fully Sharded Data Parallel (FSDP) training")
        strategy_registry.register(
            "fsdp_cpu_offload",
            cls,
            description="Fully Sharded Data Parallel (FSDP) training with Full Sharding and CPU Offloading",
            cpu_offload=True,
        )

    @override
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(sharding_strategy={self.sharding_strategy!r},"
            f" state_dict_type={self._state_dict_type!r}, num_processes={self.num_processes})"
        )


@contextmanager
def _no_gradient_sync(module: Any) -> Generator[None, None, None]:
    module.set_requires_gradient_sync(False)
    try:
        yield
    finally:
        module.set_requires_gradient_sync(True)


def _apply_activation_checkpointing(module: Module, predicate: Callable[[Module], bool]) -> None:
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import apply_activation_checkpointing

    apply_activation_checkpointing(module, check_fn=predicate)


def _materialize(module: Module, device: torch.device) -> None:
    """Allocate the (sharded) parameters of a module built on the ``meta`` device and initialise them."""
    module.to_empty(device=device)
    with torch.no_grad():
        for submodule in module.modules():
            reset = getattr(submodule, "reset_parameters", None)
            if callable(reset):
                reset()
            elif any(True for _ in submodule.parameters(recurse=False)):
                rank_zero_warn(
                    f"`{type(submodule).__name__}` was created on the meta device but has no `reset_parameters()`:"
                    " its parameters stay uninitialised. Define `reset_parameters()` or load a checkpoint."
                )


def _parameter_names(model: Module, optimizer: Optimizer) -> list[list[str]]:
    """The name of every parameter of every optimizer group, in the optimizer's order."""
    name_of = {id(p): name for name, p in model.named_parameters()}
    return [[name_of[id(p)] for p in group["params"]] for group in optimizer.param_groups]


def _fqn_to_index_keys(state: dict[str, Any], model: Module, optimizer: Optimizer) -> dict[str, Any]:
    """Re-key a full optimizer state dict from parameter names to indices (the plain ``Optimizer`` format)."""
    group_names = _parameter_names(model, optimizer)
    index_of: dict[str, int] = {}
    for names in group_names:
        for name in names:
            index_of.setdefault(name, len(index_of))
    groups = []
    for group, names in zip(state["param_groups"], group_names):
        new_group = dict(group)
        new_group["params"] = [index_of[name] for name in names]
        groups.append(new_group)
    return {
        "state": {index_of[k]: v for k, v in state["state"].items() if k in index_of},
        "param_groups": groups,
    }


def _index_to_fqn_keys(state: Mapping[str, Any], model: Module, optimizer: Optimizer) -> dict[str, Any]:
    """The inverse of :func:`_fqn_to_index_keys`, using the optimizer's parameter order."""
    names = [name for group_names in _parameter_names(model, optimizer) for name in group_names]
    groups = []
    for group in state["param_groups"]:
        new_group = dict(group)
        new_group["params"] = [names[i] if isinstance(i, int) else i for i in group["params"]]
        groups.append(new_group)
    states = {(names[k] if isinstance(k, int) else k): v for k, v in state["state"].items()}
    return {"state": states, "param_groups": groups}
