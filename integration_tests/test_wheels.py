"""The wheels `./pants package ::` builds, installed into fresh virtual environments.

No registry is reachable from these environments: every lit wheel comes from the
build, and torch/numpy are taken from the test environment.
"""

from __future__ import annotations

import shutil
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from _repo import FreshVenv, built_wheels, version

SIBLINGS = {
    "lit-hooks": set(),
    "lit-data": {"lit-hooks"},
    "lit-precision": {"lit-hooks"},
    "lit-strategies": {"lit-hooks", "lit-precision"},
    "lit-loops": {"lit-hooks", "lit-data"},
    "lit-callbacks": {"lit-hooks"},
    "lit-loggers": {"lit-hooks"},
    "lit": {
        "lit-hooks",
        "lit-data",
        "lit-precision",
        "lit-strategies",
        "lit-loops",
        "lit-callbacks",
        "lit-loggers",
    },
}
EXTRAS = {
    "lit-strategies": {"deepspeed", "xla"},
    "lit-loggers": {"tensorboard", "mlflow", "wandb", "comet", "neptune"},
    "lit": {"all"},
}


def _metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(zf.read(name).decode())


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    wheels = built_wheels()
    assert set(wheels) == set(SIBLINGS), f"expected one wheel per package, got {sorted(wheels)}"
    house = tmp_path_factory.mktemp("wheelhouse")
    for path in wheels.values():
        shutil.copy(path, house)
    return house


def test_every_wheel_carries_the_repository_version_and_pins_its_siblings(wheelhouse):
    expected_version = version()
    for wheel in wheelhouse.glob("*.whl"):
        meta = _metadata(wheel)
        name = meta["Name"]
        assert meta["Version"] == expected_version, name
        requires = meta.get_all("Requires-Dist") or []
        lit_requires = {}
        for req in requires:
            if "extra ==" in req:
                continue
            head = req.split(";")[0].replace(" ", "")
            if head.startswith("lit"):
                dist, _, spec = head.partition("(")
                dist = dist.split("==")[0]
                lit_requires[dist] = spec.rstrip(")") or head[len(dist) :]
        assert set(lit_requires) == SIBLINGS[name], (name, requires)
        for dist, spec in lit_requires.items():
            assert spec == f"=={expected_version}", (name, dist, spec)
        provided = set(meta.get_all("Provides-Extra") or [])
        assert EXTRAS.get(name, set()) <= provided, (name, provided)


def test_lit_hooks_requires_only_torch_numpy_typing_extensions(wheelhouse):
    wheel = next(wheelhouse.glob("lit_hooks-*.whl"))
    requires = {
        r.split(";")[0].split()[0].split("(")[0].split("=")[0].split(">")[0].lower()
        for r in _metadata(wheel).get_all("Requires-Dist") or []
        if "extra ==" not in r
    }
    assert requires <= {"torch", "numpy", "typing-extensions", "typing_extensions"}, requires


def _lit_dists(env: FreshVenv) -> set[str]:
    return {d for d in env.distributions() if d == "lit" or d.startswith("lit-")}


@pytest.mark.parametrize(
    "target, expected",
    [
        ("lit-loops", {"lit-loops", "lit-hooks", "lit-data"}),
        ("lit-strategies", {"lit-strategies", "lit-hooks", "lit-precision"}),
        ("lit", set(SIBLINGS)),
    ],
)
def test_installing_one_package_brings_exactly_its_layer(target, expected, wheelhouse, tmp_path):
    env = FreshVenv(tmp_path / "venv")
    result = env.pip_install(target, find_links=wheelhouse)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _lit_dists(env) == expected
    # Nothing but lit and the torch/numpy closure was installed: no registry was needed.
    module = target.replace("-", "_")
    check = env.run(f"import {module}; print({module}.__name__)")
    assert check.returncode == 0, check.stderr


def test_optional_back_ends_are_absent_and_named_when_used(wheelhouse, tmp_path):
    env = FreshVenv(tmp_path / "venv")
    result = env.pip_install("lit-strategies", "lit-loggers", find_links=wheelhouse)
    assert result.returncode == 0, result.stdout + result.stderr
    code = r"""
import importlib.util, sys
for absent in ("deepspeed", "torch_xla", "tensorboard", "tensorboardX", "mlflow", "wandb"):
    assert importlib.util.find_spec(absent) is None, absent
import lit_strategies, lit_loggers
for heavy in ("deepspeed", "torch_xla", "tensorboard", "mlflow", "wandb"):
    assert heavy not in sys.modules, heavy

def message(factory):
    try:
        factory()
    except ImportError as err:
        return str(err)
    raise AssertionError(f"{factory} did not fail")

print(message(lambda: lit_strategies.DeepSpeedStrategy()))
print(message(lambda: lit_loggers.TensorBoardLogger(save_dir=".")))
print(message(lambda: lit_loggers.MLFlowLogger()))
print(message(lambda: lit_loggers.WandbLogger(offline=True)))
"""
    out = env.run(code)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert "lit-strategies[deepspeed]" in lines[0]
    assert "lit-loggers[tensorboard]" in lines[1]
    assert "lit-loggers[mlflow]" in lines[2]
    assert "lit-loggers[wandb]" in lines[3]
