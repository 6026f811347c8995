from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: multi-process test (a few processes, bounded by a timeout)")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every variable a cluster environment reads, so each test sets exactly what it needs."""
    prefixes = ("SLURM_", "LSB_", "JSM_", "TORCHELASTIC_")
    names = {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK"}
    names |= {"STANDALONE_PORT", "PL_GLOBAL_SEED"}
    for key in list(os.environ):
        if key in names or key.startswith(prefixes):
            monkeypatch.delenv(key, raising=False)
    return monkeypatch
