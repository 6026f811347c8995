from __future__ import annotations

import collections
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from lit_data import CombinedLoader

MODES = ["min_size", "max_size_cycle", "max_size", "sequential"]
Pair = collections.namedtuple("Pair", "first second")


def _plain(batch: Any) -> Any:
    """Tensors to lists so that batches compare with ``==``."""
    if isinstance(batch, torch.Tensor):
        return batch.tolist()
    if isinstance(batch, dict):
        return {k: _plain(v) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*[_plain(v) for v in batch])
    if isinstance(batch, (list, tuple)):
        return type(batch)(_plain(v) for v in batch)
    return batch


def _run(combined: CombinedLoader) -> list[tuple[Any, int, int]]:
    return [(_plain(batch), batch_idx, dataloader_idx) for batch, batch_idx, dataloader_idx in combined]


@pytest.fixture
def loaders() -> dict[str, DataLoader]:
    return {"a": DataLoader(range(6), batch_size=4), "b": DataLoader(range(15), batch_size=5)}


def test_max_size_cycle(loaders: dict[str, DataLoader]) -> None:
    combined = CombinedLoader(loaders, "max_size_cycle")
    iter(combined)
    assert len(combined) == 3
    assert _run(combined) == [
        ({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3, 4]}, 0, 0),
        ({"a": [4, 5], "b": [5, 6, 7, 8, 9]}, 1, 0),
        ({"a": [0, 1, 2, 3], "b": [10, 11, 12, 13, 14]}, 2, 0),
    ]


def test_max_size(loaders: dict[str, DataLoader]) -> None:
    combined = CombinedLoader(loaders, "max_size")
    iter(combined)
    assert len(combined) == 3
    assert _run(combined) == [
        ({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3, 4]}, 0, 0),
        ({"a": [4, 5], "b": [5, 6, 7, 8, 9]}, 1, 0),
        ({"a": None, "b": [10, 11, 12, 13, 14]}, 2, 0),
    ]


def test_min_size(loaders: dict[str, DataLoader]) -> None:
    combined = CombinedLoader(loaders, "min_size")
    iter(combined)
    assert len(combined) == 2
    assert _run(combined) == [
        ({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3, 4]}, 0, 0),
        ({"a": [4, 5], "b": [5, 6, 7, 8, 9]}, 1, 0),
    ]


def test_sequential(loaders: dict[str, DataLoader]) -> None:
    combined = CombinedLoader(loaders, "sequential")
    iter(combined)
    assert len(combined) == 5
    assert _run(combined) == [
        ([0, 1, 2, 3], 0, 0),
        ([4, 5], 1, 0),
        ([0, 1, 2, 3, 4], 0, 1),
        ([5, 6, 7, 8, 9], 1, 1),
        ([10, 11, 12, 13, 14], 2, 1),
    ]


def test_len_before_iter_raises() -> None:
    combined = CombinedLoader([[1, 2]], "max_size_cycle")
    with pytest.raises(RuntimeError, match="iter\\(combined_loader\\)"):
        len(combined)
    with pytest.raises(RuntimeError, match="iter\\(combined_loader\\)"):
        next(combined)


def test_unknown_mode_lists_choices() -> None:
    with pytest.raises(ValueError, match="'max_size_cycle'") as err:
        CombinedLoader([], "longest")  # type: ignore[arg-type]
    assert "'longest'" in str(err.value)


def test_infinite_iterable_has_no_len() -> None:
    combined = CombinedLoader({"a": iter(range(3)), "b": [1, 2]}, "max_size")
    iter(combined)
    with pytest.raises(TypeError):
        len(combined)
    assert _run(combined) == [({"a": 0, "b": 1}, 0, 0), ({"a": 1, "b": 2}, 1, 0), ({"a": 2, "b": None}, 2, 0)]


def test_nested_structures_keep_their_types() -> None:
    iterables = {"x": [[1, 2], (10, 20)], "p": Pair([5, 6], [7, 8]), "od": collections.OrderedDict(k=[0, 1])}
    combined = CombinedLoader(iterables, "min_size")
    assert combined.flattened == [[1, 2], (10, 20), [5, 6], [7, 8], [0, 1]]
    batches = [batch for batch, _, _ in combined]
    assert batches[1] == {"x": [2, 20], "p": Pair(6, 8), "od": collections.OrderedDict(k=1)}
    assert isinstance(batches[1]["p"], Pair)
    assert isinstance(batches[1]["od"], collections.OrderedDict)


def test_containers_of_primitives_are_iterables() -> None:
    # a list of numbers is one iterable, an empty container too
    assert CombinedLoader([1, 2, 3]).flattened == [[1, 2, 3]]
    assert CombinedLoader({}).flattened == [{}]
    assert _run(iter(CombinedLoader([1, 2, 3], "sequential"))) == [(1, 0, 0), (2, 1, 0), (3, 2, 0)]


def test_limits_in_sequential_mode() -> None:
    combined = CombinedLoader([[1, 2, 3], [4, 5], [6, 7, 8]], "sequential")
    combined.limits = [2, 0, 5]
    iter(combined)
    assert len(combined) == 5
    assert _run(combined) == [(1, 0, 0), (2, 1, 0), (6, 0, 2), (7, 1, 2), (8, 2, 2)]


def test_limits_in_parallel_modes_stop_at_len() -> None:
    combined = CombinedLoader([[1, 2, 3], [4, 5, 6, 7]], "max_size_cycle")
    combined.limits = 2
    iter(combined)
    assert len(combined) == 2
    assert _run(combined) == [([1, 4], 0, 0), ([2, 5], 1, 0)]


def test_limits_validation() -> None:
    combined = CombinedLoader([[1], [2]])
    with pytest.raises(
        ValueError, match="Mismatch in number of limits \\(3\\) and number of iterables \\(2\\)"
    ):
        combined.limits = [1, 2, 3]


def test_zero_length_member_ends_max_size_cycle() -> None:
    combined = CombinedLoader([[1, 2], []], "max_size_cycle")
    iter(combined)
    assert len(combined) == 2
    assert _run(combined) == []


def test_flattened_setter_rebuilds_iterables() -> None:
    combined = CombinedLoader({"a": [1], "b": [[2], [3]]})
    combined.flattened = [[10], [20], [30]]
    assert combined.iterables == {"a": [10], "b": [[20], [30]]}
    with pytest.raises(ValueError, match="Mismatch in flattened length"):
        combined.flattened = [[1]]


def test_samplers_and_dataset_length(loaders: dict[str, DataLoader]) -> None:
    combined = CombinedLoader(loaders, "max_size_cycle")
    assert set(combined.sampler) == {"a", "b"}
    assert combined.batch_sampler["a"].batch_size == 4
    assert combined._dataset_length() == 15
    assert CombinedLoader(loaders, "sequential")._dataset_length() == 21


def test_reset_shuts_down_workers() -> None:
    loader = DataLoader(range(8), batch_size=2, num_workers=1, persistent_workers=True)
    combined = CombinedLoader(loader)
    iter(combined)
    next(combined)
    assert loader._iterator is not None
    combined.reset()
    assert loader._iterator is None
    with pytest.raises(RuntimeError):
        len(combined)


def test_training_batch_is_nested(loaders: dict[str, DataLoader]) -> None:
    # what a training_step receives: the nested batch with the structure of the iterables
    batch, batch_idx, dataloader_idx = next(iter(CombinedLoader(loaders, "max_size_cycle")))
    assert set(batch) == {"a", "b"} and batch_idx == 0 and dataloader_idx == 0


def test_stateful_iterables_round_trip() -> None:
    class Counter:
        def __init__(self) -> None:
            self.value = 0

        def __iter__(self) -> Any:
            return iter(range(self.value, self.value + 2))

        def state_dict(self) -> dict[str, int]:
            return {"value": self.value}

        def load_state_dict(self, state: dict[str, int]) -> None:
            self.value = state["value"]

    first, second = Counter(), Counter()
    first.value = 7
    combined = CombinedLoader([first, [1, 2], second])
    assert combined._state_dicts() == [{"value": 7}, {"value": 0}]
    other = CombinedLoader([Counter(), [1, 2], Counter()])
    other._load_state_dicts(combined._state_dicts())
    assert other.flattened[0].value == 7
    with pytest.raises(RuntimeError, match="2 stateful loaders, but found 1 states"):
        other._load_state_dicts([{"value": 1}])


# ------------------------------------------------------------------------------------------------------------------
# property test: every mode yields exactly the expected sequence for random lengths and nestings
# ------------------------------------------------------------------------------------------------------------------
def _structure(draw: Any, depth: int, counter: list[int]) -> Any:
    kind = draw(st.sampled_from(["leaf", "leaf", "list", "dict", "tuple"] if depth < 3 else ["leaf"]))
    if kind == "leaf":
        counter[0] += 1
        base = counter[0] * 100
        return list(range(base, base + draw(st.integers(0, 5))))
    children = [_structure(draw, depth + 1, counter) for _ in range(draw(st.integers(1, 3)))]
    if kind == "list":
        return children
    if kind == "tuple":
        return tuple(children)
    return {f"k{i}": child for i, child in enumerate(children)}


@st.composite
def nested_iterables(draw: Any) -> Any:
    return _structure(draw, 0, [0])


def _leaves(node: Any) -> list[list[int]]:
    if isinstance(node, dict):
        return [leaf for child in node.values() for leaf in _leaves(child)]
    if isinstance(node, tuple) or (
        isinstance(node, list) and node and isinstance(node[0], (list, tuple, dict))
    ):
        return [leaf for child in node for leaf in _leaves(child)]
    return [node]


def _rebuild(node: Any, values: Any) -> Any:
    if isinstance(node, dict):
        return {k: _rebuild(child, values) for k, child in node.items()}
    if isinstance(node, tuple):
        return tuple(_rebuild(child, values) for child in node)
    if isinstance(node, list) and node and isinstance(node[0], (list, tuple, dict)):
        return [_rebuild(child, values) for child in node]
    return next(values)


def _expected(structure: Any, mode: str, limits: list[float] | None) -> list[tuple[Any, int, int]]:
    leaves = _leaves(structure)
    lengths = [len(leaf) for leaf in leaves]
    capped = lengths if limits is None else [min(n, lim) for n, lim in zip(lengths, limits)]
    if mode == "sequential":
        return [(leaf[k], k, i) for i, (leaf, n) in enumerate(zip(leaves, capped)) for k in range(int(n))]
    if mode == "min_size":
        count, pick = min(capped), (lambda leaf, k: leaf[k])
    elif mode == "max_size":
        count, pick = max(capped), (lambda leaf, k: leaf[k] if k < len(leaf) else None)
    else:
        count = 0 if 0 in lengths else max(capped)
        pick = lambda leaf, k: leaf[k % len(leaf)]  # noqa: E731
    return [(_rebuild(structure, iter([pick(leaf, k) for leaf in leaves])), k, 0) for k in range(int(count))]


@settings(max_examples=150, deadline=None)
@given(structure=nested_iterables(), mode=st.sampled_from(MODES), data=st.data())
def test_modes_yield_expected_sequence(structure: Any, mode: str, data: Any) -> None:
    combined = CombinedLoader(structure, mode)  # type: ignore[arg-type]
    assert combined.flattened == _leaves(structure)
    limits = None
    if data.draw(st.booleans()):
        limits = [data.draw(st.sampled_from([0, 1, 2, 4, float("inf")])) for _ in combined.flattened]
        combined.limits = limits
    iter(combined)
    expected = _expected(structure, mode, limits)
    capped = [min(len(leaf), lim) for leaf, lim in zip(_leaves(structure), limits or [float("inf")] * 99)]
    expected_len = {"min_size": min, "max_size": max, "max_size_cycle": max, "sequential": sum}[mode](capped)
    assert len(combined) == expected_len
    assert list(combined) == expected
    # a second pass gives the same sequence
    assert list(iter(combined)) == expected
