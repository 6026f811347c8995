"""Checkpoints move both ways between lit and the reference Lightning 2.6.5.

Lightning runs in a subprocess of this interpreter (the `interop` resolve has it); lit runs in a fresh
virtual environment holding only the wheels `./pants package ::` built. Both execute the same model,
data and Trainer code (``_SHARED`` below), differing only in ``import lit as L`` versus
``import lightning.pytorch as L``, and exchange checkpoint files on disk.

Every run is deterministic (fixed seed, ``shuffle=False``, CPU), so the comparisons below are exact:
a run resumed by the other framework ends with bit-identical weights, and with the same optimizer,
scheduler, loop-progress and callback states, as an uninterrupted run of either framework.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from _repo import FreshVenv, built_wheels

# The model, data, Trainer set-up and a probe callback, written once and executed by both frameworks.
_SHARED = r'''
import copy
import json
import sys

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _data(seed):
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(64, 32, generator=g), torch.randn(64, 2, generator=g))


class Model(L.LightningModule):
    def __init__(self, lr=0.02, gamma=0.5):
        super().__init__()
        self.save_hyperparameters()
        self.layer = nn.Linear(32, 2)

    def forward(self, x):
        return self.layer(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=self.hparams.gamma)
        return [opt], [sched]

    def train_dataloader(self):
        return DataLoader(_data(0), batch_size=16, shuffle=False)

    def val_dataloader(self):
        return DataLoader(_data(1), batch_size=16, shuffle=False)


class Probe(L.Callback):
    """Records the Trainer's state when the epoch ``at`` starts (after any restore)."""

    def __init__(self, at):
        self.at = at
        self.record = {}

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch != self.at or self.record:
            return
        self.record = {
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "weights": copy.deepcopy(pl_module.state_dict()),
            "optimizer": copy.deepcopy(trainer.optimizers[0].state_dict()),
            "scheduler": copy.deepcopy(trainer.lr_scheduler_configs[0].scheduler.state_dict()),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "callbacks": {
                type(cb).__name__: copy.deepcopy(cb.state_dict())
                for cb in trainer.callbacks
                if type(cb).__name__ in ("ModelCheckpoint", "EarlyStopping")
            },
        }


def fit(root, max_epochs, ckpt_path, out):
    torch.manual_seed(0)
    model = Model()
    probe = Probe(at=2)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[
            L.callbacks.ModelCheckpoint(dirpath=root + "/ckpts", monitor="val_loss", save_last=True),
            L.callbacks.EarlyStopping(monitor="val_loss", patience=100),
            probe,
        ],
    )
    trainer.fit(model, ckpt_path=ckpt_path)
    trainer.save_checkpoint(root + "/final.ckpt")
    torch.save(
        {
            "epoch": trainer.current_epoch,
            "global_step": trainer.global_step,
            "weights": model.state_dict(),
            "probe": probe.record,
        },
        out,
    )


def load(path, out):
    plain = Model.load_from_checkpoint(path, map_location="cpu")
    overridden = Model.load_from_checkpoint(path, map_location="cpu", gamma=0.25)
    torch.save(
        {
            "weights": plain.state_dict(),
            "hparams": dict(plain.hparams),
            "overridden_hparams": dict(overridden.hparams),
            "overridden_weights": overridden.state_dict(),
        },
        out,
    )


_args = json.loads(ARGS)
globals()[_args.pop("action")](**_args)
'''

_IMPORTS = {"lightning": "import lightning.pytorch as L\n", "lit": "import lit as L\n"}


class _Frameworks:
    """Runs ``_SHARED`` under Lightning (this interpreter) or lit (a fresh venv with the built wheels)."""

    def __init__(self, lit_venv: FreshVenv) -> None:
        self.lit_venv = lit_venv

    def run(self, framework: str, out: Path, **args: Any) -> dict[str, Any]:
        """Runs the function ``args["action"]`` of ``_SHARED`` with ``args``; returns what it saved to ``out``."""
        code = _IMPORTS[framework] + f"ARGS = {json.dumps(dict(args, out=str(out)))!r}\n" + _SHARED
        if framework == "lit":
            proc = self.lit_venv.run(code)
        else:
            # a child of this interpreter that sees what this test sees (the `interop` resolve)
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            proc = subprocess.run(
                [sys.executable, "-c", code],
                check=False,
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
            )
        assert proc.returncode == 0, f"{framework} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        return torch.load(out, weights_only=False)

    def fit(
        self, framework: str, root: Path, max_epochs: int, ckpt_path: Path | None = None
    ) -> dict[str, Any]:
        root.mkdir(parents=True, exist_ok=True)
        return self.run(
            framework,
            root / "result.pt",
            action="fit",
            root=str(root),
            max_epochs=max_epochs,
            ckpt_path=None if ckpt_path is None else str(ckpt_path),
        )

    def load(self, framework: str, path: Path) -> dict[str, Any]:
        return self.run(framework, path.parent / f"loaded-by-{framework}.pt", action="load", path=str(path))


@pytest.fixture(scope="module")
def frameworks(tmp_path_factory) -> _Frameworks:
    wheels = built_wheels()
    assert "lit" in wheels, f"the lit wheels were not built: found {sorted(wheels)}"
    house = tmp_path_factory.mktemp("wheelhouse")
    for path in wheels.values():
        shutil.copy(path, house)
    env = FreshVenv(tmp_path_factory.mktemp("venv") / "lit")
    proc = env.pip_install("lit", find_links=house)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    probe = env.run(
        "import importlib.util, sys, lit; assert 'lightning' not in sys.modules;"
        " assert importlib.util.find_spec('lightning') is None; print(lit.__file__)"
    )
    assert probe.returncode == 0, probe.stderr
    assert str(env.path) in probe.stdout, probe.stdout
    return _Frameworks(env)


@pytest.fixture(scope="module")
def runs(frameworks: _Frameworks, tmp_path_factory) -> dict[str, Any]:
    """Uninterrupted 4-epoch runs and 2-epoch runs of each framework (shared by the tests below)."""
    base = tmp_path_factory.mktemp("runs")
    out: dict[str, Any] = {"base": base}
    for fw in ("lightning", "lit"):
        out[f"{fw}-full"] = frameworks.fit(fw, base / f"{fw}-full", 4)
        out[f"{fw}-half"] = frameworks.fit(fw, base / f"{fw}-half", 2)
    return out


# ---------------------------------------------------------------------------------------------- helpers
def _normalize(obj: Any, root: str) -> Any:
    """``obj`` with the run directory ``root`` replaced by ``<root>`` in every string and key."""
    if isinstance(obj, dict):
        return {_normalize(k, root): _normalize(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_normalize(v, root) for v in obj)
    if isinstance(obj, str):
        return obj.replace(root, "<root>")
    return obj


def _assert_same(a: Any, b: Any, path: str = "") -> None:
    """Exact equality of nested checkpoint data (tensors bit for bit, dtypes and shapes included)."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert set(map(str, a)) == set(map(str, b)), (path, sorted(map(str, a)), sorted(map(str, b)))
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), (path, b)
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        assert torch.equal(a, b), (path, (a.double() - b.double()).abs().max().item())
    else:
        assert type(a) is type(b) and a == b, (path, a, b)


def _key_tree(obj: Any, depth: int) -> Any:
    if depth == 0 or not isinstance(obj, dict):
        return None
    return {k: _key_tree(v, depth - 1) for k, v in obj.items()}


def _without(callbacks: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: {k: v for k, v in state.items() if k != key} for name, state in callbacks.items()}


def _format_keys(ckpt: dict[str, Any]) -> dict[str, Any]:
    """``ckpt`` without lit's own `lit_`-prefixed entries (its version, random states), which Lightning
    neither writes nor reads."""
    return {k: v for k, v in ckpt.items() if not k.startswith("lit_")}


def _ckpt(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _resume_across(
    frameworks: _Frameworks, base: Path, writer: str, reader: str, which: str
) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """``writer`` trains 2 epochs; ``reader`` resumes in the same directory from ``which`` to 4 epochs."""
    root = base / f"{writer}-to-{reader}-{which}"
    frameworks.fit(writer, root, 2)
    resume_from = root / ("ckpts/last.ckpt" if which == "last" else "final.ckpt")
    loaded = _ckpt(resume_from)
    result = frameworks.fit(reader, root, 4, ckpt_path=resume_from)
    return result, root, loaded


# ------------------------------------------------------------------------------------------------ tests
def test_the_reference_is_lightning_2_6_5():
    import lightning

    assert lightning.__version__ == "2.6.5"


def test_both_frameworks_train_identically(runs):
    """The baseline every other comparison rests on: same code, same numbers, bit for bit."""
    for length in ("full", "half"):
        pl, lit = runs[f"lightning-{length}"], runs[f"lit-{length}"]
        assert (pl["epoch"], pl["global_step"]) == (lit["epoch"], lit["global_step"])
        _assert_same(pl["weights"], lit["weights"])
    assert (runs["lit-full"]["epoch"], runs["lit-full"]["global_step"]) == (4, 16)
    _assert_same(runs["lightning-full"]["probe"]["optimizer"], runs["lit-full"]["probe"]["optimizer"])


@pytest.mark.parametrize("writer,reader", [("lightning", "lit"), ("lit", "lightning")])
def test_load_from_checkpoint_across_frameworks(frameworks, runs, writer, reader):
    path = runs["base"] / f"{writer}-half" / "final.ckpt"
    got = frameworks.load(reader, path)
    _assert_same(got["weights"], _ckpt(path)["state_dict"])
    _assert_same(got["weights"], runs[f"{writer}-half"]["weights"])
    assert got["hparams"] == {"lr": 0.02, "gamma": 0.5}
    assert got["overridden_hparams"] == {"lr": 0.02, "gamma": 0.25}
    _assert_same(got["overridden_weights"], got["weights"])


@pytest.mark.parametrize("which", ["last", "final"])
@pytest.mark.parametrize("writer,reader", [("lightning", "lit"), ("lit", "lightning")])
def test_fit_resumes_across_frameworks(frameworks, runs, writer, reader, which):
    """``which``: the ModelCheckpoint's ``last.ckpt`` (written at the end of epoch 1's validation, before
    the epoch ends) or ``Trainer.save_checkpoint`` after ``fit`` returned (epoch 2 finished)."""
    result, root, loaded = _resume_across(frameworks, runs["base"], writer, reader, which)
    assert loaded["epoch"] == (1 if which == "last" else 2)
    assert loaded["global_step"] == 8

    # right after the restore (start of epoch 2): the same state as the reader's uninterrupted run
    for baseline in (reader, writer):
        full = runs[f"{baseline}-full"]
        probe, ref = result["probe"], full["probe"]
        assert (probe["epoch"], probe["global_step"]) == (2, 8)
        assert probe["lr"] == ref["lr"] == pytest.approx(0.02 * 0.5**2)
        for key in ("weights", "optimizer", "scheduler"):
            _assert_same(probe[key], ref[key], key)
        # ModelCheckpoint's `current_score` is the last monitored value of this process, never restored
        _assert_same(
            _normalize(_without(probe["callbacks"], "current_score"), str(root)),
            _normalize(_without(ref["callbacks"], "current_score"), str(runs["base"] / f"{baseline}-full")),
            "callbacks",
        )
        assert probe["callbacks"]["ModelCheckpoint"]["current_score"] is None

        # at the end: same weights, counters and complete final checkpoint as the uninterrupted run
        assert (result["epoch"], result["global_step"]) == (full["epoch"], full["global_step"]) == (4, 16)
        _assert_same(result["weights"], full["weights"])

    # the whole checkpoint saved after the resumed fit (weights, optimizer, scheduler, loops progress,
    # callback states with their top-k bookkeeping) equals the one saved after either uninterrupted run,
    # and the ModelCheckpoint left the same files behind
    got_final = _format_keys(_ckpt(root / "final.ckpt"))
    for baseline in (reader, writer):
        full_root = runs["base"] / f"{baseline}-full"
        ref_final = _format_keys(_ckpt(full_root / "final.ckpt"))
        _assert_same(_normalize(got_final, str(root)), _normalize(ref_final, str(full_root)), baseline)
        assert sorted(p.name for p in (root / "ckpts").iterdir()) == sorted(
            p.name for p in (full_root / "ckpts").iterdir()
        )


@pytest.mark.parametrize("name", ["final.ckpt", "ckpts/last.ckpt"])
def test_checkpoint_layouts_match(runs, name):
    pl = _ckpt(runs["base"] / "lightning-half" / name)
    lit = _ckpt(runs["base"] / "lit-half" / name)
    # everything Lightning writes, lit writes too; lit's own extra keys are `lit_`-prefixed (Lightning
    # ignores keys it does not know)
    assert set(pl) <= set(lit)
    extra = set(lit) - set(pl)
    assert "lit_version" in extra and all(k.startswith("lit_") for k in extra), sorted(extra)
    assert pl["pytorch-lightning_version"] == lit["pytorch-lightning_version"] == "2.6.5"
    # the loops progress tree, key for key and value for value
    assert _key_tree(pl["loops"], 10) == _key_tree(lit["loops"], 10)
    _assert_same(pl["loops"], lit["loops"])
    # callback state keys (the `state_key` strings) and the keys of each state
    assert _key_tree(pl["callbacks"], 2) == _key_tree(lit["callbacks"], 2)
    # the rest, value for value (paths differ only by the run directory)
    for key in ("epoch", "global_step", "state_dict", "optimizer_states", "lr_schedulers", "hparams_name"):
        _assert_same(pl[key], lit[key], key)
    assert pl["hyper_parameters"] == lit["hyper_parameters"] == {"lr": 0.02, "gamma": 0.5}
    _assert_same(
        _normalize(pl["callbacks"], str(runs["base"] / "lightning-half")),
        _normalize(lit["callbacks"], str(runs["base"] / "lit-half")),
    )
