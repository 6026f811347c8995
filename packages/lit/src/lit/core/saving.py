"""Loading modules from checkpoints (``lightning.pytorch.core.saving``)."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["load_from_checkpoint"]


def load_from_checkpoint(
    cls: type,
    checkpoint_path: Any,
    map_location: Any = None,
    hparams_file: Any = None,
    strict: bool | None = None,
    weights_only: bool | None = None,
    **kwargs: Any,
) -> Any:
    """Instantiate ``cls`` with the checkpoint's ``hyper_parameters`` (overridden by ``kwargs``) and load weights."""
    from lit_strategies import TorchCheckpointIO

    path = os.fspath(checkpoint_path)
    # safe ``weights_only`` loading by default, fsspec URLs, and errors that name the file and the problem
    checkpoint = TorchCheckpointIO().load_checkpoint(
        path, map_location=map_location, weights_only=weights_only
    )
    if hparams_file is not None:
        import yaml  # pants: no-infer-dep

        with open(hparams_file) as f:
            checkpoint[cls.CHECKPOINT_HYPER_PARAMS_KEY] = yaml.safe_load(f)
    hparams = dict(checkpoint.get(cls.CHECKPOINT_HYPER_PARAMS_KEY, {}) or {})
    hparams.update(kwargs)
    obj = cls(**hparams)
    if "state_dict" in checkpoint:
        obj.on_load_checkpoint(checkpoint)
        obj.load_state_dict(checkpoint["state_dict"], strict=obj.strict_loading if strict is None else strict)
    return obj
