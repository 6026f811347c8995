"""Train a small classifier on the 8x8 handwritten digits with the full Trainer.

The 1,797 images (the UCI optical digits test set, as distributed with scikit-learn, BSD-licensed) ship with
lit as ``lit/demos/data/digits.npz``; nothing is downloaded. Run::

    python -m lit.demos.digits --epochs 20 --batch-size 64

It shows a progress bar, validates every epoch, keeps the best checkpoint, and prints the test accuracy and
where the checkpoint and the logs are.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from lit.core.datamodule import LightningDataModule
from lit.core.module import LightningModule

__all__ = ["DigitsClassifier", "DigitsDataModule", "load_digits", "main"]


def load_digits() -> tuple[Tensor, Tensor]:
    """The 1,797 digits as ``(images, labels)``: float images ``(N, 64)`` scaled to [0, 1] and int64 labels."""
    with resources.files("lit.demos").joinpath("data/digits.npz").open("rb") as f:
        data = np.load(f)
        images = torch.from_numpy(data["images"].astype(np.float32) / 16.0)
        labels = torch.from_numpy(data["labels"].astype(np.int64))
    return images, labels


class DigitsDataModule(LightningDataModule):
    """Splits the digits 70/15/15 into train/val/test with a fixed seed.

    Args:
        batch_size: training batch size (evaluation uses 256).
        seed: seed of the split.
    """

    def __init__(self, batch_size: int = 64, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seed = seed

    def setup(self, stage: str) -> None:
        images, labels = load_digits()
        perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(self.seed))
        n_train, n_val = int(0.7 * len(perm)), int(0.15 * len(perm))
        parts = perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]
        self.train_set, self.val_set, self.test_set = (TensorDataset(images[p], labels[p]) for p in parts)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=256)


class DigitsClassifier(LightningModule):
    """A 64-128-10 MLP with dropout, trained with AdamW and a cosine learning-rate schedule.

    Args:
        hidden: hidden layer width.
        lr: peak learning rate.
    """

    def __init__(self, hidden: int = 256, lr: float = 1e-2) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def _shared(self, batch: Any, stage: str) -> Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(-1) == y).float().mean()
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, prog_bar=stage != "test", on_step=on_step, on_epoch=True)
        self.log(f"{stage}_acc", acc, prog_bar=stage != "train", on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._shared(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._shared(batch, "test")

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr, weight_decay=1e-4)
        steps = self.trainer.estimated_stepping_batches
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.hparams.lr, total_steps=int(steps)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m lit.demos.digits", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", "--max-epochs", dest="epochs", type=int, default=20, help="training epochs (default: 20)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size (default: 64)")
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu, mps or auto (default: auto)")
    parser.add_argument("--devices", default="auto", help="devices to use (default: auto)")
    parser.add_argument(
        "--precision", default="32-true", help="32-true, bf16-mixed, 16-mixed, ... (default: 32-true)"
    )
    parser.add_argument("--strategy", default="auto", help="auto, ddp, ... (default: auto)")
    parser.add_argument("--root-dir", default=os.path.join(os.getcwd(), "digits_runs"), help="where logs go")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--no-progress-bar", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    return args


def main(argv: Sequence[str] | None = None) -> float:
    """Train, validate each epoch, checkpoint, test; returns the test accuracy."""
    args = _parse(argv)
    torch.set_num_threads(1)
    from lit.trainer.trainer import Trainer
    from lit.utilities.seed import seed_everything
    from lit_loggers import CSVLogger

    seed_everything(args.seed, verbose=False)
    devices: Any = args.devices if args.devices == "auto" else int(args.devices)
    logger = CSVLogger(save_dir=args.root_dir, name="digits")
    callbacks: list[Any] = []
    try:
        from lit.callbacks import ModelCheckpoint

        callbacks.append(
            ModelCheckpoint(monitor="val_acc", mode="max", filename="digits-{epoch:02d}-{val_acc:.3f}")
        )
    except (ImportError, AttributeError):  # pragma: no cover - older lit-callbacks without ModelCheckpoint
        pass
    trainer = Trainer(
        callbacks=callbacks,
        max_epochs=args.epochs,
        accelerator=args.accelerator,
        devices=devices,
        precision=args.precision,
        strategy=args.strategy,
        logger=logger,
        default_root_dir=args.root_dir,
        enable_progress_bar=not args.no_progress_bar,
        enable_model_summary=False,
        log_every_n_steps=10,
    )
    model = DigitsClassifier()
    data = DigitsDataModule(batch_size=args.batch_size, seed=args.seed)
    start = time.perf_counter()
    trainer.fit(model, datamodule=data)
    ckpt = trainer.checkpoint_callback
    ckpt_path = getattr(ckpt, "best_model_path", "") if ckpt is not None else ""
    if ckpt_path:
        results = trainer.test(
            model, datamodule=data, verbose=False, ckpt_path="best"
        )  # the best epoch's weights
    else:
        ckpt_path = os.path.join(logger.log_dir, "checkpoints", "last.ckpt")
        trainer.save_checkpoint(ckpt_path)
        results = trainer.test(model, datamodule=data, verbose=False)
    accuracy = float(results[0]["test_acc"])
    elapsed = time.perf_counter() - start
    print(f"test accuracy: {accuracy:.4f}  ({elapsed:.1f} s)")
    print(f"checkpoint:    {ckpt_path}")
    print(f"logs:          {logger.log_dir}")
    return accuracy


if __name__ == "__main__":
    acc = main()
    sys.exit(0 if acc >= 0.95 else 1)
