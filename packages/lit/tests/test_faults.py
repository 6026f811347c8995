"""Surviving faults with real processes, signals and files: kill -9 during a save, a full disk, SIGTERM, SLURM's
SIGUSR1, corrupt or foreign files and malicious pickles."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import make_trainer

from lit.demos.boring_classes import BoringModel
from lit_strategies import CheckpointLoadError

_CHILD_HEADER = """
import os, sys, time
import torch
import lit as L
from lit.demos.boring_classes import BoringModel
root = sys.argv[1]

def mark(name, text=""):
    with open(os.path.join(root, name), "w") as f:
        f.write(text)

class Recorder(L.Callback):
    def on_exception(self, trainer, pl_module, exception):
        resumed_from = os.path.basename(str(trainer.ckpt_path))
        mark("on_exception", f"{type(exception).__name__} {trainer.received_sigterm} {resumed_from}")

class Slow(BoringModel):
    def training_step(self, batch, batch_idx):
        if self.global_step == 3:
            mark("started")
        time.sleep(0.02)
        return super().training_step(batch, batch_idx)

def trainer(**kwargs):
    return L.Trainer(default_root_dir=root, logger=False, enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=False, **kwargs)
"""


def _spawn(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    script = tmp_path / "child.py"
    script.write_text(_CHILD_HEADER + textwrap.dedent(body))
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **(env or {})}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"the child exited with {proc.returncode} before {path.name} appeared:\n{out}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.01)


def _finish(proc: subprocess.Popen[bytes], timeout: float = 40.0) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the child did not exit within {timeout} s:\n{out.decode()}")
    return out.decode()


# ------------------------------------------------------------------------------------------------------ (c) signals
@pytest.mark.slow
def test_sigterm_saves_after_the_step_and_exits_as_terminated(tmp_path: Path) -> None:
    proc = _spawn(tmp_path, "trainer(max_epochs=1000, callbacks=[Recorder()]).fit(Slow())\n")
    _wait_for(tmp_path / "started", proc)
    proc.send_signal(signal.SIGTERM)
    out = _finish(proc)
    assert proc.returncode == 128 + signal.SIGTERM, out  # 143: not success, and it says "terminated"
    assert (tmp_path / "on_exception").read_text() == "SIGTERMException True None"
    ckpt = tmp_path / "hpc_ckpt_1.ckpt"
    checkpoint = torch.load(ckpt, weights_only=True)
    saved_step = checkpoint["global_step"]
    assert saved_step >= 3
    # the step was complete when saving: the progress counters agree with the optimizer steps
    progress = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]
    assert progress["completed"] == progress["ready"] == saved_step
    assert not list(tmp_path.glob(".*.tmp"))

    resumed = make_trainer(tmp_path, max_steps=saved_step + 2)
    resumed.fit(BoringModel(), ckpt_path="hpc")
    assert resumed.ckpt_path == str(ckpt)
    assert resumed.global_step == saved_step + 2


@pytest.mark.slow
def test_sigusr1_on_slurm_saves_an_hpc_checkpoint_and_requeues(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" > "{tmp_path}/scontrol_args"\n')
    scontrol.chmod(0o755)
    # an earlier one: on SLURM, `fit(ckpt_path=None)` resumes from it, and the next one is number 5
    earlier = make_trainer(tmp_path, max_steps=1)
    earlier.fit(BoringModel())
    earlier.save_checkpoint(tmp_path / "hpc_ckpt_4.ckpt")
    env = {
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "train",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = _spawn(tmp_path, "trainer(max_epochs=1000, callbacks=[Recorder()]).fit(Slow())\n", env=env)
    _wait_for(tmp_path / "started", proc)
    proc.send_signal(signal.SIGUSR1)
    out = _finish(proc)
    assert proc.returncode == 128 + signal.SIGUSR1, out
    assert (tmp_path / "scontrol_args").read_text().split() == ["requeue", "4242"]
    assert (tmp_path / "on_exception").read_text() == "SIGTERMException False hpc_ckpt_4.ckpt"
    checkpoint = torch.load(tmp_path / "hpc_ckpt_5.ckpt", weights_only=True)
    assert checkpoint["global_step"] >= 3
    resumed = make_trainer(tmp_path, max_steps=checkpoint["global_step"] + 1)
    resumed.fit(BoringModel(), ckpt_path="hpc")
    assert resumed.ckpt_path == str(tmp_path / "hpc_ckpt_5.ckpt")


def test_ckpt_path_hpc_without_checkpoint_names_the_folder(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=1)
    with pytest.raises(ValueError, match=r'ckpt_path="hpc"\)` is set but no HPC checkpoint'):
        trainer.fit(BoringModel(), ckpt_path="hpc")


# ------------------------------------------------------------------------------------------------ (a) kill -9
@pytest.mark.slow
def test_kill_9_during_a_save_leaves_the_previous_checkpoint_and_no_stray_file(tmp_path: Path) -> None:
    elsewhere = tmp_path / "tmpdir"
    elsewhere.mkdir()
    ckpt_dir = tmp_path / "ckpts"
    body = """
    class Big(BoringModel):
        def __init__(self):
            super().__init__()
            self.big = torch.nn.Parameter(torch.zeros(6_000_000))  # a 24 MB checkpoint takes a while to write

    t = trainer(max_steps=1)
    t.fit(Big())
    path = os.path.join(root, "ckpts", "last.ckpt")
    for _ in range(10_000):
        t.save_checkpoint(path)
    """
    proc = _spawn(tmp_path, body, env={"TMPDIR": str(elsewhere)})
    target = ckpt_dir / "last.ckpt"
    _wait_for(target, proc)
    deadline = time.monotonic() + 30
    stray: list[Path] = []
    while not stray and time.monotonic() < deadline and proc.poll() is None:
        stray = list(ckpt_dir.glob(".last.ckpt.*.tmp"))
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    assert stray, "never saw a save in progress"
    assert proc.returncode == -signal.SIGKILL
    # the previous checkpoint is whole, the temporary file sits next to it (not in TMPDIR)
    assert torch.load(target, weights_only=True)["global_step"] == 1
    assert list(ckpt_dir.glob(".last.ckpt.*.tmp"))
    assert not list(elsewhere.iterdir())
    # the next run clears the leftover as it starts and resumes from the intact checkpoint
    resumed = make_trainer(tmp_path, max_steps=2)
    model = BoringModel()
    model.big = torch.nn.Parameter(torch.zeros(6_000_000))
    resumed.fit(model, ckpt_path=target)
    assert resumed.global_step == 2
    assert not list(ckpt_dir.glob(".*.tmp"))


# ----------------------------------------------------------------------------------------------- (b) full disk
@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def test_full_disk_raises_a_clear_error_and_keeps_the_previous_checkpoint(
    tmp_path: Path, small_disk: Path
) -> None:
    target = small_disk / "model.ckpt"
    trainer = make_trainer(tmp_path, max_steps=1)
    model = BoringModel()
    trainer.fit(model)
    trainer.save_checkpoint(target)
    before = target.read_bytes()
    model.big = torch.nn.Parameter(torch.zeros(1_000_000))  # 4 MB: does not fit
    with pytest.raises(OSError, match="no space left on the device") as info:
        trainer.save_checkpoint(target)
    assert str(target) in str(info.value) and "previous checkpoint at that path is intact" in str(info.value)
    assert target.read_bytes() == before
    assert torch.load(target, weights_only=True)["global_step"] == 1
    assert sorted(p.name for p in small_disk.iterdir()) == ["model.ckpt"]  # no half-written temporary file


# ----------------------------------------------------------------------------------------- (d) unreadable files
def _good_checkpoint(tmp_path: Path) -> Path:
    trainer = make_trainer(tmp_path, max_steps=1)
    trainer.fit(BoringModel())
    path = tmp_path / "good.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.mark.parametrize(
    "kind", ["truncated", "corrupt", "foreign", "not-a-checkpoint", "newer", "newer-lit"]
)
def test_unreadable_checkpoints_name_the_file_and_the_problem(tmp_path: Path, kind: str) -> None:
    good = _good_checkpoint(tmp_path)
    bad = tmp_path / f"{kind}.ckpt"
    if kind == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        expected = "not a readable PyTorch checkpoint"
    elif kind == "corrupt":
        data = bytearray(good.read_bytes())
        data[:64] = random.Random(0).randbytes(64)  # fixed garbage: the same corruption every run
        bad.write_bytes(bytes(data))
        expected = "not a readable PyTorch checkpoint"
    elif kind == "foreign":
        torch.save(torch.ones(3), bad)
        expected = "not a checkpoint dictionary"
    elif kind == "not-a-checkpoint":
        torch.save({"weights": torch.ones(3)}, bad)
        expected = "no 'state_dict' entry"
    else:
        checkpoint = torch.load(good, weights_only=True)
        if kind == "newer":
            checkpoint["pytorch-lightning_version"] = "3.1.0"
            expected = "written by Lightning 3.1.0, a newer major version"
        else:
            checkpoint["lit_version"] = "99.0.0"
            expected = "written by lit 99.0.0, newer than this lit"
        torch.save(checkpoint, bad)
    trainer = make_trainer(tmp_path, max_steps=2)
    with pytest.raises(CheckpointLoadError, match=expected) as info:
        trainer.fit(BoringModel(), ckpt_path=bad)
    assert str(bad) in str(info.value)


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    trainer = make_trainer(tmp_path, max_steps=1)
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        trainer.validate(BoringModel(), ckpt_path=tmp_path / "nope.ckpt")


# --------------------------------------------------------------------------------------- (e) malicious pickles
class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (os.mkdir, (self.marker,))


def _malicious(tmp_path: Path, marker: Path) -> bytes:
    good = _good_checkpoint(tmp_path)
    checkpoint = torch.load(good, weights_only=True)
    checkpoint["callbacks"] = {"evil": _Payload(str(marker))}
    path = tmp_path / "evil.ckpt"
    torch.save(checkpoint, path)
    return path.read_bytes()


def test_malicious_pickle_in_a_local_file_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _malicious(tmp_path, marker)
    trainer = make_trainer(tmp_path, max_steps=2)
    with pytest.raises(CheckpointLoadError, match="safe loading") as info:
        trainer.fit(BoringModel(), ckpt_path=tmp_path / "evil.ckpt")
    assert "evil.ckpt" in str(info.value)
    assert not marker.exists()
    with pytest.raises(RuntimeError, match="evil.ckpt"):
        BoringModel.load_from_checkpoint(tmp_path / "evil.ckpt")
    assert not marker.exists()


def test_malicious_pickle_behind_an_fsspec_url_does_not_run(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    marker = tmp_path / "pwned"
    data = _malicious(tmp_path, marker)
    fs = fsspec.filesystem("memory")
    with fs.open("/faults/evil.ckpt", "wb") as f:
        f.write(data)
    trainer = make_trainer(tmp_path, max_steps=2)
    with pytest.raises(CheckpointLoadError, match="safe loading"):
        trainer.fit(BoringModel(), ckpt_path="memory://faults/evil.ckpt")
    assert not marker.exists()
    fs.rm("/faults", recursive=True)
