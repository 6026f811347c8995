from __future__ import annotations

import json
import logging
import pickle
import pstats
import time
from pathlib import Path

import pytest
import torch

from lit_callbacks import (
    AdvancedProfiler,
    PassThroughProfiler,
    PyTorchProfiler,
    SimpleProfiler,
    XLAProfiler,
    profiler_from_alias,
)
from lit_hooks import MissingExtraError


def test_simple_profiler_records_and_reports(tmp_path: Path) -> None:
    p = SimpleProfiler(dirpath=tmp_path, filename="perf")
    p.setup("fit", local_rank=0)
    for _ in range(3):
        with p.profile("run_training_batch"):
            time.sleep(0.002)
    with p.profile("on_train_end"):
        pass
    assert len(p.recorded_durations["run_training_batch"]) == 3
    assert all(d >= 0.002 for d in p.recorded_durations["run_training_batch"])
    p.describe()
    report = (tmp_path / "fit-perf-0.txt").read_text()
    assert report.startswith("FIT Profiler Report")
    assert "Mean duration (s)" in report and "Num calls" in report and "Percentage %" in report
    row = next(line for line in report.splitlines() if "run_training_batch" in line)
    assert "|  3  " in row.replace("\t", "  ")
    # the busiest action comes first
    lines = [line for line in report.splitlines() if line.startswith("|  ")]
    assert "Total" in lines[1] and "run_training_batch" in lines[2]


def test_simple_profiler_not_extended_and_errors(caplog: pytest.LogCaptureFixture) -> None:
    p = SimpleProfiler(extended=False)
    with p.profile("a"):
        pass
    summary = p.summary()
    assert "Total time (s)" in summary and "Num calls" not in summary
    with pytest.raises(ValueError, match="never started"):
        p.stop("b")
    p.start("c")
    with pytest.raises(ValueError, match="already started"):
        p.start("c")
    with caplog.at_level(logging.INFO):
        p.describe()  # no file name: the report is logged
    assert "Profiler Report" in caplog.text


def test_advanced_profiler_cprofile_and_dump_stats(tmp_path: Path) -> None:
    p = AdvancedProfiler(dirpath=tmp_path, filename="adv", dump_stats=True, line_count_restriction=5)
    p.setup("fit", local_rank=1)

    def work() -> int:
        return sum(i * i for i in range(2000))

    with p.profile("step"):
        work()
    with p.profile("step"):
        work()
    summary = p.summary()
    assert "Profile stats for: step rank: 1" in summary
    assert "work" in summary and "ncalls" in summary
    stats = pstats.Stats(str(tmp_path / "fit-adv-1-step.prof"))
    assert any(key[2] == "work" and value[0] == 2 for key, value in stats.stats.items())  # type: ignore[attr-defined]
    p.describe()
    assert (tmp_path / "fit-adv-1.txt").exists()
    assert isinstance(pickle.loads(pickle.dumps(p)), AdvancedProfiler)
    with pytest.raises(ValueError, match="never started"):
        AdvancedProfiler().stop("x")


def test_pytorch_profiler_table_trace_and_module_names(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    p = PyTorchProfiler(dirpath=tmp_path, filename="pt", row_limit=50)
    p.setup("fit", local_rank=0)
    p._lightning_module = model
    for _ in range(2):
        with p.profile("[LightningModule]Model.training_step"):
            model(torch.randn(2, 4)).sum()
    summary = p.summary()
    assert "[LightningModule]Model.training_step" in summary
    assert "aten::linear" in summary or "aten::addmm" in summary
    assert "[pl][module]torch.nn.modules.linear.Linear: 0" in summary
    trace = json.loads((tmp_path / "fit-pt-0.pt.trace.json").read_text())
    names = {e.get("name") for e in trace["traceEvents"]}
    assert "[LightningModule]Model.training_step" in names
    # hooks are removed afterwards
    assert not model[0]._forward_pre_hooks and not model[0]._forward_hooks
    with pytest.raises(ValueError, match="sort_by_key"):
        PyTorchProfiler(sort_by_key="nonsense")
    with pytest.raises(TypeError, match="unexpected keyword"):
        PyTorchProfiler(not_an_arg=1)


def test_passthrough_and_aliases() -> None:
    p = PassThroughProfiler()
    assert p.profile("a") is p.profile("b")  # a shared null context: nothing allocated per call
    with p.profile("a"):
        pass
    assert p.summary() == ""
    assert type(profiler_from_alias("simple")) is SimpleProfiler
    assert type(profiler_from_alias("Advanced")) is AdvancedProfiler
    assert type(profiler_from_alias("pytorch")) is PyTorchProfiler
    with pytest.raises(ValueError, match="'simple', 'advanced', 'pytorch', 'xla'"):
        profiler_from_alias("fancy")


def test_log_dir_and_one_file_per_rank(tmp_path: Path) -> None:
    for rank in (0, 1):
        p = SimpleProfiler(filename="perf")
        p.setup("validate", local_rank=rank, log_dir=str(tmp_path))
        with p.profile("x"):
            pass
        p.describe()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["validate-perf-0.txt", "validate-perf-1.txt"]


def test_xla_profiler_needs_torch_xla() -> None:
    pytest.importorskip("torch", reason="torch")
    try:
        import torch_xla  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="torch_xla"):
            XLAProfiler()
    else:  # pragma: no cover - only on TPU hosts
        assert XLAProfiler().port == 9012
