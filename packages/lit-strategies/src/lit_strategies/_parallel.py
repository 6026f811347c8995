"""Base class of strategies that run several processes in parallel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from typing_extensions import override

from lit_strategies._distributed import ReduceOp, _all_gather_ddp_if_available
from lit_strategies._strategy import Strategy

if TYPE_CHECKING:
    from lit_precision import Precision
    from lit_strategies._accelerators import Accelerator
    from lit_strategies._checkpoint_io import CheckpointIO
    from lit_strategies._environments import ClusterEnvironment
    from lit_strategies._layer_sync import LayerSync

__all__ = ["ParallelStrategy"]


class ParallelStrategy(Strategy, ABC):
    """Base class of multi-process strategies; ranks and world size come from the cluster environment.

    Args:
        accelerator: The accelerator; set by the Trainer when ``None``.
        parallel_devices: The device of each process on this node, e.g. ``[torch.device("cpu")] * 2``.
        cluster_environment: Where this process sits in the job (ranks, rendezvous address).
        checkpoint_io: How checkpoints are written and read.
        precision_plugin: The precision; full precision when ``None``.
    """

    def __init__(
        self,
        accelerator: Accelerator | None = None,
        parallel_devices: list[torch.device] | None = None,
        cluster_environment: ClusterEnvironment | None = None,
        checkpoint_io: CheckpointIO | None = None,
        precision_plugin: Precision | None = None,
    ) -> None:
        super().__init__(
            accelerator=accelerator, checkpoint_io=checkpoint_io, precision_plugin=precision_plugin
        )
        self.parallel_devices = parallel_devices
        self.cluster_environment: ClusterEnvironment | None = cluster_environment
        self._layer_sync: LayerSync | None = None

    @property
    @abstractmethod
    @override
    def root_device(self) -> torch.device:
        """The device of this process."""

    @property
    @override
    def global_rank(self) -> int:
        return self.cluster_environment.global_rank() if self.cluster_environment is not None else 0

    @property
    @override
    def local_rank(self) -> int:
        return self.cluster_environment.local_rank() if self.cluster_environment is not None else 0

    @property
    @override
    def node_rank(self) -> int:
        return self.cluster_environment.node_rank() if self.cluster_environment is not None else 0

    @property
    @override
    def world_size(self) -> int:
        return self.cluster_environment.world_size() if self.cluster_environment is not None else 1

    @property
    @override
    def is_global_zero(self) -> bool:
        return self.global_rank == 0

    @property
    def parallel_devices(self) -> list[torch.device] | None:
        return self._parallel_devices

    @parallel_devices.setter
    def parallel_devices(self, parallel_devices: list[torch.device] | None) -> None:
        self._parallel_devices = parallel_devices

    @property
    @override
    def distributed_sampler_kwargs(self) -> dict[str, Any] | None:
        return {
            "num_replicas": len(self.parallel_devices) if self.parallel_devices is not None else 0,
            "rank": self.global_rank,
        }

    @override
    def all_gather(self, tensor: Tensor, group: Any | None = None, sync_grads: bool = False) -> Tensor:
        """Gather ``tensor`` from all processes into a ``(world_size, *tensor.shape)`` tensor."""
        return _all_gather_ddp_if_available(tensor, group=group, sync_grads=sync_grads)

    @override
    def reduce_boolean_decision(self, decision: bool, all: bool = True) -> bool:
        """``True`` if every rank decided ``True`` (``all=True``) or if any rank did (``all=False``)."""
        count = torch.tensor(int(decision), device=self.root_device)
        count = self.reduce(count, reduce_op=ReduceOp.SUM)
        return bool(count == self.world_size) if all else bool(count)

    @contextmanager
    def block_backward_sync(self) -> Generator[None, None, None]:
        """Skip the gradient synchronisation of backward passes inside the context (for accumulation)."""
        if isinstance(self.model, DistributedDataParallel):
            with self.model.no_sync():
                yield
        else:
            yield

    @override
    def teardown(self) -> None:
        if self.cluster_environment is not None:
            self.cluster_environment.teardown()
        super().teardown()
