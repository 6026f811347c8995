"""Process launchers: re-run the script for each local rank (``popen``) or start workers with multiprocessing."""

from __future__ import annotations

import io
import itertools
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.multiprocessing as mp
from torch.nn import Module

from lit_hooks import apply_to_collection, rank_prefixed_message
from lit_strategies._distributed import _collect_rng_states, _set_num_threads_if_needed, _set_rng_states

if TYPE_CHECKING:
    from lit_strategies._environments import ClusterEnvironment
    from lit_strategies._parallel import ParallelStrategy

__all__ = ["_MultiProcessingLauncher", "_SubprocessScriptLauncher"]

log = logging.getLogger(__name__)


# -------------------------------------------------------------------------------------------------- popen
class _SubprocessScriptLauncher:
    """Start the processes of one node by running the current script again for local ranks ``1..N-1``.

    The process that calls :meth:`launch` becomes local rank 0. Each child gets a copy of the environment with
    ``LOCAL_RANK`` set, plus ``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK`` and ``WORLD_SIZE`` from the cluster
    environment, and runs ``python <script> <args>`` (or ``python -m <module> <args>``) like ``torchrun`` would. A
    watchdog thread kills every process of the node if a child exits with an error, so a failed rank never leaves
    the others hanging in a collective. When the environment already created the processes (``torchrun``, SLURM,
    or ``LOCAL_RANK`` set by the user), nothing is started.

    Args:
        cluster_environment: Provides ranks and the rendezvous address.
        num_processes: Processes to run on this node.
        num_nodes: Nodes taking part in the job.
    """

    def __init__(self, cluster_environment: ClusterEnvironment, num_processes: int, num_nodes: int) -> None:
        self.cluster_environment = cluster_environment
        self.num_processes = num_processes
        self.num_nodes = num_nodes
        self.procs: list[subprocess.Popen[Any]] = []

    @property
    def is_interactive_compatible(self) -> bool:
        """``False``: a notebook cannot be re-run as a script."""
        return False

    def launch(
        self, function: Callable[..., Any], *args: Any, trainer: Any | None = None, **kwargs: Any
    ) -> Any:
        """Start the child processes (if needed), then run ``function(*args, **kwargs)`` in this process."""
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            _launch_process_observer(self.procs)
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)

    def kill(self, signum: int) -> None:
        """Send ``signum`` to the child processes that are still running."""
        for proc in self.procs:
            if proc.poll() is None:
                log.debug(f"Process {os.getpid()} is terminating {proc.pid} with {signum}")
                with suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def _call_children_scripts(self) -> None:
        if self.procs:
            raise RuntimeError("The launcher can only create subprocesses once.")
        if self.cluster_environment.local_rank() != 0:
            raise RuntimeError(
                "lit attempted to launch new distributed processes with `local_rank > 0`. This should not happen."
                " Possible reasons: 1) the LOCAL_RANK environment variable was incorrectly modified by the user,"
                " 2) `ClusterEnvironment.creates_processes_externally` is incorrectly implemented."
            )
        os.environ["MASTER_ADDR"] = self.cluster_environment.main_address
        os.environ["MASTER_PORT"] = str(self.cluster_environment.main_port)
        os.environ["NODE_RANK"] = str(self.cluster_environment.node_rank())
        os.environ["LOCAL_RANK"] = str(self.cluster_environment.local_rank())
        os.environ["WORLD_SIZE"] = f"{self.num_processes * self.num_nodes}"
        command = _basic_subprocess_cmd()
        for local_rank in range(1, self.num_processes):
            env = os.environ.copy()
            env["LOCAL_RANK"] = f"{local_rank}"
            self.procs.append(subprocess.Popen(command, env=env))


def _basic_subprocess_cmd() -> Sequence[str]:
    import __main__  # pants: no-infer-dep  (the running script, imported here to see its final state)

    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        return [sys.executable, os.path.abspath(sys.argv[0]), *sys.argv[1:]]
    return [sys.executable, "-m", spec.name, *sys.argv[1:]]


def _launch_process_observer(child_processes: list[subprocess.Popen[Any]]) -> None:
    _ChildProcessObserver(main_pid=os.getpid(), child_processes=child_processes).start()


class _ChildProcessObserver(threading.Thread):
    """Watches the child processes; if one exits with an error, kills the others and the main process."""

    def __init__(
        self, main_pid: int, child_processes: list[subprocess.Popen[Any]], sleep_period: float = 5
    ) -> None:
        super().__init__(daemon=True, name="child-process-observer")
        self._main_pid = main_pid
        self._child_processes = child_processes
        self._sleep_period = sleep_period
        # SIGTERM does not end processes blocked in a collective
        self._termination_signal = signal.SIGTERM if sys.platform == "win32" else signal.SIGKILL
        self._finished = False

    def run(self) -> None:
        while not self._finished:
            time.sleep(self._sleep_period)
            self._finished = self._run()

    def _run(self) -> bool:
        """Check the children once; ``True`` when there is nothing left to watch."""
        for proc in self._child_processes:
            proc.poll()
        return_codes = [proc.returncode for proc in self._child_processes]
        if all(code == 0 for code in return_codes):
            return True
        for i, proc in enumerate(self._child_processes):
            if proc.returncode:
                log.info(
                    rank_prefixed_message(
                        f"Child process with PID {proc.pid} terminated with code {proc.returncode}."
                        " Forcefully terminating all other processes to avoid zombies.",
                        rank=i + 1,
                    )
                )
                self._terminate_all()
                return True
        return False

    def _terminate_all(self) -> None:
        for proc in self._child_processes:
            with suppress(ProcessLookupError):
                proc.send_signal(self._termination_signal)
        os.kill(self._main_pid, self._termination_signal)


# -------------------------------------------------------------------------------------------------- spawn / fork
class _WorkerOutput(NamedTuple):
    best_model_path: str | None
    weights_path: str | None
    trainer_state: Any
    trainer_results: Any
    extra: dict[str, Any]


@dataclass
class _GlobalStateSnapshot:
    """Global torch settings and RNG states copied from the main process into spawned workers."""

    use_deterministic_algorithms: bool
    use_deterministic_algorithms_warn_only: bool
    cudnn_benchmark: bool
    rng_states: dict[str, Any]

    @classmethod
    def capture(cls) -> _GlobalStateSnapshot:
        return cls(
            use_deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
            use_deterministic_algorithms_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            rng_states=_collect_rng_states(),
        )

    def restore(self) -> None:
        torch.use_deterministic_algorithms(
            self.use_deterministic_algorithms, warn_only=self.use_deterministic_algorithms_warn_only
        )
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        _set_rng_states(self.rng_states)


def _unshare_module(module: Module) -> Module:
    # spawned CPU workers receive parameters in shared memory: give each worker its own copy
    with torch.no_grad():
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            tensor.data = tensor.data.clone()
    return module


def _disable_module_memory_sharing(data: Any) -> Any:
    return apply_to_collection(data, Module, _unshare_module)


def _check_bad_cuda_fork() -> None:
    if not torch.cuda.is_initialized():
        return
    message = (
        "Cannot re-initialize CUDA in forked subprocess. To use CUDA with multiprocessing, you must use the 'spawn'"
        " start method, or make sure CUDA is not used in the main process before the processes are started."
    )
    if mp.current_process().name == "MainProcess" and "ipykernel" in sys.modules:
        message += " In a notebook, restart the kernel and avoid CUDA calls before `fit`."
    raise RuntimeError(message)


def _check_missing_main_guard() -> None:
    if not getattr(mp.current_process(), "_inheriting", False):
        return
    raise RuntimeError(
        "You are using the `spawn` start method, but your script is not guarded with"
        " `if __name__ == '__main__':`. Put the code that starts training under that guard, or use"
        " `strategy='ddp'` (start method 'popen')."
    )


def _to_bytes(data: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return buffer.getvalue()


def _from_bytes(data: bytes) -> Any:
    # written by our own worker process a moment ago; it may hold any picklable result
    return torch.load(io.BytesIO(data), weights_only=False)


def _to_cpu(data: Any) -> Any:
    return apply_to_collection(data, torch.Tensor, lambda t: t.cpu())


class _MultiProcessingLauncher:
    """Start ``num_processes`` workers with ``torch.multiprocessing`` (``spawn``, ``fork`` or ``forkserver``).

    Each worker gets ``LOCAL_RANK`` set and runs ``function(*args, **kwargs)``; :meth:`launch` waits for all of them
    and returns worker 0's result. A worker that raises makes :meth:`launch` raise in the main process. With
    ``spawn`` the arguments must be picklable and the script must be guarded by ``if __name__ == "__main__"``.
    When a trainer-like object is passed as ``trainer``, worker 0 also sends back its final weights, state,
    best checkpoint path and ``callback_metrics``, which are restored on the main process's trainer.

    Args:
        strategy: The strategy whose :attr:`num_processes` and cluster environment are used.
        start_method: ``"spawn"`` (default), ``"fork"`` or ``"forkserver"``.

    Raises:
        ValueError: If the start method is not available on this platform.
    """

    def __init__(self, strategy: ParallelStrategy, start_method: str = "spawn") -> None:
        self._strategy = strategy
        self._start_method = start_method
        if start_method not in mp.get_all_start_methods():
            raise ValueError(
                f"The start method '{start_method}' is not available on this platform. Available methods are:"
                f" {', '.join(mp.get_all_start_methods())}"
            )
        self.procs: list[Any] = []
        self._already_fit = False

    @property
    def is_interactive_compatible(self) -> bool:
        """Only ``fork`` works in notebooks."""
        return self._start_method == "fork"

    def launch(
        self, function: Callable[..., Any], *args: Any, trainer: Any | None = None, **kwargs: Any
    ) -> Any:
        """Run ``function(*args, **kwargs)`` in every worker and return worker 0's result."""
        if self._start_method in ("fork", "forkserver"):
            _check_bad_cuda_fork()
        if self._start_method == "spawn":
            _check_missing_main_guard()
        if self._already_fit and trainer is not None and _is_fitting(trainer):
            raise NotImplementedError(
                "Calling `trainer.fit()` twice on the same Trainer instance using a spawn-based strategy is not"
                " supported. You can work around this limitation by creating a new Trainer instance and passing the"
                " `fit(ckpt_path=...)` argument."
            )
        environment = self._strategy.cluster_environment
        if environment is None:
            raise RuntimeError(
                f"`{type(self._strategy).__name__}` has no cluster environment: set"
                " `strategy.cluster_environment = LightningEnvironment()` before launching."
            )
        # choose the port once, in the main process, so that every worker connects to the same one
        os.environ["MASTER_PORT"] = str(environment.main_port)
        context = mp.get_context(self._start_method)
        return_queue = context.SimpleQueue()
        process_args: list[Any] = [trainer, function, args, kwargs, return_queue]
        if self._start_method == "spawn":
            process_args.append(_GlobalStateSnapshot.capture())
        process_context = mp.start_processes(
            self._wrapping_function,
            args=tuple(process_args),
            nprocs=self._strategy.num_processes,
            start_method=self._start_method,
            join=False,
        )
        self.procs = process_context.processes
        while not process_context.join():
            pass
        worker_output = _from_bytes(return_queue.get())
        if trainer is None:
            return worker_output
        self._already_fit |= _is_fitting(trainer)
        self._recover_results_in_main_process(worker_output, trainer)
        return worker_output.trainer_results

    def _wrapping_function(
        self,
        process_idx: int,
        trainer: Any | None,
        function: Callable[..., Any],
        args: Any,
        kwargs: Any,
        return_queue: Any,
        global_states: _GlobalStateSnapshot | None = None,
    ) -> None:
        if global_states is not None:
            global_states.restore()
        if self._start_method == "spawn" and _runs_on_cpu(self._strategy):
            args, kwargs = _disable_module_memory_sharing((args, kwargs))
        _set_num_threads_if_needed(num_processes=self._strategy.num_processes)
        os.environ["LOCAL_RANK"] = str(process_idx)
        results = function(*args, **kwargs)
        if trainer is not None:
            results = self._collect_rank_zero_results(trainer, results)
        if process_idx == 0:
            # as bytes: shared-memory tensors would need the worker alive when the main process reads them
            return_queue.put(_to_bytes(_to_cpu(results)))

    def _collect_rank_zero_results(self, trainer: Any, results: Any) -> _WorkerOutput | None:
        checkpoint_callback = getattr(trainer, "checkpoint_callback", None)
        best_model_path = (
            getattr(checkpoint_callback, "best_model_path", None) if checkpoint_callback else None
        )
        # every rank computes the state dict (metrics may synchronise), rank zero sends it
        state_dict = trainer.lightning_module.state_dict()
        if self._strategy.local_rank != 0:
            return None
        weights_path = None
        if _is_fitting(trainer):
            # a fresh directory avoids races on filesystems shared between nodes
            weights_path = os.path.join(tempfile.mkdtemp(), ".temp.ckpt")
            self._strategy.checkpoint_io.save_checkpoint(state_dict, weights_path)
        return _WorkerOutput(
            best_model_path, weights_path, trainer.state, results, self.get_extra_results(trainer)
        )

    def get_extra_results(self, trainer: Any) -> dict[str, Any]:
        """Extra trainer state sent to the main process; tensors travel as bytes to avoid memory sharing."""
        metrics = _to_cpu(dict(getattr(trainer, "callback_metrics", {}) or {}))
        buffer = io.BytesIO()
        torch.save(metrics, buffer)
        return {"callback_metrics_bytes": buffer.getvalue()}

    def update_main_process_results(self, trainer: Any, extra: dict[str, Any]) -> None:
        """Restore what :meth:`get_extra_results` collected onto the main process's trainer."""
        metrics = torch.load(io.BytesIO(extra["callback_metrics_bytes"]), weights_only=True)
        callback_metrics = getattr(trainer, "callback_metrics", None)
        if callback_metrics is not None:
            callback_metrics.update(metrics)

    def _recover_results_in_main_process(self, worker_output: _WorkerOutput, trainer: Any) -> None:
        checkpoint_callback = getattr(trainer, "checkpoint_callback", None)
        if checkpoint_callback is not None and hasattr(checkpoint_callback, "best_model_path"):
            checkpoint_callback.best_model_path = str(worker_output.best_model_path)
        if worker_output.weights_path is not None:
            state_dict = self._strategy.checkpoint_io.load_checkpoint(worker_output.weights_path)
            # not strict: the workers may have changed the module's layers
            trainer.lightning_module.load_state_dict(state_dict, strict=False)
            self._strategy.checkpoint_io.remove_checkpoint(worker_output.weights_path)
        with suppress(AttributeError):
            trainer.state = worker_output.trainer_state
        self.update_main_process_results(trainer, worker_output.extra)

    def kill(self, signum: int) -> None:
        """Send ``signum`` to the workers that are still alive."""
        for proc in self.procs:
            if proc.is_alive() and proc.pid is not None:
                log.debug(f"Process {os.getpid()} is terminating {proc.pid} with {signum}")
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signum)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["procs"] = []  # process handles cannot be pickled
        return state


def _is_fitting(trainer: Any) -> bool:
    fn = getattr(getattr(trainer, "state", None), "fn", None)
    return str(getattr(fn, "value", fn)) == "fit"


def _runs_on_cpu(strategy: Any) -> bool:
    devices = getattr(strategy, "parallel_devices", None)
    if devices:
        return all(torch.device(d).type == "cpu" for d in devices)
    accelerator = getattr(strategy, "accelerator", None)
    return accelerator is None or type(accelerator).__name__ == "CPUAccelerator"
