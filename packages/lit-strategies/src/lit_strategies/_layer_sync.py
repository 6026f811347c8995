"""Layer synchronisation plugins: swap layers for their synchronised versions in multi-process training."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch.nn import Module

__all__ = ["LayerSync", "TorchSyncBatchNorm"]


class LayerSync(ABC):
    """Converts the layers of a model to versions that synchronise statistics across processes, and back."""

    @abstractmethod
    def apply(self, model: Module) -> Module:
        """Return ``model`` with layers replaced by their synchronised versions."""

    @abstractmethod
    def revert(self, model: Module) -> Module:
        """Undo :meth:`apply`."""


class TorchSyncBatchNorm(LayerSync):
    """Replace every ``BatchNorm*D`` layer with ``torch.nn.SyncBatchNorm`` (statistics over all processes)."""

    def apply(self, model: Module) -> Module:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)

    def revert(self, model: Module) -> Module:
        """Convert ``SyncBatchNorm`` layers back to ``BatchNorm`` layers of the right dimensionality."""
        converted = model
        if isinstance(model, torch.nn.SyncBatchNorm):
            converted = _BatchNormXd(
                model.num_features, model.eps, model.momentum, model.affine, model.track_running_stats
            )
            if model.affine:
                with torch.no_grad():
                    converted.weight = model.weight
                    converted.bias = model.bias
            converted.running_mean = model.running_mean
            converted.running_var = model.running_var
            converted.num_batches_tracked = model.num_batches_tracked
            if hasattr(model, "qconfig"):
                converted.qconfig = model.qconfig
        for name, child in model.named_children():
            converted.add_module(name, self.revert(child))
        del model
        return converted


class _BatchNormXd(torch.nn.modules.batchnorm._BatchNorm):
    def _check_input_dim(self, input: torch.Tensor) -> None:
        # any ``BatchNorm*D`` input is accepted, like ``SyncBatchNorm`` does
        return
