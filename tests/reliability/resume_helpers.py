"""A callback for the kill-and-resume test: training pauses at a given step so the test can kill it there."""

from __future__ import annotations

import time
from pathlib import Path

import lightning.pytorch as pl


class PauseAtStep(pl.Callback):
    """Before global step `step` runs, write `marker` and wait (the test then kills the process with SIGKILL).

    Args:
        step: the optimizer step to stop before.
        marker: file written when the pause begins.
    """

    def __init__(self, step: int, marker: str) -> None:
        self.step = step
        self.marker = marker

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            Path(self.marker).write_text(f"paused before step {self.step}, epoch {trainer.current_epoch}\n")
            time.sleep(600)
