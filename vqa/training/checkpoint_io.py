"""Checkpoint files written atomically: a kill at any moment leaves the previous checkpoint or the new one."""

from __future__ import annotations

from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vqa.io import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, but atomic on local disks.

    Lightning's own writer stages the bytes in a temporary file of the system temp folder and moves it into
    place: when that folder is on another file system (common on clusters) the move is a copy, and a kill during
    the copy leaves a truncated `last.ckpt`; the staged copy in the temp folder is also left behind. Here the
    checkpoint goes into a temporary file next to the target, is flushed to disk, and is renamed over it (see
    `vqa.io.atomic_path`). Remote paths (`s3://...`) keep Lightning's behaviour.

    The `vqa` command uses it unless told otherwise (`vqa.training.defaults.Checkpoints`).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
