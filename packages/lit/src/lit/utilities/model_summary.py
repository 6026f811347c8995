"""Model summaries for direct use (``lightning.pytorch.utilities.model_summary``).

Example:
    >>> import torch
    >>> from lit.utilities.model_summary import summarize
    >>> summary = summarize(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), max_depth=1)
    >>> summary.total_parameters
    15
"""

from __future__ import annotations

from lit_callbacks._model_summary import (
    LayerSummary,
    ModelSummary,
    get_formatted_model_size,
    get_human_readable_count,
    parse_batch_shape,
    summarize,
)

__all__ = [
    "LayerSummary",
    "ModelSummary",
    "get_formatted_model_size",
    "get_human_readable_count",
    "parse_batch_shape",
    "summarize",
]
