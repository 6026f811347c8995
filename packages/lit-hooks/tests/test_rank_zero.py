from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Iterator

import pytest

from lit_hooks import (
    LightningDeprecationWarning,
    WarningCache,
    _rank_zero,
    rank_prefixed_message,
    rank_zero_debug,
    rank_zero_deprecation,
    rank_zero_info,
    rank_zero_only,
    rank_zero_warn,
)
from lit_hooks._rank_zero import _get_rank


@pytest.fixture
def rank() -> Iterator[None]:
    old = rank_zero_only.rank
    yield
    rank_zero_only.rank = old


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"RANK": "3"}, 3),
        ({"LOCAL_RANK": "2", "SLURM_PROCID": "5"}, 2),
        ({"SLURM_PROCID": "5", "JSM_NAMESPACE_RANK": "7"}, 5),
        ({"JSM_NAMESPACE_RANK": "7"}, 7),
        ({"RANK": "1", "LOCAL_RANK": "0"}, 1),
    ],
)
def test_rank_read_from_environment_in_priority_order(env: dict[str, str], expected: int | None) -> None:
    assert _get_rank(env) == expected


def test_invalid_rank_variable_is_reported() -> None:
    with pytest.raises(ValueError, match="RANK='x'"):
        _get_rank({"RANK": "x"})


def test_rank_is_initialised_at_import_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # execute a fresh copy of the module (not registered in sys.modules) under a given environment
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LOCAL_RANK", "4")
    spec = importlib.util.spec_from_file_location("_rank_zero_fresh_copy", _rank_zero.__file__)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    assert fresh.rank_zero_only.rank == 4
    monkeypatch.delenv("LOCAL_RANK")
    spec.loader.exec_module(fresh)
    assert fresh.rank_zero_only.rank == 0


def test_rank_zero_only_runs_on_rank_zero_only(rank: None) -> None:
    calls: list[int] = []

    @rank_zero_only
    def record(x: int) -> int:
        calls.append(x)
        return x * 2

    rank_zero_only.rank = 0
    assert record(2) == 4
    rank_zero_only.rank = 1
    assert record(3) is None
    assert calls == [2]
    assert record.__name__ == "record"


def test_rank_zero_only_default_both_styles(rank: None) -> None:
    def fn() -> str:
        return "ran"

    direct = rank_zero_only(fn, default="skipped")

    @rank_zero_only(default="skipped")
    def decorated() -> str:
        return "ran"

    rank_zero_only.rank = 0
    assert (direct(), decorated()) == ("ran", "ran")
    rank_zero_only.rank = 2
    assert (direct(), decorated()) == ("skipped", "skipped")


def test_rank_zero_warn_points_at_the_caller_and_is_silent_elsewhere(rank: None) -> None:
    rank_zero_only.rank = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rank_zero_warn("careful")
        rank_zero_deprecation("old")
    assert [str(w.message) for w in caught] == ["careful", "old"]
    assert caught[0].category is UserWarning
    assert caught[1].category is LightningDeprecationWarning
    assert caught[0].filename == __file__

    rank_zero_only.rank = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rank_zero_warn("careful")
    assert caught == []


def test_rank_zero_info_and_debug_use_the_lit_logger(rank: None, caplog: pytest.LogCaptureFixture) -> None:
    rank_zero_only.rank = 0
    with caplog.at_level(logging.DEBUG, logger="lit"):
        rank_zero_info("hello %s", "world")
        rank_zero_debug("details")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("lit", "INFO", "hello world"),
        ("lit", "DEBUG", "details"),
    ]
    assert caplog.records[0].pathname == __file__


def test_rank_prefixed_message() -> None:
    assert rank_prefixed_message("msg", 2) == "[rank: 2] msg"
    assert rank_prefixed_message("msg", 0) == "[rank: 0] msg"
    assert rank_prefixed_message("msg", None) == "msg"


def test_warning_cache_warns_once_per_message(rank: None) -> None:
    rank_zero_only.rank = 0
    cache = WarningCache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            cache.warn("a")
            cache.deprecation("b")
        cache.warn("c")
    assert [str(w.message) for w in caught] == ["a", "b", "c"]
    assert caught[1].category is LightningDeprecationWarning
    assert cache == {"a", "b", "c"}
