"""Signals during ``fit``: SIGTERM (and SIGUSR1 on SLURM) end the run after the current step, with a checkpoint.

The handler only records the signal; the training loop acts on it at the next step boundary, so the checkpoint
holds a consistent state (the step is complete, the data position and random states match it). Then:

- the checkpoint is written to ``<default_root_dir>/hpc_ckpt_<N>.ckpt`` (``fit(ckpt_path="hpc")`` resumes from the
  newest one);
- on SIGUSR1 under SLURM, the job is requeued with ``scontrol requeue $SLURM_JOB_ID`` when ``scontrol`` exists;
- :class:`SIGTERMException` is raised: ``on_exception`` and teardown run, and the process exits with status
  ``128 + signal`` (143 for SIGTERM), which no scheduler reads as success.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from types import FrameType
from typing import Any

from lit_hooks import rank_zero_info, rank_zero_warn

__all__ = ["SIGTERMException", "SignalConnector", "hpc_resume_path", "hpc_save_path"]

_HPC_NAME = re.compile(r"^hpc_ckpt_(\d+)\.ckpt$")


class SIGTERMException(SystemExit):
    """The run was ended by a termination signal; its exit status is ``128 + signal number``.

    Args:
        signum: The signal received.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)


def _hpc_numbers(folder: str) -> list[int]:
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [int(m.group(1)) for m in map(_HPC_NAME.match, names) if m is not None]


def hpc_save_path(folder: str) -> str:
    """The next ``hpc_ckpt_<N>.ckpt`` path in ``folder`` (``N`` one above the highest present, from 1)."""
    return os.path.join(folder, f"hpc_ckpt_{max(_hpc_numbers(folder), default=0) + 1}.ckpt")


def hpc_resume_path(folder: str) -> str | None:
    """The newest ``hpc_ckpt_<N>.ckpt`` in ``folder``, or ``None``."""
    numbers = _hpc_numbers(folder)
    return os.path.join(folder, f"hpc_ckpt_{max(numbers)}.ckpt") if numbers else None


def _on_slurm() -> bool:
    return "SLURM_JOB_ID" in os.environ and os.environ.get("SLURM_JOB_NAME") not in ("bash", "interactive")


class SignalConnector:
    """Installs the handlers for the duration of a ``fit`` call and acts on a received signal.

    Args:
        trainer: The Trainer.
    """

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer
        self._previous: dict[int, Any] = {}

    def register(self) -> None:
        """Install the handlers (main thread only; other threads cannot receive signals in Python)."""
        if threading.current_thread() is not threading.main_thread():
            return
        signals = [signal.SIGTERM]
        if _on_slurm() and hasattr(signal, "SIGUSR1"):
            signals.append(signal.SIGUSR1)
        for signum in signals:
            self._previous[signum] = signal.signal(signum, self._record)

    def teardown(self) -> None:
        """Put the previous handlers back."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            self.trainer.received_sigterm = True
        self.trainer._loop_runner.pending_signal = signum

    def handle(self, signum: int) -> None:
        """Called by the training loop at a step boundary: save, requeue on SLURM, then end the run."""
        trainer = self.trainer
        trainer._loop_runner.pending_signal = None
        name = signal.Signals(signum).name
        rank_zero_info(f"Received {name}: saving a checkpoint after the current step, then stopping.")
        folder = trainer.default_root_dir
        path = hpc_save_path(folder)
        trainer.save_checkpoint(path)
        rank_zero_info(f"Saved the checkpoint {path!r}; resume with `fit(..., ckpt_path='hpc')`.")
        if signum != signal.SIGTERM and _on_slurm() and trainer.is_global_zero:
            self._requeue()
        raise SIGTERMException(signum)

    @staticmethod
    def _requeue() -> None:
        scontrol = shutil.which("scontrol")
        job_id = os.environ.get("SLURM_ARRAY_JOB_ID")
        job_id = f"{job_id}_{os.environ['SLURM_ARRAY_TASK_ID']}" if job_id else os.environ["SLURM_JOB_ID"]
        if scontrol is None:
            rank_zero_warn(f"`scontrol` was not found: the SLURM job {job_id} was not requeued.")
            return
        result = subprocess.call([scontrol, "requeue", job_id])
        if result == 0:
            rank_zero_info(f"Requeued the SLURM job {job_id}.")
        else:
            rank_zero_warn(f"`scontrol requeue {job_id}` failed with exit status {result}.")
