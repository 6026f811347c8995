"""Shared base of strategies that start a ``torch.distributed`` process group (DDP, FSDP)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from typing_extensions import override

from lit_hooks import rank_zero_only
from lit_strategies._distributed import (
    _distributed_is_initialized,
    _get_default_process_group_backend_for_device,
    _init_dist_connection,
    _reset_seed,
    _sync_ddp_if_available,
    default_pg_timeout,
)
from lit_strategies._launchers import _MultiProcessingLauncher, _SubprocessScriptLauncher
from lit_strategies._parallel import ParallelStrategy
from lit_strategies._strategy import TBroadcast

if TYPE_CHECKING:
    from lit_precision import Precision
    from lit_strategies._accelerators import Accelerator
    from lit_strategies._checkpoint_io import CheckpointIO
    from lit_strategies._environments import ClusterEnvironment

__all__: list[str] = []

_START_METHODS = ("popen", "spawn", "fork", "forkserver")


class _ProcessGroupStrategy(ParallelStrategy):
    """One process per device in a ``torch.distributed`` process group: ranks, launcher and collectives.

    Args:
        accelerator: The accelerator; set by the Trainer when ``None``.
        parallel_devices: The device of each process on this node.
        cluster_environment: Ranks and rendezvous address.
        checkpoint_io: How checkpoints are written and read.
        precision_plugin: The precision; full precision when ``None``.
        process_group_backend: ``"gloo"``, ``"nccl"``...; chosen from the device type when ``None``.
        timeout: How long collectives wait for other processes before failing.
        start_method: ``"popen"``, ``"spawn"``, ``"fork"`` or ``"forkserver"``.
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
        start_method: str = "popen",
    ) -> None:
        if start_method not in _START_METHODS:
            choices = ", ".join(repr(m) for m in _START_METHODS)
            raise ValueError(
                f"`{type(self).__name__}(start_method={start_method!r})` is not supported. Choose one of {choices}:"
                " 'popen' runs the script again for each local rank, the others use torch.multiprocessing."
            )
        super().__init__(
            accelerator=accelerator,
            parallel_devices=parallel_devices,
            cluster_environment=cluster_environment,
            checkpoint_io=checkpoint_io,
            precision_plugin=precision_plugin,
        )
        self._num_nodes = 1
        self._process_group_backend: str | None = process_group_backend
        self._timeout: timedelta | None = timeout
        self._start_method = start_method

    # ------------------------------------------------------------------------------------------ topology
    @property
    @override
    def root_device(self) -> torch.device:
        if not self.parallel_devices:
            raise RuntimeError(
                f"`{type(self).__name__}` has no `parallel_devices`. Pass the device of each process on this node,"
                f" e.g. `{type(self).__name__}(parallel_devices=[torch.device('cpu')] * 2)`."
            )
        return self.parallel_devices[self.local_rank]

    @property
    def num_nodes(self) -> int:
        return self._num_nodes

    @num_nodes.setter
    def num_nodes(self, num_nodes: int) -> None:
        self._num_nodes = num_nodes

    @property
    def num_processes(self) -> int:
        """Processes on this node (the number of parallel devices)."""
        return len(self.parallel_devices) if self.parallel_devices is not None else 0

    @property
    @override
    def distributed_sampler_kwargs(self) -> dict[str, Any]:
        return {"num_replicas": self.num_nodes * self.num_processes, "rank": self.global_rank}

    @property
    def process_group_backend(self) -> str | None:
        """The ``torch.distributed`` backend (known after :meth:`setup_environment` when not given)."""
        return self._process_group_backend

    @property
    @override
    def launcher(self) -> Any:
        if self._launcher is None and self.cluster_environment is not None:
            self._configure_launcher()
        return self._launcher

    @override
    def _configure_launcher(self) -> None:
        if self.cluster_environment is None:
            raise RuntimeError(
                f"`{type(self).__name__}` needs a cluster environment to configure its launcher."
            )
        if self._start_method == "popen":
            self._launcher = _SubprocessScriptLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes
            )
        else:
            self._launcher = _MultiProcessingLauncher(self, start_method=self._start_method)

    # ------------------------------------------------------------------------------------------ set-up
    @override
    def setup_environment(self) -> None:
        """Select this process's device and create the default process group."""
        super().setup_environment()
        self.setup_distributed()

    def setup_distributed(self) -> None:
        """Set the ranks in the cluster environment and initialise ``torch.distributed``."""
        _reset_seed()
        self.set_world_ranks()
        self._process_group_backend = self._get_process_group_backend()
        if self.cluster_environment is None:
            raise RuntimeError(
                f"`{type(self).__name__}` needs a cluster environment to start the process group, e.g."
                f" `{type(self).__name__}(cluster_environment=LightningEnvironment(), ...)`."
            )
        kwargs: dict[str, Any] = {"timeout": self._timeout}
        if self.root_device.type != "cpu":
            kwargs["device_id"] = self.root_device
        _init_dist_connection(self.cluster_environment, self._process_group_backend, **kwargs)

    def _get_process_group_backend(self) -> str:
        return self._process_group_backend or _get_default_process_group_backend_for_device(self.root_device)

    def set_world_ranks(self) -> None:
        """Tell the cluster environment this process's global rank and the world size."""
        if self.cluster_environment is not None:
            self.cluster_environment.set_global_rank(self.node_rank * self.num_processes + self.local_rank)
            self.cluster_environment.set_world_size(self.num_nodes * self.num_processes)
        rank_zero_only.rank = self.global_rank  # type: ignore[attr-defined]

    def determine_ddp_device_ids(self) -> list[int] | None:
        """``None`` on CPU, ``[index]`` of this process's GPU otherwise."""
        if self.root_device.type == "cpu":
            return None
        return [self.root_device.index]

    @override
    def model_to_device(self) -> None:
        if self.model is not None:
            self.model.to(self.root_device)

    # ------------------------------------------------------------------------------------------ collectives
    @override
    def barrier(self, name: str | None = None) -> None:
        if not _distributed_is_initialized():
            return
        if torch.distributed.get_backend() == "nccl":
            torch.distributed.barrier(device_ids=self.determine_ddp_device_ids())
        else:
            torch.distributed.barrier()

    @override
    def broadcast(self, obj: TBroadcast, src: int = 0) -> TBroadcast:
        if not _distributed_is_initialized():
            return obj
        container = [obj]
        torch.distributed.broadcast_object_list(container, src, group=torch.distributed.group.WORLD)
        return container[0]

    @override
    def reduce(self, tensor: Any, group: Any | None = None, reduce_op: Any | None = "mean") -> Any:
        """All-reduce a tensor in place (``"mean"`` by default, ``"sum"``, ``"max"``, ``"min"`` or a ``ReduceOp``).

        Non-tensors are returned unchanged; without a process group the tensor is returned as is.

        Raises:
            ValueError: If ``reduce_op`` is an unknown string.
        """
        if isinstance(tensor, Tensor):
            return _sync_ddp_if_available(tensor, group, reduce_op=reduce_op)
        return tensor
