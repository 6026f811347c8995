"""What the tuner callbacks need from a trainer, and the attribute helpers they share.

``LearningRateFinder`` and ``BatchSizeFinder`` run short trial runs in the middle of a ``fit``/``validate``/
``test``/``predict`` call and then put everything back. The trial runs and the exact save/restore are the
trainer's business, so the callbacks ask the trainer for a :class:`TuningSession` through one extra method,
``trainer.tuning_session()``, which lit's ``Trainer`` provides. A foreign trainer that wants the tuner
callbacks implements that method; every other callback needs only ``lit_hooks.TrainerProtocol``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, NoReturn, Protocol, Self, runtime_checkable

__all__ = [
    "TuningSession",
    "datamodule_of",
    "find_attr_holders",
    "get_attr",
    "has_attr",
    "set_attr",
    "tuning_session",
]


@runtime_checkable
class TuningSession(Protocol):
    """A search context lent by the trainer (``trainer.tuning_session()``).

    Used as a context manager: entering saves the complete state (model weights and gradients, optimizer,
    scheduler and precision-scaler states, loop progress, callbacks, loggers, limits, metrics, random number
    generators); leaving restores it exactly, whether the search succeeded or raised.

    Attributes:
        stage: The loop being tuned: ``"fit"``, ``"validate"``, ``"test"`` or ``"predict"``.
    """

    stage: str

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...

    def run_trial(self, steps: int, callbacks: Sequence[Any] = (), *, val_batches: float = 0) -> None:
        """Run ``steps`` more optimizer steps (fit) or ``steps`` batches (evaluation/prediction).

        Each trial starts from the saved loop progress, with only ``callbacks`` attached, no logger, no user
        learning-rate scheduler and, during fit, at most ``val_batches`` validation batches. Errors of the step
        (such as running out of memory) propagate to the caller.
        """
        ...

    def reload_dataloaders(self) -> None:
        """Ask the tuned loop for fresh dataloaders at the next trial and after the search (the batch size changed)."""
        ...

    def data_from_hooks(self) -> bool:
        """Whether the tuned loop's dataloaders come from ``*_dataloader`` hooks (so they can be rebuilt)."""
        ...

    def num_dataloaders(self) -> int:
        """How many dataloaders the tuned loop runs."""
        ...

    def dataset_length(self) -> int | None:
        """Length of the dataset behind the tuned loop's dataloader(s), ``None`` when it has no length."""
        ...

    def progress(self, description: str, total: int) -> Iterator[int]:
        """An iterator to advance (``next``) once per unit of work; shows a bar while the search runs."""
        ...

    def end_run(self) -> NoReturn:
        """Raise the signal that ends the current ``fit``/``validate``/... call cleanly (the tuner's early exit)."""
        ...


def tuning_session(trainer: Any, feature: str) -> TuningSession:
    """The trainer's :class:`TuningSession` (raises a ``TypeError`` naming ``feature`` when it has none)."""
    factory = getattr(trainer, "tuning_session", None)
    if not callable(factory):
        raise TypeError(
            f"`{feature}` needs a trainer that can run tuning trials (`trainer.tuning_session()`), and"
            f" {type(trainer).__name__!r} has none. Use lit's `Trainer`, or implement `tuning_session()` as"
            " described by `lit_callbacks._tuning.TuningSession`."
        )
    session = factory()
    if not isinstance(session, AbstractContextManager) and not hasattr(session, "__enter__"):
        raise TypeError(f"`trainer.tuning_session()` returned {session!r}, which is not a context manager.")
    return session


def find_attr_holders(model: Any, name: str, datamodule: Any = None) -> list[Any]:
    """Every object or mapping that holds ``name``: the model, ``model.hparams``, the datamodule, its ``hparams``.

    Lightning looks for tuned hyper-parameters (``lr``, ``batch_size``) in these places, in this order.
    """
    holders: list[Any] = []
    if hasattr(model, name):
        holders.append(model)
    hparams = getattr(model, "hparams", None)
    if hparams is not None and _contains(hparams, name):
        holders.append(hparams)
    if datamodule is not None:
        if hasattr(datamodule, name):
            holders.append(datamodule)
        dm_hparams = getattr(datamodule, "hparams", None)
        if dm_hparams is not None and _contains(dm_hparams, name):
            holders.append(dm_hparams)
    return holders


def _contains(container: Any, name: str) -> bool:
    try:
        return name in container
    except TypeError:
        return False


def has_attr(model: Any, name: str, datamodule: Any = None) -> bool:
    """Whether ``name`` is found by :func:`find_attr_holders`."""
    return bool(find_attr_holders(model, name, datamodule))


def get_attr(model: Any, name: str, datamodule: Any = None) -> Any:
    """The value of ``name`` from the last holder found (Lightning's precedence)."""
    holders = find_attr_holders(model, name, datamodule)
    if not holders:
        raise AttributeError(
            f"{name!r} is neither an attribute of the model nor a key of `model.hparams`, nor an attribute (or"
            " hparams key) of the datamodule. Add it to one of them, or pass the name of the attribute to use."
        )
    holder = holders[-1]
    return holder[name] if isinstance(holder, dict) else getattr(holder, name)


def set_attr(model: Any, name: str, value: Any, datamodule: Any = None) -> None:
    """Set ``name`` to ``value`` in every holder found by :func:`find_attr_holders`."""
    holders = find_attr_holders(model, name, datamodule)
    if not holders:
        raise AttributeError(
            f"{name!r} is neither an attribute of the model nor a key of `model.hparams`, nor an attribute (or"
            " hparams key) of the datamodule, so it cannot be updated."
        )
    for holder in holders:
        if isinstance(holder, dict):
            holder[name] = value
        else:
            setattr(holder, name, value)


def datamodule_of(trainer: Any) -> Any:
    """The trainer's datamodule, if any."""
    return getattr(trainer, "datamodule", None)
