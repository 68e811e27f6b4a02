"""Training wall time, validation excluded, logged with every validation: the x axis of time-to-accuracy."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info


class TrainingClock(Callback):
    """Logs `time/train_s`, the wall time spent training so far (validation and sanity checks excluded), with
    every validation, so each row of validation metrics says how much training bought it.

    With `targets` (metric name -> value, e.g. `{"val/acc/family/relational": 95.0}`) it also prints the training
    time at which validation first reaches each target (kept in `reached`, and in checkpoints), and can stop
    training once every target is reached. Reports derive the same from the logged rows
    (`vqa.benchmarks.report`), so any target can be asked after the fact.

    Args:
        targets: metric -> value to reach; none by default.
        stop_when_reached: stop training once every target has been reached.
    """

    def __init__(self, targets: dict[str, float] | None = None, stop_when_reached: bool = False) -> None:
        self.targets = dict(targets or {})
        self.stop_when_reached = stop_when_reached
        self.train_seconds = 0.0
        self.reached: dict[str, float] = {}
        self._started: float | None = None

    # Training time accumulates between these pairs of hooks: a fit is training interrupted by validations.
    def _resume(self) -> None:
        self._started = time.perf_counter()

    def _pause(self) -> None:
        if self._started is not None:
            self.train_seconds += time.perf_counter() - self._started
            self._started = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._resume()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pause()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._pause()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            pl_module.log("time/train_s", self.train_seconds)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        # Here (not at epoch end, where callbacks run before the module's own hook) every metric is logged.
        metrics = trainer.callback_metrics
        for name, target in self.targets.items():
            if name not in self.reached and name in metrics and float(metrics[name]) >= target:
                self.reached[name] = self.train_seconds
                rank_zero_info(f"{name} reached {target} after {self.train_seconds:.0f} s of training")
        if self.stop_when_reached and self.targets and len(self.reached) == len(self.targets):
            trainer.should_stop = True
        self._resume()  # validation inside an epoch: training goes on afterwards

    def state_dict(self) -> dict[str, Any]:
        return {"train_seconds": self.train_seconds, "reached": dict(self.reached)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.train_seconds = float(state_dict.get("train_seconds", 0.0))
        self.reached = dict(state_dict.get("reached", {}))
