"""What every trainer of the `vqa` command gets unless a config says otherwise.

These settings are the same for every dataset, so they live here instead of in each `configs/<dataset>.yaml`:

* `Checkpoints` (the `checkpoints:` section of a config, `--checkpoints.*` flags): the best model by validation
  accuracy, `last.ckpt` and a step checkpoint every N optimizer steps, all written atomically.
* a CSV logger in `trainer.default_root_dir` (`runs/<dataset>/lightning_logs/version_N/`) where the config leaves
  `trainer.logger` unset: `default_logger`.
* `TRAINER_DEFAULTS`: Trainer arguments whose Lightning default does not suit the toolkit (any `trainer.*` value
  in YAML or flags overrides them).
"""

from __future__ import annotations

import os
from typing import Any

from jsonargparse.typing import NonNegativeInt
from lightning.pytorch.callbacks import Callback, Checkpoint, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.plugins.io import CheckpointIO

from vqa.training.checkpoint_io import AtomicCheckpointIO

# One device: Lightning's "auto" would start DDP on every GPU of a multi-GPU machine (ask for DDP with
# --trainer.devices, docs/reliability.md). Clipping by norm 1.0: the shipped recipes were all tuned with it.
TRAINER_DEFAULTS: dict[str, Any] = {"devices": 1, "gradient_clip_val": 1.0}


class Checkpoints:
    """The checkpoints `vqa fit` writes, atomically: the best, the last, one every N steps (docs/reliability.md).

    They stay whatever `trainer.callbacks` and `trainer.plugins` a config adds, and give way only to an explicit
    choice: a checkpoint callback of the config's own (e.g. a `ModelCheckpoint` in `trainer.callbacks`) replaces
    the three callbacks below, a `CheckpointIO` plugin of its own replaces the atomic writer, and
    `trainer.enable_checkpointing: false` turns the callbacks off.

    Args:
        best: keep the best model by validation accuracy (`best-epoch=E.ckpt`): `--ckpt_path best`, `vqa export`.
        last: rewrite `last.ckpt` at the end of every epoch, after validation: the final model.
        every_n_train_steps: also write `step-N.ckpt` every this many optimizer steps (only the newest is kept), so
            that `--ckpt_path last` after a kill loses at most this many steps; 0 writes none.
        atomic: write checkpoint files atomically (`AtomicCheckpointIO`): a kill never leaves a truncated file.
    """

    def __init__(
        self, best: bool = True, last: bool = True, every_n_train_steps: NonNegativeInt = 500, atomic: bool = True
    ) -> None:
        self.best = best
        self.last = last
        self.every_n_train_steps = every_n_train_steps
        self.atomic = atomic

    def callbacks(self) -> list[ModelCheckpoint]:
        """The checkpoint callbacks, best first (Lightning's `trainer.checkpoint_callback` is the first one)."""
        callbacks = []
        if self.best:
            callbacks.append(ModelCheckpoint(monitor="val/acc", mode="max", filename="best-{epoch}"))
        if self.last:
            # Not `save_last=True` on the best one: Lightning then rewrites last.ckpt only when a new best is saved.
            callbacks.append(ModelCheckpoint(filename="last"))
        if self.every_n_train_steps:
            callbacks.append(
                ModelCheckpoint(
                    every_n_train_steps=int(self.every_n_train_steps),  # a plain int: it is part of the state key
                    filename="step-{step}",
                    auto_insert_metric_name=False,
                )
            )
        return callbacks

    def add_callbacks(self, callbacks: Any, enable_checkpointing: bool | None) -> list[Callback]:
        """`callbacks` (the config's `trainer.callbacks`: None, one or a list) with the checkpoint callbacks added,
        unless checkpointing is off or the config brings a checkpoint callback of its own."""
        callbacks = _as_list(callbacks)
        if enable_checkpointing is False or any(isinstance(c, Checkpoint) for c in callbacks):
            return callbacks
        return callbacks + self.callbacks()

    def add_plugins(self, plugins: Any) -> list[Any]:
        """`plugins` (the config's `trainer.plugins`: None, one or a list) with the atomic checkpoint writer added,
        unless it is off or the config brings a checkpoint writer of its own."""
        plugins = _as_list(plugins)
        if not self.atomic or any(isinstance(p, CheckpointIO) for p in plugins):
            return plugins
        return plugins + [AtomicCheckpointIO()]


def default_logger(logger: Any, default_root_dir: str | None) -> Logger | Any:
    """`logger` as configured, or, where the config leaves Lightning's default (unset or `true`), a CSV logger in
    `default_root_dir` (Lightning's default would be TensorBoard's when it is installed)."""
    if logger is None or logger is True:
        return CSVLogger(save_dir=default_root_dir or os.getcwd())
    return logger


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
