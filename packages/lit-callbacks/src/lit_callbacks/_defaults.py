"""Defaults a trainer picks when the user does not choose."""

from __future__ import annotations

from lit_callbacks._progress_bar import ProgressBar
from lit_hooks import MissingExtraError


def default_progress_bar() -> ProgressBar:
    """The default progress bar: :class:`RichProgressBar` when rich is installed, else :class:`TQDMProgressBar`.

    A trainer with ``enable_progress_bar=False`` uses none.
    """
    from lit_callbacks._rich_progress import RichProgressBar
    from lit_callbacks._tqdm_progress import TQDMProgressBar

    try:
        return RichProgressBar()
    except MissingExtraError:
        return TQDMProgressBar()
