"""The public API of `lit_strategies` is pinned: changing it must be deliberate (update this list)."""

from __future__ import annotations

import lit_strategies

EXPECTED = [
    "ACCELERATOR_REGISTRY",
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
    "STRATEGY_REGISTRY",
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


def test_public_api_is_pinned() -> None:
    assert sorted(lit_strategies.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in EXPECTED:
        assert getattr(lit_strategies, name) is not None, name
