"""`lit-loops` installed alone (no `lit`) trains a model with a custom event-driven loop.

The wheels come from `./pants package ::`; the environment has no registry
access, and torch/numpy are taken from the test environment.
"""

from __future__ import annotations

import shutil

import pytest
from _repo import FreshVenv, built_wheels

SCRIPT = r"""
import importlib.util, json, sys
import torch
from torch.utils.data import DataLoader, TensorDataset
from lit_loops import Event, Loop

assert importlib.util.find_spec("lit") is None, "the meta-package must not be installed"
assert importlib.util.find_spec("lit_strategies") is None

def make(seed):
    g = torch.Generator().manual_seed(1234)  # the same data for every run
    x = torch.randn(256, 4, generator=g)
    torch.manual_seed(seed)  # a different initial model per run
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    data = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(loop, batch):
        xb, yb = batch
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()

    return Loop(step), data, model, opt

# an uninterrupted run of 3 epochs
loop, data, model, opt = make(0)
losses = []
loop.on(Event.ITERATION_COMPLETED(every=8), lambda lp: losses.append(float(lp.state.output)))
first_epochs = []
loop.on(Event.EPOCH_COMPLETED(once=1), lambda lp: first_epochs.append(lp.state.epoch))
state = loop.run(data, max_epochs=3)
full = [p.detach().clone() for p in model.parameters()]

# the same run stopped after 13 iterations and resumed from the loop's state dict
loop2, data2, model2, opt2 = make(0)
loop2.on(Event.ITERATION_COMPLETED(once=13), lambda lp: lp.terminate())
loop2.run(data2, max_epochs=3)
saved = {"loop": loop2.state_dict(), "model": model2.state_dict(), "opt": opt2.state_dict()}
loop3, data3, model3, opt3 = make(1)
model3.load_state_dict(saved["model"]); opt3.load_state_dict(saved["opt"]); loop3.load_state_dict(saved["loop"])
loop3.run(data3, max_epochs=3)
resumed_equal = all(torch.equal(a, b) for a, b in zip(full, model3.parameters()))

print(json.dumps({
    "iterations": state.iteration, "epochs": state.epoch, "losses": losses,
    "first_epochs": first_epochs, "resumed_equal": resumed_equal,
    "resumed_iterations": loop3.state.iteration,
}))
"""


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    house = tmp_path_factory.mktemp("wheelhouse")
    for path in built_wheels().values():
        shutil.copy(path, house)
    return house


def test_lit_loops_alone_trains_and_resumes_a_custom_loop(wheelhouse, tmp_path):
    import json

    env = FreshVenv(tmp_path / "venv")
    result = env.pip_install("lit-loops", find_links=wheelhouse)
    assert result.returncode == 0, result.stdout + result.stderr
    out = env.run(SCRIPT)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["iterations"] == 24 and report["epochs"] == 3
    assert len(report["losses"]) == 3  # every=8 over 24 iterations
    assert report["losses"][-1] < report["losses"][0] / 10  # it really trained
    assert report["first_epochs"] == [1]  # once=1 fired a single time
    assert report["resumed_iterations"] == 24
    assert report["resumed_equal"], "stop-and-resume must give the same weights as the uninterrupted run"
