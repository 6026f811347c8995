"""The public API of `lit_data` is pinned: changing it must be deliberate (update this list)."""

from __future__ import annotations

import lit_data

EXPECTED = [
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


def test_public_api_is_pinned() -> None:
    assert sorted(lit_data.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in EXPECTED:
        assert getattr(lit_data, name) is not None, name
