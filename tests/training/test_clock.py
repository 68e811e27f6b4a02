"""The training clock: training time (validation excluded) logged with every validation, targets reached."""

from __future__ import annotations

import csv
import time

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tests.conftest import TINY_CONFIG
from vqa.cli import main
from vqa.training.clock import TrainingClock


class SlowModule(pl.LightningModule):
    """Training steps take `train_delay` seconds and validation steps `val_delay`; val/acc rises 10 per check."""

    def __init__(self, train_delay: float, val_delay: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.train_delay, self.val_delay = train_delay, val_delay
        self.checks = 0

    def training_step(self, batch, batch_idx):
        time.sleep(self.train_delay)
        return (self.weight * batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        time.sleep(self.val_delay)

    def on_validation_epoch_end(self):
        self.checks += 0 if self.trainer.sanity_checking else 1
        self.log("val/acc", 10.0 * self.checks)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(clock: TrainingClock, tmp_path, epochs: int = 4) -> SlowModule:
    data = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=1)
    module = SlowModule(train_delay=0.02, val_delay=0.1)
    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[clock],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, data, data)
    return module


def test_validation_time_is_not_training_time(tmp_path):
    clock = TrainingClock()
    fit(clock, tmp_path)
    # 4 epochs x 4 steps x 20 ms of training; validation (4 x 4 x 100 ms, plus the sanity check) is excluded
    assert 0.3 <= clock.train_seconds < 1.0, clock.train_seconds


def test_targets_are_timed_and_can_stop_training(tmp_path):
    clock = TrainingClock(targets={"val/acc": 20.0}, stop_when_reached=True)
    module = fit(clock, tmp_path, epochs=10)
    assert module.checks == 2, "training stops at the validation that first reaches the target"
    assert set(clock.reached) == {"val/acc"} and 0.1 <= clock.reached["val/acc"] < 0.5
    assert clock.state_dict()["reached"] == clock.reached


def test_every_cli_run_logs_training_time_with_validation(tmp_path):
    main(
        [
            "fit",
            "-c",
            str(TINY_CONFIG),
            f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.max_epochs=2",
            "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
            f"--trainer.logger.save_dir={tmp_path}",
        ]
    )
    rows = list(csv.DictReader(open(next(tmp_path.rglob("metrics.csv")))))
    times = [float(r["time/train_s"]) for r in rows if r.get("time/train_s")]
    assert len(times) == 2 and 0 < times[0] < times[1], times
