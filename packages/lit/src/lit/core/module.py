"""``LightningModule`` (``lightning.pytorch.core.module``)."""

from __future__ import annotations

from typing import Any

from lit_loops import LightningModule as _LoopsLightningModule

__all__ = ["LightningModule"]


class _RestrictedClassmethod:
    """A classmethod that raises when called on an instance (like Lightning's ``load_from_checkpoint``)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __get__(self, instance: Any, owner: type) -> Any:
        if instance is not None:

            def raiser(*args: Any, **kwargs: Any) -> Any:
                raise TypeError(
                    f"The classmethod `{owner.__name__}.{self.fn.__name__}` cannot be called on an instance."
                    " Please call it on the class type and make sure the return value is used."
                )

            return raiser
        return self.fn.__get__(owner, owner)


class LightningModule(_LoopsLightningModule):
    """The lit ``LightningModule``: lit-loops' module plus checkpoint loading.

    See :class:`lit_loops.LightningModule` for the training API.
    """

    @_RestrictedClassmethod
    def load_from_checkpoint(
        cls,
        checkpoint_path: Any,
        map_location: Any = None,
        hparams_file: Any = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Create the module from a checkpoint's hyper-parameters and load its weights."""
        from lit.core.saving import load_from_checkpoint

        return load_from_checkpoint(
            cls,
            checkpoint_path,
            map_location=map_location,
            hparams_file=hparams_file,
            strict=strict,
            weights_only=weights_only,
            **kwargs,
        )
