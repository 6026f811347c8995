"""Test fakes implementing the ``lit_hooks`` protocols on one CPU process.

They are real enough to train a small model (real ``backward``, real ``optimizer.step``) and record what they
were asked to do, so package tests can check behaviour without any concrete strategy, precision or logger:

* :class:`FakeStrategy`: a plain fp32 single-device :class:`~lit_hooks.StrategyProtocol`.
* :class:`FakeDeepSpeedStrategy`: owns loss scaling, gradient accumulation and stepping like a DeepSpeed engine.
* :class:`FakeShardedStrategy`: FSDP-shaped; implements :class:`~lit_hooks.Sharded` and
  :class:`~lit_hooks.BackwardSyncControl` and keeps the parameters as views of one flat buffer.
* :class:`FakePrecision`, :class:`FakeCheckpointIO`, :class:`RecordingCallback`, :class:`RecordingLogger`.

This module is not imported by ``import lit_hooks``.
"""

from __future__ import annotations

import inspect
import os
from argparse import Namespace
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor
from torch.nn import Module
from torch.optim import Optimizer

from lit_hooks._callback import CALLBACK_HOOK_NAMES, Callback
from lit_hooks._module_hooks import _move_to_device

__all__ = [
    "FakeCheckpointIO",
    "FakeDeepSpeedStrategy",
    "FakePrecision",
    "FakeShardedStrategy",
    "FakeStrategy",
    "RecordingCallback",
    "RecordingLogger",
    "docstring_example_modules",
    "run_docstring_examples",
]


class FakePrecision:
    """``"32-true"`` precision: no conversion, no autocast, no loss scaling.

    ``backward`` goes through the module's ``backward(loss, *args, **kwargs)`` hook when the module defines one,
    like Lightning's precision plugins; otherwise it calls ``tensor.backward``. Gradient clipping is real.
    """

    precision: str = "32-true"

    def __init__(self) -> None:
        self.backward_calls = 0
        self.optimizer_step_calls = 0
        self.clip_calls: list[tuple[float, str]] = []

    def convert_module(self, module: Module) -> Module:
        return module

    def convert_input(self, data: Any) -> Any:
        return data

    def convert_output(self, data: Any) -> Any:
        return data

    def tensor_init_context(self) -> nullcontext[None]:
        return nullcontext()

    def module_init_context(self) -> nullcontext[None]:
        return nullcontext()

    def forward_context(self) -> nullcontext[None]:
        return nullcontext()

    def train_step_context(self) -> nullcontext[None]:
        return nullcontext()

    def val_step_context(self) -> nullcontext[None]:
        return nullcontext()

    def test_step_context(self) -> nullcontext[None]:
        return nullcontext()

    def predict_step_context(self) -> nullcontext[None]:
        return nullcontext()

    def pre_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        return tensor

    def backward(
        self, tensor: Tensor, model: Module | None, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> None:
        self.backward_calls += 1
        hook = getattr(model, "backward", None) if model is not None else None
        if callable(hook):
            hook(tensor, *args, **kwargs)
        else:
            tensor.backward(*args, **kwargs)

    def post_backward(self, tensor: Tensor, module: Module | None) -> Tensor:
        return tensor

    def optimizer_step(
        self, optimizer: Optimizer, model: Module | None, closure: Callable[[], Any], **kwargs: Any
    ) -> Any:
        self.optimizer_step_calls += 1
        return optimizer.step(closure=closure, **kwargs)

    def unscale_gradients(self, optimizer: Optimizer) -> None:
        return None

    def clip_gradients(
        self, module: Module | None, optimizer: Optimizer, clip_val: float, gradient_clip_algorithm: str
    ) -> None:
        if clip_val <= 0:
            return
        self.clip_calls.append((clip_val, str(gradient_clip_algorithm)))
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if gradient_clip_algorithm == "value":
            torch.nn.utils.clip_grad_value_(params, clip_val)
        elif gradient_clip_algorithm == "norm":
            torch.nn.utils.clip_grad_norm_(params, clip_val)
        else:
            raise ValueError(
                f"`gradient_clip_algorithm={gradient_clip_algorithm!r}` is not supported. Use 'norm' or 'value'."
            )

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        return None

    def teardown(self) -> None:
        return None


class FakeCheckpointIO:
    """``torch.save``/``torch.load`` checkpoint I/O with an atomic write (temporary file, flush, rename)."""

    def __init__(self) -> None:
        self.saved: list[str] = []
        self.removed: list[str] = []

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"`FakeCheckpointIO.save_checkpoint` takes no `storage_options`, but got {storage_options!r}."
            )
        path = os.fspath(path)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        tmp_path = f"{path}.tmp"
        with open(tmp_path, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
        self.saved.append(path)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Checkpoint file not found: {path!r}")
        return torch.load(
            path, map_location=map_location, weights_only=True if weights_only is None else weights_only
        )

    def remove_checkpoint(self, path: Any) -> None:
        path = os.fspath(path)
        if os.path.exists(path):
            os.remove(path)
        self.removed.append(path)

    def teardown(self) -> None:
        return None


class FakeStrategy:
    """A complete single-process implementation of :class:`~lit_hooks.StrategyProtocol` (fp32, no wrapper).

    Collectives are identities (``all_gather`` returns the tensor unchanged, like a single-device strategy),
    ``barrier`` only records its name, checkpoints go through :class:`FakeCheckpointIO`.

    Args:
        device: The root device.
        precision_plugin: Defaults to a new :class:`FakePrecision`.
        checkpoint_io: Defaults to a new :class:`FakeCheckpointIO`.

    Attributes:
        optimizers: The optimizers passed to :meth:`setup_optimizer`, in order.
        backward_calls: Number of :meth:`backward` calls.
        optimizer_step_calls: Number of :meth:`optimizer_step` calls.
        barriers: Names passed to :meth:`barrier`.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        precision_plugin: FakePrecision | None = None,
        checkpoint_io: FakeCheckpointIO | None = None,
    ) -> None:
        self._root_device = torch.device(device)
        self._precision_plugin = precision_plugin if precision_plugin is not None else FakePrecision()
        self._checkpoint_io = checkpoint_io if checkpoint_io is not None else FakeCheckpointIO()
        self._lightning_module: Any = None
        self._model: Module | None = None
        self.optimizers: list[Optimizer] = []
        self.backward_calls = 0
        self.optimizer_step_calls = 0
        self.barriers: list[str | None] = []
        self.environment_ready = False
        self.torn_down = False

    # ----------------------------------------------------------------------------------------- properties
    @property
    def root_device(self) -> torch.device:
        return self._root_device

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
    def is_global_zero(self) -> bool:
        return True

    @property
    def precision_plugin(self) -> FakePrecision:
        return self._precision_plugin

    @property
    def checkpoint_io(self) -> FakeCheckpointIO:
        return self._checkpoint_io

    @property
    def model(self) -> Module | None:
        return self._model

    @property
    def lightning_module(self) -> Any:
        return self._lightning_module

    @property
    def distributed_sampler_kwargs(self) -> dict[str, Any] | None:
        return None

    @property
    def handles_gradient_accumulation(self) -> bool:
        return False

    @property
    def restore_checkpoint_after_setup(self) -> bool:
        return False

    @property
    def lightning_restore_optimizer(self) -> bool:
        return True

    # ----------------------------------------------------------------------------------------- set-up
    def setup_environment(self) -> None:
        self.environment_ready = True

    def connect(self, module: Any) -> None:
        self._lightning_module = module
        self._model = module

    def setup_module(self, module: Module) -> Module:
        module = self._precision_plugin.convert_module(module)
        module = module.to(self._root_device)
        if self._lightning_module is None:
            self._lightning_module = module
        self._model = module
        return module

    def setup_optimizer(self, optimizer: Optimizer) -> Optimizer:
        self.optimizers.append(optimizer)
        return optimizer

    def model_to_device(self) -> None:
        if self._model is not None:
            self._model.to(self._root_device)

    def batch_to_device(self, batch: Any, device: torch.device | None = None, dataloader_idx: int = 0) -> Any:
        device = device if device is not None else self._root_device
        module = self._lightning_module
        before = getattr(module, "on_before_batch_transfer", None)
        transfer = getattr(module, "transfer_batch_to_device", None)
        after = getattr(module, "on_after_batch_transfer", None)
        if callable(before):
            batch = before(batch, dataloader_idx)
        batch = (
            transfer(batch, device, dataloader_idx) if callable(transfer) else _move_to_device(batch, device)
        )
        if callable(after):
            batch = after(batch, dataloader_idx)
        return batch

    # ----------------------------------------------------------------------------------------- steps
    def _run_step(self, name: str, *args: Any, **kwargs: Any) -> Any:
        module = self._lightning_module
        if module is None:
            raise RuntimeError(
                f"`{type(self).__name__}.{name}` needs a module: call `connect(module)` first."
            )
        return getattr(module, name)(*args, **kwargs)

    def training_step(self, *args: Any, **kwargs: Any) -> Any:
        with self._precision_plugin.train_step_context():
            return self._run_step("training_step", *args, **kwargs)

    def validation_step(self, *args: Any, **kwargs: Any) -> Any:
        with self._precision_plugin.val_step_context():
            return self._run_step("validation_step", *args, **kwargs)

    def test_step(self, *args: Any, **kwargs: Any) -> Any:
        with self._precision_plugin.test_step_context():
            return self._run_step("test_step", *args, **kwargs)

    def predict_step(self, *args: Any, **kwargs: Any) -> Any:
        with self._precision_plugin.predict_step_context():
            return self._run_step("predict_step", *args, **kwargs)

    def backward(
        self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        self.backward_calls += 1
        module = self._lightning_module
        loss = self._precision_plugin.pre_backward(closure_loss, module)
        self._precision_plugin.backward(loss, module, optimizer, *args, **kwargs)
        return self._precision_plugin.post_backward(loss, module)

    def optimizer_step(
        self, optimizer: Optimizer, closure: Callable[[], Any], model: Module | None = None, **kwargs: Any
    ) -> Any:
        self.optimizer_step_calls += 1
        model = model if model is not None else self._lightning_module
        return self._precision_plugin.optimizer_step(optimizer, model, closure, **kwargs)

    # ----------------------------------------------------------------------------------------- collectives
    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: str | None = "mean") -> Any:
        return tensor

    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        return decision

    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        return tensor

    def broadcast(self, obj: Any, src: int = 0) -> Any:
        return obj

    def barrier(self, name: str | None = None) -> None:
        self.barriers.append(name)

    # ----------------------------------------------------------------------------------------- state
    def lightning_module_state_dict(self) -> dict[str, Any]:
        return self._lightning_module.state_dict()

    def optimizer_state(self, optimizer: Optimizer) -> dict[str, Any]:
        return optimizer.state_dict()

    def load_model_state_dict(self, checkpoint: Mapping[str, Any], strict: bool = True) -> None:
        self._lightning_module.load_state_dict(checkpoint["state_dict"], strict=strict)

    def load_optimizer_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        states = checkpoint["optimizer_states"]
        if len(states) != len(self.optimizers):
            raise ValueError(
                f"The checkpoint holds {len(states)} optimizer states but {len(self.optimizers)} optimizers are set"
                " up. Configure the same optimizers as the run that wrote the checkpoint."
            )
        for optimizer, state in zip(self.optimizers, states):
            optimizer.load_state_dict(state)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any | None = None
    ) -> None:
        if self.is_global_zero:
            self._checkpoint_io.save_checkpoint(checkpoint, filepath, storage_options=storage_options)

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        return self._checkpoint_io.load_checkpoint(
            checkpoint_path, map_location="cpu", weights_only=weights_only
        )

    def remove_checkpoint(self, filepath: Any) -> None:
        if self.is_global_zero:
            self._checkpoint_io.remove_checkpoint(filepath)

    # ----------------------------------------------------------------------------------------- contexts
    @contextmanager
    def tensor_init_context(self, empty_init: bool | None = None) -> Iterator[None]:
        with ExitStack() as stack:
            stack.enter_context(self._root_device)
            stack.enter_context(self._precision_plugin.tensor_init_context())
            yield

    def model_sharded_context(self) -> Any:
        return nullcontext()

    def teardown(self) -> None:
        self._precision_plugin.teardown()
        self._checkpoint_io.teardown()
        self.torn_down = True


class FakeDeepSpeedStrategy(FakeStrategy):
    """A strategy that, like a DeepSpeed engine, owns loss scaling, gradient accumulation and stepping.

    The loop calls :meth:`optimizer_step` on every batch with the raw loss (see the accumulation contract of
    :class:`~lit_hooks.StrategyProtocol`). :meth:`backward` divides the loss by ``gradient_accumulation_steps``;
    :meth:`optimizer_step` runs the closure and really steps (then zeroes the gradients) only on every
    ``gradient_accumulation_steps``-th micro-batch.

    Args:
        gradient_accumulation_steps: Micro-batches per optimizer step.
        **kwargs: Forwarded to :class:`FakeStrategy`.

    Attributes:
        micro_steps: Number of :meth:`optimizer_step` calls (micro-batches).
        engine_steps: Number of real optimizer steps.
    """

    def __init__(self, gradient_accumulation_steps: int = 1, **kwargs: Any) -> None:
        if not isinstance(gradient_accumulation_steps, int) or gradient_accumulation_steps < 1:
            raise ValueError(
                f"`gradient_accumulation_steps` must be a positive int, but got {gradient_accumulation_steps!r}."
            )
        super().__init__(**kwargs)
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.micro_steps = 0
        self.engine_steps = 0

    @property
    def handles_gradient_accumulation(self) -> bool:
        return True

    @property
    def restore_checkpoint_after_setup(self) -> bool:
        return True

    @property
    def lightning_restore_optimizer(self) -> bool:
        return False

    def is_gradient_accumulation_boundary(self) -> bool:
        """Whether the next micro-batch completes an accumulation window (the engine will step after it)."""
        return (self.micro_steps + 1) % self.gradient_accumulation_steps == 0

    def backward(
        self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        self.backward_calls += 1
        scaled = closure_loss / self.gradient_accumulation_steps
        self._precision_plugin.backward(scaled, None, optimizer, *args, **kwargs)
        return closure_loss

    def optimizer_step(
        self, optimizer: Optimizer, closure: Callable[[], Any], model: Module | None = None, **kwargs: Any
    ) -> Any:
        self.optimizer_step_calls += 1
        result = closure()
        self.micro_steps += 1
        if self.micro_steps % self.gradient_accumulation_steps == 0:
            optimizer.step(**kwargs)
            optimizer.zero_grad()
            self.engine_steps += 1
        return result

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> dict[str, Any]:
        checkpoint = super().load_checkpoint(checkpoint_path, weights_only=weights_only)
        if self.optimizers and "optimizer_states" in checkpoint:
            super().load_optimizer_state_dict(checkpoint)  # the engine restores its optimizer itself
        return checkpoint


class FakeShardedStrategy(FakeStrategy):
    """An FSDP-shaped strategy: :class:`~lit_hooks.Sharded` and :class:`~lit_hooks.BackwardSyncControl`.

    :meth:`setup_module` moves every parameter into one flat buffer per dtype (the parameters become views of
    it, like FSDP's flat parameters); :meth:`lightning_module_state_dict` returns a gathered full state dict
    (independent copies). :meth:`no_backward_sync` records the number of ``backward`` calls made before each
    entry into :attr:`no_sync_entries`, so tests can see on which batches gradient sync was skipped.

    Attributes:
        flat_params: The flat buffers, by dtype.
        shard_metadata: ``(name, shape, offset, numel)`` of every parameter in its flat buffer.
        no_sync_entries: ``backward_calls`` at each ``no_backward_sync(..., enabled=True)`` entry.
        synced_backward_calls: Backward calls outside ``no_backward_sync``.
        unsynced_backward_calls: Backward calls inside ``no_backward_sync``.
        sharded_contexts: Number of entries into :meth:`module_sharded_context`.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flat_params: dict[torch.dtype, Tensor] = {}
        self.shard_metadata: list[tuple[str, tuple[int, ...], int, int]] = []
        self.no_sync_entries: list[int] = []
        self.synced_backward_calls = 0
        self.unsynced_backward_calls = 0
        self.sharded_contexts = 0
        self._sync_disabled = False

    @property
    def is_sharded(self) -> bool:
        return bool(self.flat_params)

    def setup_module(self, module: Module) -> Module:
        module = super().setup_module(module)
        named = list(module.named_parameters())
        sizes: dict[torch.dtype, int] = {}
        for _, param in named:
            sizes[param.dtype] = sizes.get(param.dtype, 0) + param.numel()
        self.flat_params = {
            dtype: torch.empty(size, dtype=dtype, device=self._root_device) for dtype, size in sizes.items()
        }
        offsets = dict.fromkeys(sizes, 0)
        self.shard_metadata = []
        with torch.no_grad():
            for name, param in named:
                offset, numel = offsets[param.dtype], param.numel()
                view = self.flat_params[param.dtype][offset : offset + numel]
                view.copy_(param.reshape(-1))
                param.data = view.view(param.shape)
                self.shard_metadata.append((name, tuple(param.shape), offset, numel))
                offsets[param.dtype] = offset + numel
        return module

    @contextmanager
    def module_sharded_context(self) -> Iterator[None]:
        self.sharded_contexts += 1
        yield

    def model_sharded_context(self) -> Any:
        return self.module_sharded_context()

    @contextmanager
    def no_backward_sync(self, module: Module, enabled: bool) -> Iterator[None]:
        if not enabled:
            yield
            return
        self.no_sync_entries.append(self.backward_calls)
        previous, self._sync_disabled = self._sync_disabled, True
        try:
            yield
        finally:
            self._sync_disabled = previous

    def backward(
        self, closure_loss: Tensor, optimizer: Optimizer | None, *args: Any, **kwargs: Any
    ) -> Tensor:
        if self._sync_disabled:
            self.unsynced_backward_calls += 1
        else:
            self.synced_backward_calls += 1
        return super().backward(closure_loss, optimizer, *args, **kwargs)

    def lightning_module_state_dict(self) -> dict[str, Any]:
        return {key: value.detach().clone() for key, value in self._lightning_module.state_dict().items()}


_SKIPPED_ARGS = frozenset({"self", "trainer", "pl_module"})


class RecordingCallback(Callback):
    """A callback recording every hook call as ``(hook_name, arguments)`` in :attr:`calls`.

    The recorded arguments are the hook's own arguments by name (``trainer`` and ``pl_module`` left out, defaults
    filled in), e.g. ``("on_train_batch_end", {"outputs": ..., "batch": ..., "batch_idx": 0})``. ``state_dict``
    and ``load_state_dict`` are recorded too.

    Example:
        >>> cb = RecordingCallback()
        >>> cb.on_validation_batch_start(None, None, batch="b", batch_idx=3)
        >>> cb.calls
        [('on_validation_batch_start', {'batch': 'b', 'batch_idx': 3, 'dataloader_idx': 0})]
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    @property
    def hook_names(self) -> list[str]:
        """The names of the recorded calls, in order."""
        return [name for name, _ in self.calls]

    def state_dict(self) -> dict[str, Any]:
        self.calls.append(("state_dict", {}))
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.calls.append(("load_state_dict", {"state_dict": state_dict}))


def _make_recorder(name: str) -> Callable[..., None]:
    signature = inspect.signature(getattr(Callback, name))

    def hook(self: RecordingCallback, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        self.calls.append((name, {k: v for k, v in bound.arguments.items() if k not in _SKIPPED_ARGS}))

    hook.__name__ = name
    hook.__qualname__ = f"RecordingCallback.{name}"
    hook.__doc__ = f"Record a call of ``{name}``."
    hook.__signature__ = signature  # type: ignore[attr-defined]
    return hook


for _hook_name in CALLBACK_HOOK_NAMES:
    setattr(RecordingCallback, _hook_name, _make_recorder(_hook_name))
del _hook_name


class RecordingLogger:
    """A :class:`~lit_hooks.LoggerProtocol` keeping everything in memory.

    Args:
        save_dir: Reported as :attr:`save_dir` (nothing is written).
        name: Experiment name.
        version: Experiment version; ints give ``version_<n>`` log directories.

    Attributes:
        metrics: ``(step, metrics)`` for every :meth:`log_metrics` call.
        hparams: Hyper-parameters merged from every :meth:`log_hyperparams` call.
        hparams_calls: Number of :meth:`log_hyperparams` calls.
        graphs: Class names of the models passed to :meth:`log_graph`.
        saved: Number of :meth:`save` calls.
        finalized: The status passed to the last :meth:`finalize` call (``None`` before).
        checkpoint_callbacks: The callbacks passed to :meth:`after_save_checkpoint`.
    """

    def __init__(self, save_dir: str | None = None, name: str = "recording", version: int | str = 0) -> None:
        self._save_dir = save_dir
        self._name = name
        self._version = version
        self.metrics: list[tuple[int | None, dict[str, Any]]] = []
        self.hparams: dict[str, Any] = {}
        self.hparams_calls = 0
        self.graphs: list[str] = []
        self.saved = 0
        self.finalized: str | None = None
        self.checkpoint_callbacks: list[Any] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | str:
        return self._version

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    @property
    def root_dir(self) -> str | None:
        return None if self._save_dir is None else os.path.join(self._save_dir, self._name)

    @property
    def log_dir(self) -> str | None:
        if self.root_dir is None:
            return None
        version = self._version if isinstance(self._version, str) else f"version_{self._version}"
        return os.path.join(self.root_dir, version)

    @property
    def group_separator(self) -> str:
        return "/"

    @property
    def experiment(self) -> RecordingLogger:
        return self

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self.metrics.append((step, dict(metrics)))

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.hparams_calls += 1
        if isinstance(params, Namespace):
            params = vars(params)
        self.hparams.update(dict(params))

    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:
        self.graphs.append(type(model).__name__)

    def save(self) -> None:
        self.saved += 1

    def finalize(self, status: str) -> None:
        self.finalized = status

    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self.checkpoint_callbacks.append(checkpoint_callback)


def docstring_example_modules(package: str) -> list[str]:
    """The importable modules of ``package`` (the package itself first), for running their doctests.

    Example:
        >>> docstring_example_modules("lit_hooks")[:2]
        ['lit_hooks', 'lit_hooks._callback']
    """
    import importlib
    import pkgutil

    root = importlib.import_module(package)
    names = sorted(
        info.name
        for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix=f"{package}.")
        if not info.name.endswith("__main__")
    )
    return [package, *names]


def run_docstring_examples(module_name: str) -> int:
    """Runs the docstring examples of one module and returns how many there were.

    Raises:
        AssertionError: when an example fails; the message names the module and the failures.
    """
    import doctest
    import importlib

    from lit_hooks._rank_zero import rank_zero_only

    module = importlib.import_module(module_name)
    # examples may set process-wide state (a rank, environment variables): restore it afterwards
    rank, environ = getattr(rank_zero_only, "rank", 0), dict(os.environ)
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        rank_zero_only.rank = rank  # type: ignore[attr-defined]
        os.environ.clear()
        os.environ.update(environ)
    if result.failed:
        raise AssertionError(f"{result.failed} docstring example(s) failed in {module_name}")
    return result.attempted
