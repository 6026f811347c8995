"""Seeding of every random number generator a run uses, including those of data loader workers.

:func:`seed_everything` seeds Python's ``random``, NumPy and torch (all devices) and exports the seed in
``PL_GLOBAL_SEED`` (and ``PL_SEED_WORKERS``), so that processes started later (spawned ranks, workers) follow the
same seed. With ``workers=True``, :func:`pl_worker_init_function` gives every worker of every rank its own
distinct and reproducible seeds for torch, NumPy and ``random``.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import numpy as np
import torch

from lit_hooks import rank_prefixed_message, rank_zero_only, rank_zero_warn

__all__ = [
    "collect_rng_states",
    "max_seed_value",
    "min_seed_value",
    "pl_worker_init_function",
    "reset_seed",
    "seed_everything",
    "set_rng_states",
]

log = logging.getLogger("lit")

max_seed_value = 4294967295  # 2**32 - 1, the largest seed numpy accepts
min_seed_value = 0


def _current_rank() -> int | None:
    for key in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        value = os.environ.get(key)
        if value is not None:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def seed_everything(seed: int | None = None, workers: bool = False, verbose: bool = True) -> int:
    """Seed ``random``, ``numpy.random`` and torch (CPU and all devices); return the seed used.

    Also sets the environment variables ``PL_GLOBAL_SEED`` (the seed, read by spawned processes and by
    :func:`reset_seed`) and ``PL_SEED_WORKERS`` (``"1"`` when ``workers=True``, telling the data preparation to
    add :func:`pl_worker_init_function` to loaders without a ``worker_init_fn``).

    Args:
        seed: The seed. ``None`` reads ``PL_GLOBAL_SEED``, or uses 0 (with a warning) when it is not set.
        workers: Seed data loader workers distinctly per worker and rank (see :func:`pl_worker_init_function`).
        verbose: Log ``"Seed set to N"``.

    Raises:
        ValueError: If the seed is outside ``[0, 2**32 - 1]`` or ``PL_GLOBAL_SEED`` is not an integer.

    Example:
        >>> seed_everything(7, verbose=False)
        7
        >>> a = torch.rand(1); _ = seed_everything(7, verbose=False); bool(torch.rand(1) == a)
        True
    """
    if seed is None:
        env_seed = os.environ.get("PL_GLOBAL_SEED")
        if env_seed is None:
            seed = 0
            if verbose:
                rank_zero_warn(f"No seed found, seed set to {seed}")
        else:
            try:
                seed = int(env_seed)
            except ValueError:
                raise ValueError(
                    f"Invalid seed specified via PL_GLOBAL_SEED: {env_seed!r}. Set it to an integer in"
                    f" [{min_seed_value}, {max_seed_value}] or unset it."
                ) from None
    elif not isinstance(seed, int):
        seed = int(seed)
    if not min_seed_value <= seed <= max_seed_value:
        raise ValueError(
            f"{seed} is not in bounds, numpy accepts from {min_seed_value} to {max_seed_value}. Pass a seed in that"
            " range."
        )
    if verbose:
        log.info(rank_prefixed_message(f"Seed set to {seed}", _current_rank()))
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every device too
    os.environ["PL_SEED_WORKERS"] = f"{int(workers)}"
    return seed


def reset_seed() -> None:
    """Seed again with the seed and ``workers`` flag of the last :func:`seed_everything` (no-op if never called)."""
    seed = os.environ.get("PL_GLOBAL_SEED", None)
    if seed is None:
        return
    workers = os.environ.get("PL_SEED_WORKERS", "0")
    seed_everything(int(seed), workers=bool(int(workers)), verbose=False)


def pl_worker_init_function(worker_id: int, rank: int | None = None) -> None:  # pragma: no cover - in workers
    """``worker_init_fn`` giving each worker of each rank distinct, reproducible torch/NumPy/``random`` seeds.

    The worker's base seed (drawn by the ``DataLoader`` from the main process's generator, hence reproducible
    after :func:`seed_everything`) is mixed with the worker id and the global rank, so no two workers of a run
    share a stream and the same seed gives the same streams on every rerun.

    Args:
        worker_id: The worker index (passed by the ``DataLoader``).
        rank: The global rank; defaults to ``rank_zero_only.rank``.
    """
    global_rank = rank if rank is not None else rank_zero_only.rank  # type: ignore[attr-defined]
    process_seed = torch.initial_seed()
    # the DataLoader seeds worker ``i`` with ``base_seed + i``: recover the base to use all its bits
    base_seed = process_seed - worker_id
    seeds = _generate_seed_sequence(base_seed, worker_id, global_rank, count=4)
    torch.manual_seed(seeds[0])
    random.seed((seeds[1] << 32) | seeds[2])
    sequence = np.random.SeedSequence([base_seed, worker_id, global_rank])
    np.random.seed(sequence.generate_state(4))


def _generate_seed_sequence(base_seed: int, worker_id: int, global_rank: int, count: int) -> list[int]:
    """``count`` well-mixed 64-bit seeds from (base seed, worker id, rank): a MurmurHash3 finalizer, then an LCG."""
    mask = (1 << 64) - 1
    combined = ((base_seed << 32) | (worker_id << 16) | global_rank) & mask
    combined ^= combined >> 33
    combined = (combined * 0xFF51AFD7ED558CCD) & mask
    combined ^= combined >> 33
    combined = (combined * 0xC4CEB9FE1A85EC53) & mask
    combined ^= combined >> 33
    seeds = []
    for _ in range(count):
        combined = (combined * 6364136223846793005 + 1) & mask  # Knuth's MMIX constants
        seeds.append(combined)
    return seeds


def collect_rng_states(include_cuda: bool = True) -> dict[str, Any]:
    """The global states of torch (CPU and, optionally, CUDA), NumPy and ``random``.

    NumPy's state is stored as plain values and a tensor, so the result can be saved in a checkpoint that
    ``torch.load(weights_only=True)`` reads back.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
    }
    if include_cuda:
        states["torch.cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return states


def set_rng_states(rng_state_dict: dict[str, Any]) -> None:
    """Restore states returned by :func:`collect_rng_states` (NumPy states saved by Lightning are accepted too)."""
    torch.set_rng_state(rng_state_dict["torch"])
    if rng_state_dict.get("torch.cuda"):
        torch.cuda.set_rng_state_all(rng_state_dict["torch.cuda"])
    if "numpy" in rng_state_dict:
        name, keys, pos, has_gauss, cached = rng_state_dict["numpy"]
        if isinstance(keys, torch.Tensor):
            keys = keys.numpy()
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, state, gauss = rng_state_dict["python"]
    random.setstate((version, tuple(state), gauss))
