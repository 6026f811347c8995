"""lit-data: everything between a user's datasets and the loop.

:class:`CombinedLoader` combines loaders under the four Lightning modes, :class:`PrefetchFetcher` feeds a loop
and knows the last batch one step ahead, :class:`LightningDataModule` packages the data of a run, and the
sampler, seeding, device-transfer and data-position helpers give exact, reproducible and resumable data order,
distributed or not. It depends only on ``lit-hooks`` (and torch, numpy); the loops of ``lit-loops`` and the
``lit`` Trainer build on it, and a custom loop can use it alone.
"""

from __future__ import annotations

from lit_data import seed
from lit_data._combined_loader import CombinedLoader, sized_len
from lit_data._data_source import (
    DataHookSelector,
    DataLoaderSource,
    check_dataloader_iterable,
    extract_batch_size,
    has_len,
    has_len_all_ranks,
    num_batches,
    parse_num_batches,
    prepare_dataloader,
    request_dataloader,
    resolve_dataloaders,
    resolve_datamodule_argument,
    run_prepare_data,
    should_reload_dataloaders,
    suggested_max_num_workers,
    warn_if_zero_length,
    worker_check,
)
from lit_data._datamodule import (
    LightningDataModule,
    datamodule_checkpoint_entries,
    load_checkpoint_file,
    restore_datamodule_state,
)
from lit_data._device import TransferableDataType, move_data_to_device
from lit_data._fetcher import DataFetcherWrapper, DataLoaderIterFetcher, PrefetchFetcher
from lit_data._position import (
    DataPosition,
    ResumableSampler,
    capture_loader_state,
    is_stateful,
    make_resumable,
    restore_loader_state,
    unwrap_sampler,
)
from lit_data._reinstantiate import (
    auto_add_worker_init_fn,
    capture_init_arguments,
    get_distributed_sampler,
    has_iterable_dataset,
    is_dataloader_shuffled,
    requires_distributed_sampler,
    set_sampler_epoch,
    update_dataloader,
    use_distributed_sampler,
)
from lit_data._samplers import (
    DistributedSamplerWrapper,
    IndexBatchSamplerWrapper,
    UnrepeatedDistributedSampler,
    UnrepeatedDistributedSamplerWrapper,
)
from lit_data.seed import (
    collect_rng_states,
    pl_worker_init_function,
    reset_seed,
    seed_everything,
    set_rng_states,
)

__all__ = [
    "CombinedLoader",
    "DataFetcherWrapper",
    "DataHookSelector",
    "DataLoaderIterFetcher",
    "DataLoaderSource",
    "DataPosition",
    "DistributedSamplerWrapper",
    "IndexBatchSamplerWrapper",
    "LightningDataModule",
    "PrefetchFetcher",
    "ResumableSampler",
    "TransferableDataType",
    "UnrepeatedDistributedSampler",
    "UnrepeatedDistributedSamplerWrapper",
    "auto_add_worker_init_fn",
    "capture_init_arguments",
    "capture_loader_state",
    "check_dataloader_iterable",
    "collect_rng_states",
    "datamodule_checkpoint_entries",
    "extract_batch_size",
    "get_distributed_sampler",
    "has_iterable_dataset",
    "has_len",
    "has_len_all_ranks",
    "is_dataloader_shuffled",
    "is_stateful",
    "load_checkpoint_file",
    "make_resumable",
    "move_data_to_device",
    "num_batches",
    "parse_num_batches",
    "pl_worker_init_function",
    "prepare_dataloader",
    "request_dataloader",
    "requires_distributed_sampler",
    "reset_seed",
    "resolve_dataloaders",
    "resolve_datamodule_argument",
    "restore_datamodule_state",
    "restore_loader_state",
    "run_prepare_data",
    "seed",
    "seed_everything",
    "set_rng_states",
    "set_sampler_epoch",
    "should_reload_dataloaders",
    "sized_len",
    "suggested_max_num_workers",
    "unwrap_sampler",
    "update_dataloader",
    "use_distributed_sampler",
    "warn_if_zero_length",
    "worker_check",
]
