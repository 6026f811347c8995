"""Profilers: time the trainer's actions (simple timings, cProfile, torch.profiler).

A profiler is an observer: the training loop wraps named actions (``"[Callback]EarlyStopping.on_train_end"``,
``"run_training_batch"`` ...) in ``profiler.profile(name)``; ``describe()`` writes the report to
``dirpath/filename`` (one file per stage and rank) or to the log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, ClassVar, TextIO

from lit_hooks import MissingExtraError, rank_zero_warn

log = logging.getLogger(__name__)


def _open(path: str, mode: str) -> Any:
    """Open a local path (creating parents) or, for ``scheme://`` paths, an fsspec file."""
    if "://" in path and not path.startswith("file://"):
        try:
            import fsspec  # pants: no-infer-dep
        except ImportError as err:
            raise MissingExtraError(
                "Profiler output to a remote path", "fsspec", "fsspec", "lit-callbacks"
            ) from err
        fs, _, (p,) = fsspec.get_fs_token_paths(path)
        fs.makedirs(os.path.dirname(p), exist_ok=True)
        return fs.open(p, mode)
    path = path.removeprefix("file://")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return open(path, mode)


class Profiler(ABC):
    """Base class of profilers.

    Args:
        dirpath: Directory of the report file. ``None`` uses the trainer's log dir (passed to :meth:`setup`).
        filename: Report file name (without extension). Without a file name the report goes to the log.
    """

    def __init__(self, dirpath: str | Path | None = None, filename: str | None = None) -> None:
        self.dirpath = dirpath
        self.filename = filename
        self._output_file: TextIO | None = None
        self._write_stream: Callable[[str], Any] | None = None
        self._local_rank: int | None = None
        self._stage: str | None = None

    @abstractmethod
    def start(self, action_name: str) -> None:
        """Start timing ``action_name``."""

    @abstractmethod
    def stop(self, action_name: str) -> None:
        """Stop timing ``action_name``."""

    def summary(self) -> str:
        """The report as text."""
        return ""

    @contextlib.contextmanager
    def profile(self, action_name: str) -> Generator[str, None, None]:
        """Time the body of a ``with`` block as ``action_name``."""
        try:
            self.start(action_name)
            yield action_name
        finally:
            self.stop(action_name)

    def _rank_zero_info(self, *args: Any, **kwargs: Any) -> None:
        if self._local_rank in (None, 0):
            log.info(*args, **kwargs)

    def _prepare_filename(self, action_name: str | None = None, extension: str = ".txt") -> str:
        parts = [
            p
            for p in (
                self._stage,
                self.filename or None,
                None if self._local_rank is None else str(self._local_rank),
                action_name,
            )
            if p is not None
        ]
        base = re.sub(r'[\\/:*?"<>|\n\r\t]', "_", "-".join(parts))
        base = re.sub(r"_+", "_", base).strip() or "profile"
        return base + extension

    def _prepare_streams(self) -> None:
        if self._write_stream is not None:
            return
        if self.filename and self.dirpath:
            file = _open(os.path.join(str(self.dirpath), self._prepare_filename()), "a")
            self._output_file = file
            self._write_stream = file.write
        else:
            self._write_stream = self._rank_zero_info

    def describe(self) -> None:
        """Write the report (file or log) and release resources."""
        self._prepare_streams()
        summary = self.summary()
        if summary and self._write_stream is not None:
            self._write_stream(summary)
        if self._output_file is not None:
            self._output_file.flush()
        self.teardown(stage=self._stage)

    def _stats_to_str(self, stats: dict[str, str]) -> str:
        stage = f"{self._stage.upper()} " if self._stage is not None else ""
        output = [stage + "Profiler Report"]
        for action, value in stats.items():
            header = f"Profile stats for: {action}"
            if self._local_rank is not None:
                header += f" rank: {self._local_rank}"
            output.extend((header, value))
        return os.linesep.join(output)

    def setup(self, stage: str, local_rank: int | None = None, log_dir: str | None = None) -> None:
        """Called by the trainer before a stage runs."""
        self._stage = str(getattr(stage, "value", stage))
        self._local_rank = local_rank
        self.dirpath = self.dirpath or log_dir

    def teardown(self, stage: str | None) -> None:
        """Close the report file."""
        self._write_stream = None
        if self._output_file is not None:
            self._output_file.close()
            self._output_file = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.teardown(stage=self._stage)

    @property
    def local_rank(self) -> int:
        return 0 if self._local_rank is None else self._local_rank


_NULL_CONTEXT = contextlib.nullcontext()


class PassThroughProfiler(Profiler):
    """A profiler that records nothing (the default). Trainers may skip calling it altogether.

    Example:
        >>> p = PassThroughProfiler()
        >>> with p.profile("step"):
        ...     pass
        >>> p.summary()
        ''
    """

    def start(self, action_name: str) -> None:
        pass

    def stop(self, action_name: str) -> None:
        pass

    def profile(self, action_name: str) -> Any:  # type: ignore[override]
        return _NULL_CONTEXT


class SimpleProfiler(Profiler):
    """Record the wall time of each action and report mean and total per action.

    Args:
        dirpath: Directory of the report file (default: the log dir).
        filename: Report file name; without it the report is logged.
        extended: Also report call counts and the share of the total run time.

    Example:
        >>> p = SimpleProfiler()
        >>> with p.profile("step"):
        ...     pass
        >>> len(p.recorded_durations["step"])
        1
    """

    def __init__(
        self, dirpath: str | Path | None = None, filename: str | None = None, extended: bool = True
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        self.current_actions: dict[str, float] = {}
        self.recorded_durations: defaultdict[str, list[float]] = defaultdict(list)
        self.extended = extended
        self.start_time = time.perf_counter()

    def start(self, action_name: str) -> None:
        if action_name in self.current_actions:
            raise ValueError(f"Attempted to start {action_name} which has already started.")
        self.current_actions[action_name] = time.perf_counter()

    def stop(self, action_name: str) -> None:
        end = time.perf_counter()
        start = self.current_actions.pop(action_name, None)
        if start is None:
            raise ValueError(
                f"Attempting to stop recording an action ({action_name}) which was never started."
            )
        self.recorded_durations[action_name].append(end - start)

    def _make_report_extended(self) -> tuple[list[tuple[str, float, int, float, float]], int, float]:
        total_duration = time.perf_counter() - self.start_time
        report = []
        for action, durations in self.recorded_durations.items():
            total = math.fsum(durations)
            report.append(
                (action, total / len(durations), len(durations), total, 100.0 * total / total_duration)
            )
        report.sort(key=lambda row: row[4], reverse=True)
        return report, sum(row[2] for row in report), total_duration

    def _make_report(self) -> list[tuple[str, float, float]]:
        report = []
        for action, durations in self.recorded_durations.items():
            total = math.fsum(durations)
            report.append((action, total / len(durations), total))
        report.sort(key=lambda row: row[1], reverse=True)
        return report

    def summary(self) -> str:
        sep = os.linesep
        out = f"{self._stage.upper()} " if self._stage is not None else ""
        out += f"Profiler Report{sep}"
        if not self.recorded_durations:
            return out
        width = max(len(k) for k in self.recorded_durations)
        if self.extended:

            def row(action: str, mean: str, calls: str, total: str, pct: str) -> str:
                return f"{sep}|  {action:<{width}s}\t|  {mean:<15}\t|  {calls:<15}\t|  {total:<15}\t|  {pct:<15}\t|"

            header = row("Action", "Mean duration (s)", "Num calls", "Total time (s)", "Percentage %")
            lines = f"{sep}{'-' * len(header.expandtabs())}"
            out += lines + header + lines
            report, total_calls, total_duration = self._make_report_extended()
            out += row("Total", "-", f"{total_calls}", f"{total_duration:.5}", "100 %") + lines
            for action, mean, calls, total, pct in report:
                out += row(action, f"{mean:.5}", f"{calls}", f"{total:.5}", f"{pct:.5}")
            out += lines
        else:

            def row3(action: str, mean: str, total: str) -> str:
                return f"{sep}|  {action:<{width}s}\t|  {mean:<15}\t|  {total:<15}\t|"

            header = row3("Action", "Mean duration (s)", "Total time (s)")
            lines = f"{sep}{'-' * len(header.expandtabs())}"
            out += lines + header + lines
            for action, mean, total in self._make_report():
                out += row3(action, f"{mean:.5}", f"{total:.5}")
            out += lines
        return out + sep


class AdvancedProfiler(Profiler):
    """Profile each action with ``cProfile`` and report the functions that took the most time.

    Args:
        dirpath: Directory of the report file (default: the log dir).
        filename: Report file name; without it the report is logged.
        line_count_restriction: Passed to ``pstats.Stats.print_stats``: an int keeps that many lines, a float
            in (0, 1] keeps that fraction.
        dump_stats: Also write each action's raw stats to ``dirpath/<stage>-<filename>-<rank>-<action>.prof``
            (readable with ``pstats``/snakeviz).
    """

    def __init__(
        self,
        dirpath: str | Path | None = None,
        filename: str | None = None,
        line_count_restriction: float = 1.0,
        dump_stats: bool = False,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        import cProfile

        self.profiled_actions: defaultdict[str, Any] = defaultdict(cProfile.Profile)
        self.line_count_restriction = line_count_restriction
        self.dump_stats = dump_stats

    def start(self, action_name: str) -> None:
        # only one cProfile may be active at a time: nested actions pause the outer one
        for profile in self.profiled_actions.values():
            profile.disable()
        self.profiled_actions[action_name].enable()

    def stop(self, action_name: str) -> None:
        profile = self.profiled_actions.get(action_name)
        if profile is None:
            raise ValueError(
                f"Attempting to stop recording an action ({action_name}) which was never started."
            )
        profile.disable()

    def _dump_stats(self, action_name: str, profile: Any) -> None:
        if not self.dirpath:
            rank_zero_warn(
                "`AdvancedProfiler(dump_stats=True)` needs a `dirpath` (or a log dir); not dumping."
            )
            return
        path = os.path.join(
            str(self.dirpath), self._prepare_filename(action_name=action_name, extension=".prof")
        )
        profile.create_stats()
        import marshal

        with _open(path, "wb") as f:
            f.write(marshal.dumps(profile.stats))  # type: ignore[attr-defined]

    def summary(self) -> str:
        import pstats

        stats = {}
        for action, profile in self.profiled_actions.items():
            if self.dump_stats:
                self._dump_stats(action, profile)
            stream = io.StringIO()
            ps = pstats.Stats(profile, stream=stream).strip_dirs().sort_stats("cumulative")
            ps.print_stats(self.line_count_restriction)
            stats[action] = stream.getvalue()
        return self._stats_to_str(stats)

    def teardown(self, stage: str | None) -> None:
        super().teardown(stage=stage)
        self.profiled_actions.clear()

    def __reduce__(self) -> tuple[Any, ...]:
        # cProfile objects cannot be pickled
        return (
            self.__class__,
            (),
            {
                "dirpath": self.dirpath,
                "filename": self.filename,
                "line_count_restriction": self.line_count_restriction,
                "dump_stats": self.dump_stats,
            },
        )


class PyTorchProfiler(Profiler):
    """Profile with ``torch.profiler``: operator tables, chrome traces and module names.

    The profiler starts with the first action and stops in :meth:`summary`/:meth:`teardown`. Each action is
    recorded as a ``record_function`` range; with ``record_module_names`` each submodule's forward is recorded
    as ``[pl][module]<Type>: <name>``.

    Args:
        dirpath: Directory of the report and trace files (default: the log dir).
        filename: Report file name; without it the report is logged.
        group_by_input_shapes: Record shapes and group the table by input shape.
        emit_nvtx: Emit NVTX ranges (for ``nvprof`` / Nsight) instead of profiling.
        export_to_chrome: Write a chrome trace (``<stage>-<filename>-<rank>.pt.trace.json``) to ``dirpath``.
        row_limit: Rows in the table; ``-1`` for all.
        sort_by_key: Column to sort the table by (default ``"cpu_time_total"``, ``"cuda_time_total"`` with CUDA).
        record_module_names: Record module forwards with their names (needs the module, see
            ``_lightning_module``).
        table_kwargs: Extra arguments of ``key_averages().table``.
        **profiler_kwargs: Extra arguments of ``torch.profiler.profile`` (``activities``, ``schedule``,
            ``record_shapes``, ``profile_memory``, ``with_stack``, ``with_flops``, ``with_modules``).
    """

    STEP_FUNCTIONS: ClassVar[set[str]] = {"training_step", "validation_step", "test_step", "predict_step"}
    AVAILABLE_SORT_KEYS: ClassVar[set[str]] = {
        "cpu_time",
        "cuda_time",
        "cpu_time_total",
        "cuda_time_total",
        "cpu_memory_usage",
        "cuda_memory_usage",
        "self_cpu_memory_usage",
        "self_cuda_memory_usage",
        "count",
    }

    def __init__(
        self,
        dirpath: str | Path | None = None,
        filename: str | None = None,
        group_by_input_shapes: bool = False,
        emit_nvtx: bool = False,
        export_to_chrome: bool = True,
        row_limit: int = 20,
        sort_by_key: str | None = None,
        record_module_names: bool = True,
        table_kwargs: dict[str, Any] | None = None,
        **profiler_kwargs: Any,
    ) -> None:
        super().__init__(dirpath=dirpath, filename=filename)
        import torch

        self._group_by_input_shapes = group_by_input_shapes and profiler_kwargs.get("record_shapes", True)
        self._emit_nvtx = emit_nvtx
        self._export_to_chrome = export_to_chrome
        self._row_limit = row_limit
        self._sort_by_key = sort_by_key or (
            "cuda_time_total" if torch.cuda.is_available() else "cpu_time_total"
        )
        if self._sort_by_key not in self.AVAILABLE_SORT_KEYS:
            raise ValueError(
                f"`PyTorchProfiler(sort_by_key={self._sort_by_key!r})` is not supported. Choose one of:"
                f" {', '.join(sorted(self.AVAILABLE_SORT_KEYS))}."
            )
        self._record_module_names = record_module_names
        self._table_kwargs = dict(table_kwargs or {})
        allowed = {"activities", "schedule", "on_trace_ready", "record_shapes", "profile_memory", "with_stack",
                   "with_flops", "with_modules", "experimental_config", "acc_events", "use_cuda",
                   "execution_trace_observer", "custom_trace_id_callback"}  # fmt: skip
        unknown = set(profiler_kwargs) - allowed
        if unknown:
            raise TypeError(
                f"`PyTorchProfiler` got unexpected keyword arguments {sorted(unknown)!r}; valid"
                f" `torch.profiler.profile` arguments are {sorted(allowed)!r}."
            )
        if group_by_input_shapes:
            profiler_kwargs.setdefault("record_shapes", True)
        self._profiler_kwargs = profiler_kwargs
        self.profiler: Any = None
        self.function_events: Any = None
        self._lightning_module: Any = None
        self._recording_map: dict[str, Any] = {}
        self._module_handles: list[Any] = []
        self._module_ranges: dict[int, Any] = {}

    def _start_profiler(self) -> None:
        import torch

        if self._emit_nvtx:
            self.profiler = torch.autograd.profiler.emit_nvtx(record_shapes=self._group_by_input_shapes)
        else:
            kwargs = dict(self._profiler_kwargs)
            if "activities" not in kwargs:
                activities = [torch.profiler.ProfilerActivity.CPU]
                if torch.cuda.is_available():
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                kwargs["activities"] = activities
            self.profiler = torch.profiler.profile(**kwargs)
        self.profiler.__enter__()
        if self._record_module_names and self._lightning_module is not None:
            self._register_module_hooks(self._lightning_module)

    def _register_module_hooks(self, module: Any) -> None:
        import torch

        def pre(mod: Any, _: Any, name: str) -> None:
            rf = torch.profiler.record_function(
                f"[pl][module]{type(mod).__module__}.{type(mod).__name__}: {name}"
            )
            rf.__enter__()
            self._module_ranges[id(mod)] = rf

        def post(mod: Any, _: Any, __: Any) -> None:
            rf = self._module_ranges.pop(id(mod), None)
            if rf is not None:
                rf.__exit__(None, None, None)

        for name, sub in module.named_modules():
            if name:
                self._module_handles.append(sub.register_forward_pre_hook(lambda m, a, n=name: pre(m, a, n)))
                self._module_handles.append(sub.register_forward_hook(post))

    def start(self, action_name: str) -> None:
        import torch

        if self.profiler is None:
            self._start_profiler()
        if action_name not in self._recording_map:
            rf = torch.profiler.record_function(action_name)
            rf.__enter__()
            self._recording_map[action_name] = rf

    def stop(self, action_name: str) -> None:
        rf = self._recording_map.pop(action_name, None)
        if rf is not None:
            rf.__exit__(None, None, None)
        step = getattr(self.profiler, "step", None)
        scheduled = step is not None and self._profiler_kwargs.get("schedule") is not None
        if scheduled and any(action_name.endswith(f) for f in self.STEP_FUNCTIONS):
            step()

    def _stop_profiler(self) -> None:
        if self.profiler is None:
            return
        for rf in list(self._recording_map.values()):
            rf.__exit__(None, None, None)
        self._recording_map.clear()
        for handle in self._module_handles:
            handle.remove()
        self._module_handles.clear()
        self.profiler.__exit__(None, None, None)
        if not self._emit_nvtx:
            if (
                self._export_to_chrome
                and self.dirpath
                and self._profiler_kwargs.get("on_trace_ready") is None
            ):
                path = os.path.join(str(self.dirpath), self._prepare_filename(extension=".pt.trace.json"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                self.profiler.export_chrome_trace(path)
            self.function_events = self.profiler.events()
        self.profiler = None

    def summary(self) -> str:
        self._stop_profiler()
        if self._emit_nvtx or self.function_events is None:
            return ""
        data = self.function_events.key_averages(group_by_input_shapes=self._group_by_input_shapes)
        table = data.table(sort_by=self._sort_by_key, row_limit=self._row_limit, **self._table_kwargs)
        return self._stats_to_str({"records": table})

    def teardown(self, stage: str | None) -> None:
        self._stop_profiler()
        super().teardown(stage=stage)


class XLAProfiler(Profiler):
    """Start the XLA profiler server so that a TPU profile can be captured (needs ``torch_xla``).

    Args:
        port: Port of the profiler server.
    """

    STEP_FUNCTIONS: ClassVar[set[str]] = {"validation_step", "test_step", "predict_step"}
    RECORD_FUNCTIONS: ClassVar[set[str]] = {
        "training_step",
        "backward",
        "validation_step",
        "test_step",
        "predict_step",
    }

    def __init__(self, port: int = 9012) -> None:
        try:
            import torch_xla.debug.profiler as xp  # pants: no-infer-dep  # noqa: F401
        except ImportError as err:
            raise MissingExtraError("XLAProfiler", "torch_xla", "xla", "lit-callbacks") from err
        super().__init__(dirpath=None, filename=None)
        self.port = port
        self._recording_map: dict[str, Any] = {}
        self._step_recoding_map: dict[str, int] = {}
        self._start_trace = False

    def start(self, action_name: str) -> None:
        import torch_xla.debug.profiler as xp  # pants: no-infer-dep

        if not self._start_trace:
            self.server = xp.start_server(self.port)
            self._start_trace = True
        if action_name in self.RECORD_FUNCTIONS:
            step = self._step_recoding_map.get(action_name, 0) + 1
            self._step_recoding_map[action_name] = step
            if action_name in self.STEP_FUNCTIONS:
                recording = xp.StepTrace(action_name, step_num=step)
            else:
                recording = xp.Trace(action_name)
            recording.__enter__()
            self._recording_map[action_name] = recording

    def stop(self, action_name: str) -> None:
        recording = self._recording_map.pop(action_name, None)
        if recording is not None:
            recording.__exit__(None, None, None)


_PROFILER_ALIASES: dict[str, type[Profiler]] = {
    "simple": SimpleProfiler,
    "advanced": AdvancedProfiler,
    "pytorch": PyTorchProfiler,
    "xla": XLAProfiler,
}


def profiler_from_alias(name: str) -> Profiler:
    """Build a profiler from a Trainer string alias (``"simple"``, ``"advanced"``, ``"pytorch"``, ``"xla"``).

    Example:
        >>> type(profiler_from_alias("simple")).__name__
        'SimpleProfiler'
    """
    cls = _PROFILER_ALIASES.get(str(name).lower())
    if cls is None:
        raise ValueError(
            f"`profiler={name!r}` is not a known profiler. Choose one of: "
            f"{', '.join(repr(k) for k in _PROFILER_ALIASES)}, or pass a `Profiler` instance."
        )
    return cls()
