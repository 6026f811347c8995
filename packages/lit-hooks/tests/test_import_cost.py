"""``import lit_hooks`` must stay cheap beyond ``import torch`` and must not pull heavy torch sub-systems."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_PROBE = """
import json, sys, time
t0 = time.process_time()
import torch
t1 = time.process_time()
before = set(sys.modules)
import lit_hooks
t2 = time.process_time()
print(json.dumps({"torch_s": t1 - t0, "lit_hooks_s": t2 - t1, "new_modules": sorted(set(sys.modules) - before)}))
"""


def _env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # byte-code is cached outside the source tree, like an installed wheel's
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _probe(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def warm_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], dict[str, Any]]]:
    env = _env(tmp_path_factory.mktemp("pycache"))
    first = _probe(env)  # also compiles and caches the byte-code
    yield env, first


def test_import_pulls_no_heavy_modules(warm_env: tuple[dict[str, str], dict[str, Any]]) -> None:
    _, result = warm_env
    new = result["new_modules"]
    assert new, "lit_hooks was already imported before the probe"
    assert all(name == "lit_hooks" or name.startswith("lit_hooks._") for name in new), new
    assert "lit_hooks.testing" not in new
    assert not any(
        name.startswith(("torch._dynamo", "torch.distributed", "numpy", "packaging")) for name in new
    )


@pytest.mark.benchmark
def test_import_cpu_cost_beyond_torch(
    benchmark: Any, warm_env: tuple[dict[str, str], dict[str, Any]]
) -> None:
    env, _ = warm_env
    samples: list[float] = []

    def measure() -> None:
        samples.append(_probe(env)["lit_hooks_s"])

    benchmark.pedantic(measure, rounds=3, iterations=1)
    median_ms = statistics.median(samples) * 1000
    benchmark.extra_info["import_lit_hooks_cpu_ms"] = round(median_ms, 2)
    benchmark.extra_info["samples_ms"] = [round(s * 1000, 2) for s in samples]
    assert median_ms < 300, f"`import lit_hooks` took {median_ms:.1f} ms of CPU beyond `import torch`"
