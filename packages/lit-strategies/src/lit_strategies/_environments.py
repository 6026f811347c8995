"""Cluster environments: where the current process sits in a job (ranks, world size, rendezvous address)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sys
from abc import ABC, abstractmethod
from typing import Any

import torch
from typing_extensions import override

from lit_hooks import MissingExtraError, PossibleUserWarning, RequirementCache, rank_zero_only, rank_zero_warn

__all__ = [
    "ClusterEnvironment",
    "KubeflowEnvironment",
    "LSFEnvironment",
    "LightningEnvironment",
    "MPIEnvironment",
    "SLURMEnvironment",
    "TorchElasticEnvironment",
    "XLAEnvironment",
    "find_free_network_port",
]

log = logging.getLogger(__name__)

_MPI4PY_AVAILABLE = RequirementCache("mpi4py")
_XLA_AVAILABLE = RequirementCache("torch_xla")
_IS_WINDOWS = sys.platform == "win32"


class ClusterEnvironment(ABC):
    """Base class of cluster environments (implements :class:`lit_hooks.ClusterEnvironmentProtocol`).

    An environment tells a strategy how many processes take part, which one this is, where the rank-zero process
    listens, and whether the processes are started by the environment (torchrun, srun, jsrun, mpirun) or by lit.
    """

    @property
    @abstractmethod
    def creates_processes_externally(self) -> bool:
        """Whether the environment starts the processes (``True``) or lit's launcher must do it."""

    @property
    @abstractmethod
    def main_address(self) -> str:
        """Address of the rank-zero process, for the process-group rendezvous."""

    @property
    @abstractmethod
    def main_port(self) -> int:
        """Port of the rendezvous on :attr:`main_address`."""

    @staticmethod
    @abstractmethod
    def detect() -> bool:
        """Whether the current process runs inside this environment."""

    @abstractmethod
    def world_size(self) -> int:
        """Number of processes across all nodes."""

    @abstractmethod
    def set_world_size(self, size: int) -> None:
        """Record the world size (environments that read it from the job ignore this)."""

    @abstractmethod
    def global_rank(self) -> int:
        """Rank of this process among all processes."""

    @abstractmethod
    def set_global_rank(self, rank: int) -> None:
        """Record the global rank (environments that read it from the job ignore this)."""

    @abstractmethod
    def local_rank(self) -> int:
        """Rank of this process on its node."""

    @abstractmethod
    def node_rank(self) -> int:
        """Index of the node this process runs on."""

    def validate_settings(self, num_devices: int, num_nodes: int) -> None:  # noqa: B027
        """Raise if ``devices``/``num_nodes`` contradict the environment (nothing to check by default)."""

    def teardown(self) -> None:  # noqa: B027
        """Clean up state set by the environment (nothing by default)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def find_free_network_port() -> int:
    """A free TCP port on this machine (or ``$STANDALONE_PORT`` when set)."""
    if "STANDALONE_PORT" in os.environ:
        return int(os.environ["STANDALONE_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _env_int(name: str, environment: str, hint: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise KeyError(f"`{environment}` needs the environment variable `{name}`, which is not set. {hint}")
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"`{environment}` read `{name}={value!r}`, which is not an integer. {hint}"
        ) from None


# -------------------------------------------------------------------------------------------------- Lightning
class LightningEnvironment(ClusterEnvironment):
    """The default environment for one machine or an unmanaged cluster.

    Either only the main process is started (``python train.py``) and lit launches the others, or every process
    is started by the user with ``LOCAL_RANK`` (and ``NODE_RANK``, ``WORLD_SIZE``...) set. ``MASTER_ADDR`` defaults
    to ``127.0.0.1`` and ``MASTER_PORT`` to a free port chosen once.

    Example:
        >>> env = LightningEnvironment()
        >>> env.set_world_size(2); env.set_global_rank(1)
        >>> env.world_size(), env.global_rank()
        (2, 1)
    """

    def __init__(self) -> None:
        super().__init__()
        self._main_port: int = -1
        self._global_rank: int = 0
        self._world_size: int = 1

    @property
    @override
    def creates_processes_externally(self) -> bool:
        """``True`` when ``LOCAL_RANK`` is set: the user (or a tool) launched the processes."""
        return "LOCAL_RANK" in os.environ

    @property
    @override
    def main_address(self) -> str:
        return os.environ.get("MASTER_ADDR", "127.0.0.1")

    @property
    @override
    def main_port(self) -> int:
        if self._main_port == -1:
            port = os.environ.get("MASTER_PORT")
            self._main_port = int(port) if port is not None else find_free_network_port()
        return self._main_port

    @staticmethod
    @override
    def detect() -> bool:
        return True

    @override
    def world_size(self) -> int:
        return self._world_size

    @override
    def set_world_size(self, size: int) -> None:
        self._world_size = size

    @override
    def global_rank(self) -> int:
        return self._global_rank

    @override
    def set_global_rank(self, rank: int) -> None:
        self._global_rank = rank
        rank_zero_only.rank = rank  # type: ignore[attr-defined]

    @override
    def local_rank(self) -> int:
        return int(os.environ.get("LOCAL_RANK", "0"))

    @override
    def node_rank(self) -> int:
        group_rank = os.environ.get("GROUP_RANK", "0")
        return int(os.environ.get("NODE_RANK", group_rank))

    @override
    def teardown(self) -> None:
        os.environ.pop("WORLD_SIZE", None)


# -------------------------------------------------------------------------------------------------- TorchElastic
class TorchElasticEnvironment(ClusterEnvironment):
    """Processes started by ``torchrun`` / TorchElastic (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``GROUP_RANK``)."""

    @property
    @override
    def creates_processes_externally(self) -> bool:
        return True

    @property
    @override
    def main_address(self) -> str:
        if "MASTER_ADDR" not in os.environ:
            rank_zero_warn("MASTER_ADDR environment variable is not defined. Set as localhost")
            os.environ["MASTER_ADDR"] = "127.0.0.1"
        return os.environ["MASTER_ADDR"]

    @property
    @override
    def main_port(self) -> int:
        if "MASTER_PORT" not in os.environ:
            rank_zero_warn("MASTER_PORT environment variable is not defined. Set as 12910")
            os.environ["MASTER_PORT"] = "12910"
        return int(os.environ["MASTER_PORT"])

    @staticmethod
    @override
    def detect() -> bool:
        """``True`` when the process was started by ``torchrun`` (``TORCHELASTIC_RUN_ID`` is set)."""
        return torch.distributed.is_available() and torch.distributed.is_torchelastic_launched()

    @override
    def world_size(self) -> int:
        return _env_int("WORLD_SIZE", type(self).__name__, "Launch the script with `torchrun`.")

    @override
    def set_world_size(self, size: int) -> None:
        log.debug(
            "TorchElasticEnvironment.set_world_size was called, but setting world size is not allowed. Ignored."
        )

    @override
    def global_rank(self) -> int:
        return _env_int("RANK", type(self).__name__, "Launch the script with `torchrun`.")

    @override
    def set_global_rank(self, rank: int) -> None:
        log.debug(
            "TorchElasticEnvironment.set_global_rank was called, but setting global rank is not allowed. Ignored."
        )

    @override
    def local_rank(self) -> int:
        return _env_int("LOCAL_RANK", type(self).__name__, "Launch the script with `torchrun`.")

    @override
    def node_rank(self) -> int:
        return int(os.environ.get("GROUP_RANK", "0"))

    @override
    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        if num_devices * num_nodes != self.world_size():
            raise ValueError(
                f"You set `devices={num_devices}` and `num_nodes={num_nodes}` in Lightning, but the product"
                f" ({num_devices} * {num_nodes}) does not match the world size ({self.world_size()})."
            )


# -------------------------------------------------------------------------------------------------- SLURM
def _slurm_interactive() -> bool:
    return os.environ.get("SLURM_JOB_NAME") in ("bash", "interactive")


def _srun_used() -> bool:
    return "SLURM_NTASKS" in os.environ and not _slurm_interactive()


def _first_host(nodes: str) -> str:
    """The first host of a SLURM node list: ``"a b"``, ``"a,b"``, ``"node[05-09,12]"``, ``"a[1-2],b[3]"``."""
    text = nodes.strip()
    depth = 0
    end = len(text)
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        elif depth == 0 and char in ", ":
            end = i
            break
    entry = text[:end]
    start = entry.find("[")
    if start == -1:
        return entry
    stop = entry.find("]", start)
    inner = entry[start + 1 : stop if stop != -1 else len(entry)]
    first = inner.split(",")[0].split("-")[0]
    return entry[:start] + first + (entry[stop + 1 :] if stop != -1 else "")


class SLURMEnvironment(ClusterEnvironment):
    """A job started with ``srun`` on a SLURM cluster (ranks from ``SLURM_PROCID``/``SLURM_LOCALID``/``SLURM_NODEID``).

    The main address is ``MASTER_ADDR`` or the first host of ``SLURM_NODELIST``; the main port is ``MASTER_PORT``
    or derived from the last four digits of ``SLURM_JOB_ID`` (``+ 15000``). Jobs named ``bash`` or
    ``interactive`` are not detected as SLURM jobs, so another environment can be used inside them.

    Args:
        auto_requeue: Whether the job should be resubmitted when SLURM signals that its time is up.
        requeue_signal: The signal SLURM sends before the time limit; ``SIGUSR1`` by default (not on Windows).

    Raises:
        RuntimeError: If ``--ntasks`` is set without ``--ntasks-per-node`` (a common ``srun`` mistake).
    """

    def __init__(self, auto_requeue: bool = True, requeue_signal: signal.Signals | None = None) -> None:
        super().__init__()
        self.auto_requeue = auto_requeue
        if requeue_signal is None and not _IS_WINDOWS:
            requeue_signal = signal.SIGUSR1
        self.requeue_signal = requeue_signal
        self._validate_srun_used()
        self._validate_srun_variables()

    @property
    @override
    def creates_processes_externally(self) -> bool:
        return True

    @property
    @override
    def main_address(self) -> str:
        root_node = os.environ.get("MASTER_ADDR")
        if root_node is None:
            root_node = self.resolve_root_node_address(os.environ.get("SLURM_NODELIST", "127.0.0.1"))
            os.environ["MASTER_ADDR"] = root_node
        return root_node

    @property
    @override
    def main_port(self) -> int:
        if "MASTER_PORT" in os.environ:
            return int(os.environ["MASTER_PORT"])
        job_id = os.environ.get("SLURM_JOB_ID")
        # every process of the job derives the same port from the job id
        port = int(job_id[-4:]) + 15000 if job_id is not None and job_id[-4:].isdigit() else 12910
        os.environ["MASTER_PORT"] = str(port)
        return port

    @staticmethod
    @override
    def detect() -> bool:
        """``True`` when the process was started by ``srun`` (and the job is not named ``bash``/``interactive``)."""
        SLURMEnvironment._validate_srun_used()
        return _srun_used()

    @staticmethod
    def job_name() -> str | None:
        """``SLURM_JOB_NAME``."""
        return os.environ.get("SLURM_JOB_NAME")

    @staticmethod
    def job_id() -> int | None:
        """``SLURM_JOB_ID`` as an int, or ``None`` (also in interactive jobs)."""
        if _slurm_interactive():
            return None
        job_id = os.environ.get("SLURM_JOB_ID")
        if job_id is None:
            return None
        try:
            return int(job_id)
        except ValueError:
            return None

    @override
    def world_size(self) -> int:
        return _env_int("SLURM_NTASKS", type(self).__name__, "Launch the processes with `srun`.")

    @override
    def set_world_size(self, size: int) -> None:
        log.debug(
            "SLURMEnvironment.set_world_size was called, but setting world size is not allowed. Ignored."
        )

    @override
    def global_rank(self) -> int:
        return _env_int("SLURM_PROCID", type(self).__name__, "Launch the processes with `srun`.")

    @override
    def set_global_rank(self, rank: int) -> None:
        log.debug(
            "SLURMEnvironment.set_global_rank was called, but setting global rank is not allowed. Ignored."
        )

    @override
    def local_rank(self) -> int:
        return _env_int("SLURM_LOCALID", type(self).__name__, "Launch the processes with `srun`.")

    @override
    def node_rank(self) -> int:
        return _env_int("SLURM_NODEID", type(self).__name__, "Launch the processes with `srun`.")

    @override
    def validate_settings(self, num_devices: int, num_nodes: int) -> None:
        if _slurm_interactive():
            return
        ntasks_per_node = os.environ.get("SLURM_NTASKS_PER_NODE")
        if ntasks_per_node is not None and ntasks_per_node.isdigit() and int(ntasks_per_node) != num_devices:
            raise ValueError(
                f"You set `devices={num_devices}` in Lightning, but the number of tasks per node configured in SLURM"
                f" `--ntasks-per-node={ntasks_per_node}` does not match. HINT: Set `devices={ntasks_per_node}`."
            )
        nnodes = os.environ.get("SLURM_NNODES")
        if nnodes is not None and int(nnodes) != num_nodes:
            raise ValueError(
                f"You set `num_nodes={num_nodes}` in Lightning, but the number of nodes configured in SLURM"
                f" `--nodes={nnodes}` does not match. HINT: Set `num_nodes={nnodes}`."
            )

    @staticmethod
    def resolve_root_node_address(nodes: str) -> str:
        """The first host of a SLURM node list.

        Example:
            >>> SLURMEnvironment.resolve_root_node_address("gpu[05-09,12],cpu1")
            'gpu05'
            >>> SLURMEnvironment.resolve_root_node_address("host3 host4")
            'host3'
        """
        return _first_host(nodes)

    @staticmethod
    def _validate_srun_used() -> None:
        if _IS_WINDOWS:
            return
        if shutil.which("srun") is not None and not _srun_used():
            hint = " ".join(["srun", os.path.basename(sys.executable), *sys.argv])[:64]
            rank_zero_warn(
                "The `srun` command is available on your system but is not used. HINT: If your intention is to run"
                f" Lightning on SLURM, prepend your python command with `srun` like so: {hint} ...",
                category=PossibleUserWarning,
            )

    @staticmethod
    def _validate_srun_variables() -> None:
        ntasks = int(os.environ.get("SLURM_NTASKS", "1"))
        if ntasks > 1 and "SLURM_NTASKS_PER_NODE" not in os.environ:
            raise RuntimeError(
                f"You set `--ntasks={ntasks}` in your SLURM bash script, but this variable is not supported."
                f" HINT: Use `--ntasks-per-node={ntasks}` instead."
            )

    @override
    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(auto_requeue={self.auto_requeue}, requeue_signal={self.requeue_signal!r})"
        )


# -------------------------------------------------------------------------------------------------- LSF
class LSFEnvironment(ClusterEnvironment):
    """A job on an IBM LSF cluster started with ``jsrun``.

    Reads ``LSB_JOBID``, ``LSB_DJOB_RANKFILE`` (the host rank file; its first line is the launch node),
    ``JSM_NAMESPACE_SIZE``, ``JSM_NAMESPACE_RANK`` and ``JSM_NAMESPACE_LOCAL_RANK``. The main address is the first
    compute host, the port ``MASTER_PORT`` or ``LSB_JOBID % 1000 + 10000``, the node rank the position of this host
    among the distinct compute hosts. Construction sets ``MASTER_ADDR`` and ``MASTER_PORT``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._main_address = self._read_hosts()[0]
        self._main_port = self._get_main_port()
        self._node_rank = self._get_node_rank()
        os.environ["MASTER_ADDR"] = str(self._main_address)
        os.environ["MASTER_PORT"] = str(self._main_port)

    @property
    @override
    def creates_processes_externally(self) -> bool:
        return True

    @property
    @override
    def main_address(self) -> str:
        return self._main_address

    @property
    @override
    def main_port(self) -> int:
        return self._main_port

    @staticmethod
    @override
    def detect() -> bool:
        required = {"LSB_JOBID", "LSB_DJOB_RANKFILE", "JSM_NAMESPACE_LOCAL_RANK", "JSM_NAMESPACE_SIZE"}
        return required.issubset(os.environ.keys())

    def _jsm(self, name: str, what: str) -> int:
        value = os.environ.get(name)
        if value is None:
            raise ValueError(
                f"Cannot determine {what}. Environment variable `{name}` not found."
                " Make sure you run your executable with `jsrun`."
            )
        return int(value)

    @override
    def world_size(self) -> int:
        return self._jsm("JSM_NAMESPACE_SIZE", "world size")

    @override
    def set_world_size(self, size: int) -> None:
        log.debug("LSFEnvironment.set_world_size was called, but setting world size is not allowed. Ignored.")

    @override
    def global_rank(self) -> int:
        return self._jsm("JSM_NAMESPACE_RANK", "global rank")

    @override
    def set_global_rank(self, rank: int) -> None:
        log.debug(
            "LSFEnvironment.set_global_rank was called, but setting global rank is not allowed. Ignored."
        )

    @override
    def local_rank(self) -> int:
        return self._jsm("JSM_NAMESPACE_LOCAL_RANK", "local rank")

    @override
    def node_rank(self) -> int:
        return self._node_rank

    def _get_node_rank(self) -> int:
        distinct: dict[str, int] = {}
        for host in self._read_hosts():
            distinct.setdefault(host, len(distinct))
        hostname = socket.gethostname()
        if hostname not in distinct:
            raise ValueError(
                f"This host ({hostname!r}) is not listed in the LSF rank file `LSB_DJOB_RANKFILE`"
                f" (hosts: {sorted(distinct)}). Run the job with `jsrun`."
            )
        return distinct[hostname]

    @staticmethod
    def _read_hosts() -> list[str]:
        rankfile = os.environ.get("LSB_DJOB_RANKFILE")
        if rankfile is None:
            raise ValueError("Did not find the environment variable `LSB_DJOB_RANKFILE`")
        if not rankfile:
            raise ValueError("The environment variable `LSB_DJOB_RANKFILE` is empty")
        with open(rankfile) as f:
            hosts = [line.strip() for line in f if line.strip()]
        # the first line is the launch node, which runs no training process
        if len(hosts) < 2:
            raise ValueError(
                f"The LSF rank file {rankfile!r} lists no compute host (only the launch node). Run with `jsrun`."
            )
        return hosts[1:]

    @staticmethod
    def _get_main_port() -> int:
        if "MASTER_PORT" in os.environ:
            return int(os.environ["MASTER_PORT"])
        if "LSB_JOBID" in os.environ:
            return int(os.environ["LSB_JOBID"]) % 1000 + 10000
        raise ValueError("Could not find job id in environment variable LSB_JOBID")


# -------------------------------------------------------------------------------------------------- Kubeflow
class KubeflowEnvironment(ClusterEnvironment):
    """A Kubeflow ``PyTorchJob`` (one process per pod; pass it explicitly, it is never auto-detected)."""

    @property
    @override
    def creates_processes_externally(self) -> bool:
        return True

    @property
    @override
    def main_address(self) -> str:
        return os.environ["MASTER_ADDR"]

    @property
    @override
    def main_port(self) -> int:
        return int(os.environ["MASTER_PORT"])

    @staticmethod
    @override
    def detect() -> bool:
        raise NotImplementedError("The Kubeflow environment can't be detected automatically.")

    @override
    def world_size(self) -> int:
        return _env_int("WORLD_SIZE", type(self).__name__, "Run the job as a Kubeflow PyTorchJob.")

    @override
    def set_world_size(self, size: int) -> None:
        log.debug(
            "KubeflowEnvironment.set_world_size was called, but setting world size is not allowed. Ignored."
        )

    @override
    def global_rank(self) -> int:
        return _env_int("RANK", type(self).__name__, "Run the job as a Kubeflow PyTorchJob.")

    @override
    def set_global_rank(self, rank: int) -> None:
        log.debug(
            "KubeflowEnvironment.set_global_rank was called, but setting global rank is not allowed. Ignored."
        )

    @override
    def local_rank(self) -> int:
        return 0

    @override
    def node_rank(self) -> int:
        return self.global_rank()


# -------------------------------------------------------------------------------------------------- MPI
class MPIEnvironment(ClusterEnvironment):
    """Processes started by ``mpirun``/``mpiexec``; ranks and the rendezvous come from ``mpi4py``.

    Raises:
        MissingExtraError: At construction, if ``mpi4py`` is not installed (``pip install 'lit-strategies[mpi]'``).
    """

    def __init__(self) -> None:
        if not _MPI4PY_AVAILABLE:
            raise MissingExtraError(type(self).__name__, "mpi4py", "mpi", "lit-strategies")
        from mpi4py import MPI  # pants: no-infer-dep

        self._comm_world: Any = MPI.COMM_WORLD
        self._comm_local: Any = None
        self._node_rank: int | None = None
        self._main_address: str | None = None
        self._main_port: int | None = None

    @property
    @override
    def creates_processes_externally(self) -> bool:
        return True

    @property
    @override
    def main_address(self) -> str:
        if self._main_address is None:
            self._main_address = self._comm_world.bcast(socket.gethostname(), root=0)
        return self._main_address

    @property
    @override
    def main_port(self) -> int:
        if self._main_port is None:
            self._main_port = self._comm_world.bcast(find_free_network_port(), root=0)
        return self._main_port

    @staticmethod
    @override
    def detect() -> bool:
        """``True`` when ``mpi4py`` is installed and MPI reports more than one process."""
        if not _MPI4PY_AVAILABLE:
            return False
        try:
            from mpi4py import MPI  # pants: no-infer-dep
        except ImportError:
            return False
        return bool(MPI.COMM_WORLD.Get_size() > 1)

    @override
    def world_size(self) -> int:
        return int(self._comm_world.Get_size())

    @override
    def set_world_size(self, size: int) -> None:
        log.debug("MPIEnvironment.set_world_size was called, but setting world size is not allowed. Ignored.")

    @override
    def global_rank(self) -> int:
        return int(self._comm_world.Get_rank())

    @override
    def set_global_rank(self, rank: int) -> None:
        log.debug(
            "MPIEnvironment.set_global_rank was called, but setting global rank is not allowed. Ignored."
        )

    @override
    def local_rank(self) -> int:
        if self._comm_local is None:
            self._init_comm_local()
        return int(self._comm_local.Get_rank())

    @override
    def node_rank(self) -> int:
        if self._node_rank is None:
            self._init_comm_local()
        assert self._node_rank is not None
        return self._node_rank

    def _init_comm_local(self) -> None:
        hostname = socket.gethostname()
        all_hostnames = self._comm_world.gather(hostname, root=0)
        unique_hosts = sorted(set(all_hostnames)) if all_hostnames is not None else []
        unique_hosts = self._comm_world.bcast(unique_hosts, root=0)
        self._node_rank = unique_hosts.index(hostname)
        self._comm_local = self._comm_world.Split(color=self._node_rank)


# -------------------------------------------------------------------------------------------------- XLA
class XLAEnvironment(ClusterEnvironment):
    """Processes on a TPU pod managed by ``torch_xla`` (ranks from the XLA runtime).

    Raises:
        MissingExtraError: At construction, if ``torch_xla`` is not installed (``pip install 'lit-strategies[xla]'``).
    """

    def __init__(self) -> None:
        if not _XLA_AVAILABLE:
            raise MissingExtraError(type(self).__name__, "torch_xla", "xla", "lit-strategies")
        super().__init__()

    @property
    @override
    def creates_processes_externally(self) -> bool:
        return False

    @property
    @override
    def main_address(self) -> str:
        raise NotImplementedError("The XLA runtime handles the rendezvous; `main_address` is not used.")

    @property
    @override
    def main_port(self) -> int:
        raise NotImplementedError("The XLA runtime handles the rendezvous; `main_port` is not used.")

    @staticmethod
    @override
    def detect() -> bool:
        from lit_strategies._accelerators import XLAAccelerator

        return XLAAccelerator.is_available()

    @override
    def world_size(self) -> int:
        from torch_xla import runtime as xr  # pants: no-infer-dep

        return int(xr.world_size())

    @override
    def set_world_size(self, size: int) -> None:
        log.debug("XLAEnvironment.set_world_size was called, but setting world size is not allowed. Ignored.")

    @override
    def global_rank(self) -> int:
        from torch_xla import runtime as xr  # pants: no-infer-dep

        return int(xr.global_ordinal())

    @override
    def set_global_rank(self, rank: int) -> None:
        log.debug(
            "XLAEnvironment.set_global_rank was called, but setting global rank is not allowed. Ignored."
        )

    @override
    def local_rank(self) -> int:
        from torch_xla import runtime as xr  # pants: no-infer-dep

        return int(xr.local_ordinal())

    @override
    def node_rank(self) -> int:
        from torch_xla import runtime as xr  # pants: no-infer-dep

        return int(xr.host_index())
