from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lit_hooks import ClusterEnvironmentProtocol, MissingExtraError, module_available, rank_zero_only
from lit_strategies import (
    KubeflowEnvironment,
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
    XLAEnvironment,
    find_free_network_port,
)


def test_lightning_environment_defaults(clean_env: pytest.MonkeyPatch) -> None:
    env = LightningEnvironment()
    assert isinstance(env, ClusterEnvironmentProtocol)
    assert not env.creates_processes_externally
    assert env.main_address == "127.0.0.1"
    port = env.main_port
    assert 0 < port < 65536 and env.main_port == port  # chosen once
    assert (env.world_size(), env.global_rank(), env.local_rank(), env.node_rank()) == (1, 0, 0, 0)
    assert LightningEnvironment.detect()


def test_lightning_environment_reads_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MASTER_ADDR", "10.0.0.7")
    clean_env.setenv("MASTER_PORT", "29511")
    clean_env.setenv("LOCAL_RANK", "3")
    clean_env.setenv("GROUP_RANK", "2")
    env = LightningEnvironment()
    assert env.creates_processes_externally
    assert (env.main_address, env.main_port, env.local_rank(), env.node_rank()) == ("10.0.0.7", 29511, 3, 2)
    clean_env.setenv("NODE_RANK", "5")  # NODE_RANK wins over GROUP_RANK
    assert env.node_rank() == 5


def test_lightning_environment_setters_and_teardown(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setattr(rank_zero_only, "rank", rank_zero_only.rank)  # restored after the test
    env = LightningEnvironment()
    env.set_world_size(4)
    env.set_global_rank(2)
    assert (env.world_size(), env.global_rank(), rank_zero_only.rank) == (4, 2, 2)
    clean_env.setenv("WORLD_SIZE", "4")
    env.teardown()
    import os

    assert "WORLD_SIZE" not in os.environ


def test_find_free_network_port(clean_env: pytest.MonkeyPatch) -> None:
    port = find_free_network_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", port))  # really free
    clean_env.setenv("STANDALONE_PORT", "12345")
    assert find_free_network_port() == 12345


def test_torchelastic_environment(clean_env: pytest.MonkeyPatch) -> None:
    assert not TorchElasticEnvironment.detect()
    clean_env.setenv("TORCHELASTIC_RUN_ID", "abc")
    assert TorchElasticEnvironment.detect()
    env = TorchElasticEnvironment()
    with pytest.raises(KeyError, match="`WORLD_SIZE`.*torchrun"):
        env.world_size()
    for key, value in {"WORLD_SIZE": "8", "RANK": "5", "LOCAL_RANK": "1", "GROUP_RANK": "2"}.items():
        clean_env.setenv(key, value)
    assert (env.world_size(), env.global_rank(), env.local_rank(), env.node_rank()) == (8, 5, 1, 2)
    env.set_global_rank(0)
    env.set_world_size(1)  # ignored: the launcher owns them
    assert (env.world_size(), env.global_rank()) == (8, 5)
    assert env.creates_processes_externally
    with pytest.warns(UserWarning, match="MASTER_ADDR"):
        assert env.main_address == "127.0.0.1"
    with pytest.warns(UserWarning, match="MASTER_PORT"):
        assert env.main_port == 12910
    env.validate_settings(num_devices=4, num_nodes=2)
    with pytest.raises(
        ValueError, match=r"devices=3.*num_nodes=2.*\(3 \* 2\) does not match the world size \(8\)"
    ):
        env.validate_settings(num_devices=3, num_nodes=2)


def _set_slurm(env: pytest.MonkeyPatch, **values: str) -> None:
    base = {
        "SLURM_NTASKS": "4",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NNODES": "2",
        "SLURM_PROCID": "3",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
        "SLURM_JOB_ID": "1234567",
        "SLURM_JOB_NAME": "train",
        "SLURM_NODELIST": "gpu[05-06]",
    }
    base.update(values)
    for key, value in base.items():
        env.setenv(key, value)


def test_slurm_environment(clean_env: pytest.MonkeyPatch) -> None:
    assert not SLURMEnvironment.detect()
    _set_slurm(clean_env)
    assert SLURMEnvironment.detect()
    env = SLURMEnvironment()
    assert isinstance(env, ClusterEnvironmentProtocol)
    assert env.creates_processes_externally
    assert (env.world_size(), env.global_rank(), env.local_rank(), env.node_rank()) == (4, 3, 1, 1)
    assert env.main_address == "gpu05"
    assert env.main_port == 4567 + 15000
    assert env.auto_requeue and env.requeue_signal == signal.SIGUSR1
    assert SLURMEnvironment.job_name() == "train" and SLURMEnvironment.job_id() == 1234567
    env.validate_settings(num_devices=2, num_nodes=2)
    with pytest.raises(ValueError, match=r"--ntasks-per-node=2.*HINT: Set `devices=2`"):
        env.validate_settings(num_devices=4, num_nodes=2)
    with pytest.raises(ValueError, match=r"--nodes=2.*HINT: Set `num_nodes=2`"):
        env.validate_settings(num_devices=2, num_nodes=1)


def test_slurm_respects_master_variables_and_options(clean_env: pytest.MonkeyPatch) -> None:
    _set_slurm(clean_env, MASTER_ADDR="head", MASTER_PORT="23456")
    env = SLURMEnvironment(auto_requeue=False, requeue_signal=signal.SIGHUP)
    assert (env.main_address, env.main_port) == ("head", 23456)
    assert not env.auto_requeue and env.requeue_signal == signal.SIGHUP


def test_slurm_interactive_jobs_are_not_detected(clean_env: pytest.MonkeyPatch) -> None:
    _set_slurm(clean_env, SLURM_JOB_NAME="interactive")
    assert not SLURMEnvironment.detect()
    assert SLURMEnvironment.job_id() is None


def test_slurm_rejects_ntasks_without_ntasks_per_node(clean_env: pytest.MonkeyPatch) -> None:
    _set_slurm(clean_env)
    clean_env.delenv("SLURM_NTASKS_PER_NODE")
    with pytest.raises(RuntimeError, match=r"--ntasks=4.*--ntasks-per-node=4"):
        SLURMEnvironment()


@pytest.mark.parametrize(
    ("nodelist", "root"),
    [
        ("host0", "host0"),
        ("host0 host1 host3", "host0"),
        ("host0,host1", "host0"),
        ("host[5-9]", "host5"),
        ("alpha[05-09,12],beta7", "alpha05"),
        ("node[1,3]", "node1"),
        ("a[1-2],b[3]", "a1"),
        ("rack1-node[7]", "rack1-node7"),
    ],
)
def test_slurm_root_node_address(nodelist: str, root: str) -> None:
    assert SLURMEnvironment.resolve_root_node_address(nodelist) == root


_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)


@given(
    prefix=_NAME,
    first=st.integers(0, 99),
    width=st.integers(1, 3),
    others=st.lists(_NAME, max_size=3),
    sep=st.sampled_from([",", " "]),
)
def test_slurm_root_node_is_first_host_of_any_list(
    prefix: str, first: int, width: int, others: list[str], sep: str
) -> None:
    number = str(first).zfill(width)
    entry = f"{prefix}[{number}-{number}9,{number}7]"
    nodelist = sep.join([entry, *others])
    assert SLURMEnvironment.resolve_root_node_address(nodelist) == f"{prefix}{number}"
    # Lightning's regular-expression rule agrees on these forms
    lightning = re.sub(r"\[(.*?)[,-].*\]", "\\1", nodelist)
    lightning = re.sub(r"\[(.*?)\]", "\\1", lightning).split(" ")[0].split(",")[0]
    assert lightning == f"{prefix}{number}"


def test_lsf_environment(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rankfile = tmp_path / "ranks"
    rankfile.write_text("launch\nnodeA\nnodeA\nnodeB\nnodeB\n")
    assert not LSFEnvironment.detect()
    for key, value in {
        "LSB_JOBID": "4321",
        "LSB_DJOB_RANKFILE": str(rankfile),
        "JSM_NAMESPACE_LOCAL_RANK": "1",
        "JSM_NAMESPACE_SIZE": "4",
        "JSM_NAMESPACE_RANK": "3",
    }.items():
        clean_env.setenv(key, value)
    clean_env.setattr(socket, "gethostname", lambda: "nodeB")
    assert LSFEnvironment.detect()
    env = LSFEnvironment()
    assert (env.main_address, env.main_port) == ("nodeA", 4321 % 1000 + 10000)
    assert (env.world_size(), env.global_rank(), env.local_rank(), env.node_rank()) == (4, 3, 1, 1)
    import os

    assert (os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]) == ("nodeA", "10321")
    clean_env.delenv("JSM_NAMESPACE_RANK")
    with pytest.raises(ValueError, match="JSM_NAMESPACE_RANK.*jsrun"):
        env.global_rank()


def test_lsf_environment_errors(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LSB_DJOB_RANKFILE"):
        LSFEnvironment()
    rankfile = tmp_path / "ranks"
    rankfile.write_text("launch\n")
    clean_env.setenv("LSB_DJOB_RANKFILE", str(rankfile))
    with pytest.raises(ValueError, match="no compute host"):
        LSFEnvironment()


def test_kubeflow_environment(clean_env: pytest.MonkeyPatch) -> None:
    for key, value in {
        "MASTER_ADDR": "master-0",
        "MASTER_PORT": "23456",
        "WORLD_SIZE": "3",
        "RANK": "2",
    }.items():
        clean_env.setenv(key, value)
    env = KubeflowEnvironment()
    assert (env.main_address, env.main_port, env.world_size(), env.global_rank()) == ("master-0", 23456, 3, 2)
    assert (env.local_rank(), env.node_rank()) == (0, 2)
    with pytest.raises(NotImplementedError, match="can't be detected automatically"):
        KubeflowEnvironment.detect()


def test_optional_backend_environments_name_their_extra() -> None:
    if module_available("mpi4py") or module_available("torch_xla"):
        pytest.skip("needs an environment without mpi4py and torch_xla")
    assert not MPIEnvironment.detect()
    with pytest.raises(MissingExtraError, match=r"`MPIEnvironment` requires `mpi4py`.*lit-strategies\[mpi\]"):
        MPIEnvironment()
    assert not XLAEnvironment.detect()
    with pytest.raises(MissingExtraError, match=r"lit-strategies\[xla\]"):
        XLAEnvironment()
