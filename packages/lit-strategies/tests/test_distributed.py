"""Real multi-process runs on CPU with gloo (2 processes each), compared with single-process references."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import _dist_scripts as scripts
import pytest
import torch
from torch import nn

pytestmark = pytest.mark.slow

_SCRIPT = Path(__file__).with_name("_dist_scripts.py")
_OUTER_TIMEOUT = 150


def _run(scenario: str, tmp_path: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if k not in {"LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK"}}
    env.pop("MASTER_PORT", None)
    env.update(
        OMP_NUM_THREADS="1",
        MASTER_ADDR="127.0.0.1",
        PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in sys.path if p),
    )
    out = tmp_path / "results.pt"
    proc = subprocess.run(
        [sys.executable, str(_SCRIPT), scenario, str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=_OUTER_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, f"{scenario} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return torch.load(out, weights_only=False)


def _reference_regressor() -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = scripts.Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=scripts.LR)
    for step in range(scripts.STEPS):
        x = torch.cat([scripts.rank_batch(step, r)[0] for r in range(scripts.WORLD_SIZE)])
        y = torch.cat([scripts.rank_batch(step, r)[1] for r in range(scripts.WORLD_SIZE)])
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    return [p.detach().reshape(-1) for p in model.parameters()]


def test_ddp_popen_training_matches_single_process_on_the_union_of_data(tmp_path: Path) -> None:
    results = _run("ddp", tmp_path)
    gathered = results["gathered_params"]
    assert gathered.shape[0] == 2
    torch.testing.assert_close(gathered[0], gathered[1], rtol=0, atol=0)  # identical replicas
    torch.testing.assert_close(results["params"], torch.cat(_reference_regressor()), rtol=1e-6, atol=1e-6)

    torch.testing.assert_close(results["synced_grads"][0], results["synced_grads"][1], rtol=0, atol=0)
    for key in ("local_grads", "local_grads_2"):
        local = results[key]
        assert not torch.allclose(local[0], local[1])  # no all-reduce under no_backward_sync
        torch.testing.assert_close(
            (local[0] + local[1]) / 2, results["synced_grads"][0], rtol=1e-5, atol=1e-6
        )

    assert results["mean"].item() == 1.5 and results["sum"].item() == 3.0 and results["max"].item() == 2.0
    assert results["int_mean"].item() == 1  # integer mean of 0 and 3, truncated like Lightning
    assert results["broadcast"] == {"from": 0}
    assert results["all"] is False and results["any"] is True
    assert results["sampler"] == {"num_replicas": 2, "rank": 0} and results["world_size"] == 2


def test_spawn_launcher_returns_rank_zero_result(tmp_path: Path) -> None:
    result = _run("spawn", tmp_path)
    assert result["rank"] == 0 and result["local_rank_env"] == 0
    assert result["sum"].item() == (10 + 5) + (10 + 1 + 5)


def _reference_mlp() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    torch.manual_seed(0)
    model = scripts.MLP()
    optimizer = torch.optim.SGD(model.parameters(), lr=scripts.LR, momentum=0.9)

    def step(index: int) -> None:
        x = torch.cat([scripts.rank_batch(index, r)[0] for r in range(scripts.WORLD_SIZE)])
        y = torch.cat([scripts.rank_batch(index, r)[1] for r in range(scripts.WORLD_SIZE)])
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()

    for index in range(scripts.STEPS - 1):
        step(index)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved_optimizer = copy.deepcopy(optimizer.state_dict())  # the live state changes with the next step
    step(scripts.STEPS - 1)
    return saved, {k: v.detach().clone() for k, v in model.state_dict().items()}, saved_optimizer


def test_fsdp_training_checkpoints_and_accumulation_match_single_process(tmp_path: Path) -> None:
    results = _run("fsdp", tmp_path)
    saved_ref, final_ref, optimizer_ref = _reference_mlp()
    assert results["is_dtensor"]
    assert results["saved_state"].keys() == saved_ref.keys()
    for key, value in saved_ref.items():
        # accumulation over two un-synchronised/synchronised micro-batches equals one full batch
        torch.testing.assert_close(results["saved_state"][key], value, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(
            results["restored_state"][key], results["saved_state"][key], rtol=0, atol=0
        )
        torch.testing.assert_close(results["final_state"][key], final_ref[key], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(results["sharded_final"][key], final_ref[key], rtol=1e-5, atol=1e-6)
    # the full optimizer state has the plain `Optimizer.state_dict()` layout
    saved_optimizer = results["saved_optimizer"]
    assert [g["params"] for g in saved_optimizer["param_groups"]] == [
        g["params"] for g in optimizer_ref["param_groups"]
    ]
    for index, state in optimizer_ref["state"].items():
        torch.testing.assert_close(
            saved_optimizer["state"][index]["momentum_buffer"], state["momentum_buffer"], rtol=1e-5, atol=1e-6
        )
    assert results["sharded_epoch"] == 7
    assert "meta.pt" in results["sharded_files"] and any(
        f.endswith(".distcp") for f in results["sharded_files"]
    )
    assert results["norm"].item() > 0
