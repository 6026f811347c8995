"""Seeding (``lightning.pytorch.utilities.seed``)."""

from __future__ import annotations

from lit_data import pl_worker_init_function, reset_seed, seed_everything

__all__ = ["pl_worker_init_function", "reset_seed", "seed_everything"]
