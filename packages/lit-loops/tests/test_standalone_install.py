"""lit-loops on its own: with only lit-loops, lit-hooks and lit-data importable, a custom loop trains a model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import lit_data
import lit_hooks
import lit_loops

_SCRIPT = textwrap.dedent("""
    import importlib.util
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    assert importlib.util.find_spec("lit") is None, "lit must not be importable here"
    for name in ("lit_strategies", "lit_precision", "lit_callbacks", "lit_loggers"):
        assert importlib.util.find_spec(name) is None, name

    from lit_loops import Event, LightningModule, LoopConfig, Loop, fit

    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = x @ torch.randn(8, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = torch.nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)

    def step(loop, batch):
        inputs, targets = batch
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()

    losses = []
    loop = Loop(step)
    loop.on(Event.EPOCH_COMPLETED, lambda lp: losses.append(float(lp.state.output)))
    loop.run(loader, max_epochs=10)
    assert loop.state.iteration == 80 and losses[-1] < 0.1 * losses[0], losses

    class Regressor(LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(8, 1)

        def training_step(self, batch, batch_idx):
            inputs, targets = batch
            loss = torch.nn.functional.mse_loss(self.layer(inputs), targets)
            self.log("loss", loss, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    runner = fit(Regressor(), loader, config=LoopConfig(max_epochs=10))
    assert runner.global_step == 80 and float(runner.callback_metrics["loss_epoch"]) < 0.5
    print("ok")
    """)


def _src(module: object) -> str:
    return str(Path(module.__file__).resolve().parents[1])  # type: ignore[attr-defined]


def test_custom_loop_with_only_lit_loops_installed(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(_src(m) for m in (lit_loops, lit_hooks, lit_data))
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
