"""lit-strategies: accelerators, strategies, cluster environments, launchers and checkpoint I/O.

A strategy decides where a model runs and how it is wrapped (one device, DDP, FSDP), composes an accelerator, a
precision plugin from ``lit-precision`` and a checkpoint I/O, and implements :class:`lit_hooks.StrategyProtocol`
so loops can drive it without knowing its class. Everything also works in a hand-written training loop. Heavy
optional back-ends (``torch.distributed.fsdp``, DeepSpeed, torch_xla, mpi4py, fsspec, psutil) are imported only
when used.
"""

from __future__ import annotations

import sys

from lit_hooks import register_classes
from lit_strategies._accelerators import (
    Accelerator,
    CPUAccelerator,
    CUDAAccelerator,
    MPSAccelerator,
    XLAAccelerator,
    find_usable_cuda_devices,
)
from lit_strategies._checkpoint_io import (
    AsyncCheckpointIO,
    CheckpointIO,
    CheckpointLoadError,
    TorchCheckpointIO,
)
from lit_strategies._ddp import DDPStrategy
from lit_strategies._deepspeed import DeepSpeedStrategy
from lit_strategies._distributed import ReduceOp, default_pg_timeout
from lit_strategies._environments import (
    ClusterEnvironment,
    KubeflowEnvironment,
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
    XLAEnvironment,
    find_free_network_port,
)
from lit_strategies._fsdp import FSDPStrategy
from lit_strategies._launchers import _MultiProcessingLauncher, _SubprocessScriptLauncher
from lit_strategies._layer_sync import LayerSync, TorchSyncBatchNorm
from lit_strategies._parallel import ParallelStrategy
from lit_strategies._registry import ACCELERATOR_REGISTRY, STRATEGY_REGISTRY
from lit_strategies._single_device import SingleDeviceStrategy
from lit_strategies._strategy import Strategy
from lit_strategies._xla import SingleDeviceXLAStrategy, XLAStrategy

__all__ = [
    "ACCELERATOR_REGISTRY",
    "STRATEGY_REGISTRY",
    "Accelerator",
    "AsyncCheckpointIO",
    "CPUAccelerator",
    "CUDAAccelerator",
    "CheckpointIO",
    "CheckpointLoadError",
    "ClusterEnvironment",
    "DDPStrategy",
    "DeepSpeedStrategy",
    "FSDPStrategy",
    "KubeflowEnvironment",
    "LSFEnvironment",
    "LayerSync",
    "LightningEnvironment",
    "MPIEnvironment",
    "MPSAccelerator",
    "ParallelStrategy",
    "ReduceOp",
    "SLURMEnvironment",
    "SingleDeviceStrategy",
    "SingleDeviceXLAStrategy",
    "Strategy",
    "TorchCheckpointIO",
    "TorchElasticEnvironment",
    "TorchSyncBatchNorm",
    "XLAAccelerator",
    "XLAEnvironment",
    "XLAStrategy",
    "_MultiProcessingLauncher",
    "_SubprocessScriptLauncher",
    "default_pg_timeout",
    "find_free_network_port",
    "find_usable_cuda_devices",
]

register_classes(STRATEGY_REGISTRY, "register_strategies", sys.modules[__name__], Strategy)
register_classes(ACCELERATOR_REGISTRY, "register_accelerators", sys.modules[__name__], Accelerator)
