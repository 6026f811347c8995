"""Thin helpers over ``torch.distributed``: process-group set-up, reductions, gathers and seeding."""

from __future__ import annotations

import atexit
import logging
import os
import random
import signal
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from lit_hooks import rank_zero_info

if TYPE_CHECKING:
    from lit_strategies._environments import ClusterEnvironment

__all__ = ["ReduceOp", "default_pg_timeout"]

log = logging.getLogger(__name__)

ReduceOp = torch.distributed.ReduceOp
default_pg_timeout: timedelta = timedelta(minutes=30)
"""The process-group timeout used when a strategy is given none (``torch.distributed``'s own default)."""

_REDUCE_OP_NAMES = ("mean", "avg", "sum", "max", "min", "product")


def _distributed_is_initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _resolve_reduce_op(reduce_op: Any, group: Any) -> tuple[Any, bool]:
    """The ``torch.distributed.ReduceOp`` to use, and whether the result must then be divided by the world size."""
    if reduce_op is None:
        return ReduceOp.SUM, False
    if not isinstance(reduce_op, str):
        return reduce_op, False
    name = reduce_op.lower()
    if name not in _REDUCE_OP_NAMES:
        choices = ", ".join(repr(n) for n in _REDUCE_OP_NAMES)
        raise ValueError(
            f"`reduce_op={reduce_op!r}` is not a reduction. Use one of {choices} or a"
            " `torch.distributed.ReduceOp`."
        )
    if name in ("mean", "avg"):
        if torch.distributed.get_backend(group) == "gloo":
            # gloo has no AVG: sum, then divide
            return ReduceOp.SUM, True
        return ReduceOp.AVG, False
    return getattr(ReduceOp, name.upper()), False


def _sync_ddp(result: Tensor, group: Any | None = None, reduce_op: Any = None) -> Tensor:
    """All-reduce ``result`` in place across the processes of ``group`` and return it."""
    group = torch.distributed.group.WORLD if group is None else group
    op, divide = _resolve_reduce_op(reduce_op, group)
    torch.distributed.all_reduce(result, op=op, group=group, async_op=False)
    if not divide:
        return result
    world_size = torch.distributed.get_world_size(group)
    if not torch.is_floating_point(result):
        return result.copy_(result / world_size)
    return result.div_(world_size)


def _sync_ddp_if_available(result: Tensor, group: Any | None = None, reduce_op: Any = None) -> Tensor:
    if _distributed_is_initialized():
        return _sync_ddp(result, group=group, reduce_op=reduce_op)
    return result


def _all_gather_ddp_if_available(
    tensor: Tensor, group: Any | None = None, sync_grads: bool = False
) -> Tensor:
    """Gather ``tensor`` from every process, stacked on a new leading dimension (as is without a process group)."""
    if not _distributed_is_initialized():
        return tensor
    tensor = tensor.contiguous()
    if sync_grads:
        from torch.distributed.nn.functional import all_gather

        return torch.stack(all_gather(tensor, group if group is not None else torch.distributed.group.WORLD))
    world_size = torch.distributed.get_world_size(group)
    gathered = [torch.empty_like(tensor) for _ in range(world_size)]
    with torch.no_grad():
        torch.distributed.all_gather(gathered, tensor, group=group)
    return torch.stack(gathered)


def _get_default_process_group_backend_for_device(device: torch.device) -> str:
    return torch.distributed.Backend.default_device_backend_map.get(device.type, "gloo")


def _init_dist_connection(
    cluster_environment: ClusterEnvironment,
    torch_distributed_backend: str,
    global_rank: int | None = None,
    world_size: int | None = None,
    **kwargs: Any,
) -> None:
    """Create the default process group from the environment's rank, world size and rendezvous address."""
    if not torch.distributed.is_available():
        raise RuntimeError("torch.distributed is not available. Cannot initialize distributed process group")
    if torch.distributed.is_initialized():
        log.debug("torch.distributed is already initialized. Exiting early")
        return
    global_rank = global_rank if global_rank is not None else cluster_environment.global_rank()
    world_size = world_size if world_size is not None else cluster_environment.world_size()
    os.environ["MASTER_ADDR"] = cluster_environment.main_address
    os.environ["MASTER_PORT"] = str(cluster_environment.main_port)
    log.info(f"Initializing distributed: GLOBAL_RANK: {global_rank}, MEMBER: {global_rank + 1}/{world_size}")
    torch.distributed.init_process_group(
        torch_distributed_backend, rank=global_rank, world_size=world_size, **kwargs
    )
    if torch_distributed_backend == "nccl":
        atexit.register(_destroy_dist_connection)
    rank_zero_info(
        f"{'-' * 100}\n"
        f"distributed_backend={torch_distributed_backend}\n"
        f"All distributed processes registered. Starting with {world_size} processes\n"
        f"{'-' * 100}\n"
    )


def _destroy_dist_connection() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if _distributed_is_initialized():
            torch.distributed.destroy_process_group()
    finally:
        signal.signal(signal.SIGINT, previous)


def _num_cpus_available() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _set_num_threads_if_needed(num_processes: int = 1) -> None:
    """Share the CPU cores between ``num_processes`` processes unless ``OMP_NUM_THREADS`` is set."""
    if "OMP_NUM_THREADS" not in os.environ:
        num_threads = max(1, _num_cpus_available() // max(1, num_processes))
        torch.set_num_threads(num_threads)
        os.environ["OMP_NUM_THREADS"] = str(num_threads)


def _reset_seed() -> None:
    """Re-seed ``random``, NumPy and torch from ``PL_GLOBAL_SEED`` if a seed was set for the run (no-op otherwise)."""
    seed = os.environ.get("PL_GLOBAL_SEED")
    if seed is None:
        return
    value = int(seed)
    random.seed(value)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(value)
    torch.manual_seed(value)


def _collect_rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        states["numpy"] = numpy.random.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["torch.cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "numpy" in states:
        import numpy

        numpy.random.set_state(states["numpy"])
    if "torch.cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["torch.cuda"])
