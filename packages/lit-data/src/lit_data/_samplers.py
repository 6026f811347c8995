"""Samplers for distributed runs.

* :class:`UnrepeatedDistributedSampler`: splits a dataset over ranks without padding, so evaluation and
  prediction see every sample exactly once (ranks may get one sample more than others).
* :class:`DistributedSamplerWrapper`: shards the indices produced by any user sampler over ranks.
* :class:`UnrepeatedDistributedSamplerWrapper`: the same without padding.
* :class:`IndexBatchSamplerWrapper`: records the indices of every batch (used for prediction outputs).

The splitting logic is pure index arithmetic: pass ``num_replicas`` and ``rank`` explicitly and no process group
is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler
from torch.utils.data.distributed import DistributedSampler

from lit_data._position import _register_deterministic

__all__ = [
    "DistributedSamplerWrapper",
    "IndexBatchSamplerWrapper",
    "UnrepeatedDistributedSampler",
    "UnrepeatedDistributedSamplerWrapper",
]


@_register_deterministic
class UnrepeatedDistributedSampler(DistributedSampler):
    """A ``DistributedSampler`` that neither pads nor drops: each sample goes to exactly one rank.

    Rank ``r`` gets the indices ``r, r + num_replicas, r + 2 * num_replicas, ...`` of the (optionally shuffled)
    dataset order, so ranks differ by at most one sample. That is safe for evaluation and prediction, where
    processes do not synchronise on every batch; do not use it for training with DDP, where a rank with one batch
    fewer would leave the others waiting. With ``shuffle=True`` the order is a permutation seeded by the epoch
    (see :meth:`set_epoch`), the same on every rank.

    Args:
        dataset: A dataset with ``__len__``.
        num_replicas: Number of processes; read from the default process group when ``None``.
        rank: This process's rank; read from the default process group when ``None``.
        shuffle: Whether to permute the order every epoch.
        seed: Kept for signature compatibility with ``DistributedSampler``; the permutation depends on the
            epoch only, as in Lightning.
        drop_last: Kept for signature compatibility; nothing is ever dropped.

    Example:
        >>> [list(UnrepeatedDistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
        [[0, 2, 4], [1, 3]]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.dataset, Sized):
            raise TypeError(
                f"The dataset given to `{type(self).__name__}` must implement `__len__`, but"
                f" {type(self.dataset).__name__!r} does not. Use a map-style dataset."
            )
        self.num_samples = len(range(self.rank, len(self.dataset), self.num_replicas))
        self.total_size = len(self.dataset)
        # if any rank gets a sample, every rank must get one, or a collective over processes could block
        if self.num_samples < 1 and self.total_size != 0:
            raise ValueError(
                f"Rank {self.rank} of {self.num_replicas} would get no sample of a dataset of length"
                f" {self.total_size}. Use at most {self.total_size} processes for this dataset, or a larger dataset."
            )

    def __iter__(self) -> Iterator[int]:
        if not isinstance(self.dataset, Sized):
            raise TypeError(f"The dataset given to `{type(self).__name__}` must implement `__len__`.")
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.epoch)
            indices = torch.randperm(len(self.dataset), generator=generator).tolist()
        else:
            indices = list(range(len(self.dataset)))
        return iter(indices[self.rank : self.total_size : self.num_replicas])


@_register_deterministic
class _DatasetSamplerWrapper(Dataset):
    """Present the indices of a sampler as a dataset, so a ``DistributedSampler`` can shard them."""

    def __init__(self, sampler: Sampler | Iterable) -> None:
        if not isinstance(sampler, Sized):
            raise TypeError(
                "You seem to have configured a sampler in your DataLoader which does not provide `__len__`. The"
                " sampler was about to be replaced by `DistributedSamplerWrapper` since `use_distributed_sampler`"
                " is True and you are using distributed training. Either provide `__len__` in your sampler, remove"
                " it from the DataLoader, or set `use_distributed_sampler=False` to handle distributed sampling"
                " yourself."
            )
        if len(sampler) == float("inf"):
            raise TypeError(
                "You seem to have configured a sampler in your DataLoader which does not provide a finite"
                " `__len__`. The sampler was about to be replaced by `DistributedSamplerWrapper` since"
                " `use_distributed_sampler` is True and you are using distributed training. Either return a finite"
                " number from `__len__`, remove the sampler from the DataLoader, or set"
                " `use_distributed_sampler=False` to handle distributed sampling yourself."
            )
        self._sampler = sampler
        self._sampler_list: list[Any] | None = None  # materialised on first use

    def __getitem__(self, index: int) -> Any:
        if self._sampler_list is None:
            self._sampler_list = list(self._sampler)
        return self._sampler_list[index]

    def __len__(self) -> int:
        return len(self._sampler)  # type: ignore[arg-type]

    def reset(self) -> None:
        """Draw a new list of indices from the wrapped sampler."""
        self._sampler_list = list(self._sampler)


@_register_deterministic
class DistributedSamplerWrapper(DistributedSampler):
    """Shard the indices produced by any sampler over the ranks of a distributed run.

    Each epoch the wrapped sampler is iterated once (so its own randomness and ``set_epoch`` apply) and the
    resulting index list is split like ``DistributedSampler`` splits a dataset (padding included). ``shuffle``
    and ``seed`` permute the positions of that list; leave ``shuffle=False`` to keep the sampler's order.

    Args:
        sampler: The sampler to shard (must have a finite ``__len__``).
        *args: Forwarded to ``DistributedSampler`` (``num_replicas``, ``rank``, ``shuffle``, ``seed``, ...).
        **kwargs: Forwarded to ``DistributedSampler``.

    Example:
        >>> sampler = list(reversed(range(6)))
        >>> [list(DistributedSamplerWrapper(sampler, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
        [[5, 3, 1], [4, 2, 0]]
    """

    def __init__(self, sampler: Sampler | Iterable, *args: Any, **kwargs: Any) -> None:
        super().__init__(_DatasetSamplerWrapper(sampler), *args, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        self.dataset.reset()
        return (self.dataset[index] for index in super().__iter__())

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch here and on the wrapped sampler (when it has ``set_epoch``)."""
        super().set_epoch(epoch)
        original = self.dataset._sampler
        if callable(getattr(original, "set_epoch", None)):
            original.set_epoch(epoch)


@_register_deterministic
class UnrepeatedDistributedSamplerWrapper(UnrepeatedDistributedSampler):
    """Like :class:`DistributedSamplerWrapper`, but without padding (see :class:`UnrepeatedDistributedSampler`).

    Args:
        sampler: The sampler to shard (must have a finite ``__len__``).
        *args: Forwarded to :class:`UnrepeatedDistributedSampler`.
        **kwargs: Forwarded to :class:`UnrepeatedDistributedSampler`.
    """

    def __init__(self, sampler: Sampler | Iterable, *args: Any, **kwargs: Any) -> None:
        super().__init__(_DatasetSamplerWrapper(sampler), *args, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        self.dataset.reset()
        return (self.dataset[index] for index in super().__iter__())

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch here and on the wrapped sampler (when it has ``set_epoch``)."""
        super().set_epoch(epoch)
        original = self.dataset._sampler
        if callable(getattr(original, "set_epoch", None)):
            original.set_epoch(epoch)


@_register_deterministic
class IndexBatchSamplerWrapper:
    """Wrap a batch sampler and remember the indices of every batch of the current pass.

    Every other attribute (``batch_size``, ``drop_last``, ``sampler``...) is read from the wrapped batch sampler.

    Args:
        batch_sampler: The batch sampler to wrap.

    Example:
        >>> from torch.utils.data import BatchSampler, SequentialSampler
        >>> wrapper = IndexBatchSamplerWrapper(BatchSampler(SequentialSampler(range(5)), 2, False))
        >>> list(wrapper), wrapper.seen_batch_indices
        ([[0, 1], [2, 3], [4]], [[0, 1], [2, 3], [4]])
    """

    def __init__(self, batch_sampler: Any) -> None:
        self._batch_sampler = batch_sampler
        self.seen_batch_indices: list[list[int]] = []
        self._iterator: Iterator[list[int]] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_batch_sampler", "_iterator", "seen_batch_indices"):
            raise AttributeError(name)
        inner = self.__dict__.get("_batch_sampler")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def __iter__(self) -> IndexBatchSamplerWrapper:
        self.seen_batch_indices = []
        self._iterator = iter(self._batch_sampler)
        return self

    def __next__(self) -> list[int]:
        if self._iterator is None:
            raise RuntimeError("Call `iter()` on the IndexBatchSamplerWrapper before `next()`.")
        batch = next(self._iterator)
        self.seen_batch_indices.append(batch)
        return batch

    def __len__(self) -> int:
        return len(self._batch_sampler)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_iterator"] = None  # generators cannot be pickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
