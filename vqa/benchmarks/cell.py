"""One benchmark cell, run in its own process by `vqa.benchmarks.grid`: fit, test the best checkpoint, measure.

python -m vqa.benchmarks.cell '<json spec>'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

from vqa.benchmarks.predictions import PerQuestionRecorder, predictions_path, question_lines, write_predictions
from vqa.benchmarks.timing import peak_memory_gib, synchronized_time
from vqa.evaluation.baselines import question_only_prior
from vqa.inference.bundle import export_checkpoint
from vqa.io import write_json
from vqa.training.cli import build_cli
from vqa.training.determinism import make_cpu_deterministic


class BenchmarkMeter(pl.Callback):
    """Wall-clock time and samples of training (validation excluded) and of testing."""

    def __init__(self) -> None:
        self.train_samples = 0
        self.test_samples = 0
        self.fit_time = 0.0
        self.validation_time = 0.0
        self.test_time = 0.0
        self._start = 0.0
        self._validation_start = 0.0
        self._test_start = 0.0
        self.epoch_times: list[float] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        self._start = synchronized_time(pl_module.device)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.fit_time = synchronized_time(pl_module.device) - self._start

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.train_samples += int(batch["token_ids"].shape[0])

    def on_validation_start(self, trainer, pl_module) -> None:
        self._validation_start = synchronized_time(pl_module.device)

    def on_validation_end(self, trainer, pl_module) -> None:
        self.validation_time += synchronized_time(pl_module.device) - self._validation_start

    def on_test_start(self, trainer, pl_module) -> None:
        self._test_start = synchronized_time(pl_module.device)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.test_samples += int(batch["token_ids"].shape[0])

    def on_test_end(self, trainer, pl_module) -> None:
        self.test_time = synchronized_time(pl_module.device) - self._test_start


def learning_curve(log_dir: str) -> list[dict[str, Any]]:
    """Every validation's accuracy (overall and per type, under "val"), loss and training time so far
    (`time/train_s`, logged by `vqa.training.clock.TrainingClock`) from the CSV logger's metrics file."""
    import csv

    path = Path(log_dir) / "metrics.csv"
    if not path.exists():
        return []
    curve = []
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("val/acc"):
                curve.append(
                    {
                        "epoch": int(row["epoch"]),
                        "step": int(row["step"]),
                        "val_acc": float(row["val/acc"]),
                        "val_loss": float(row.get("val/loss") or "nan"),
                        "train_s": float(row.get("time/train_s") or "nan"),
                        "val": {k: float(v) for k, v in row.items() if k.startswith("val/acc") and v},
                    }
                )
    return curve


def run(spec: dict[str, Any]) -> dict[str, Any]:
    cell, cell_dir = spec["cell"], spec["cell_dir"]
    logger = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": cell_dir, "name": "", "version": ""},
    }
    args = [
        "-c",
        cell["dataset_config"],
        "-c",
        cell["fusion_config"],
        *(arg for path in cell.get("encoder_configs", ()) for arg in ("-c", path)),
        *cell.get("head_overrides", ()),
        *spec["overrides"],
        f"--seed_everything={cell['seed']}",
        f"--data.seed={cell['seed']}",
        f"--trainer.default_root_dir={cell_dir}",
        f"--trainer.logger={json.dumps(logger)}",
        "--trainer.enable_progress_bar=false",
    ]
    cli = build_cli(args, run=False)
    meter = BenchmarkMeter()
    recorder = PerQuestionRecorder()
    cli.trainer.callbacks += [meter, recorder]  # the meter first: its test clock stops before the recorder's copy
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    deterministic = make_cpu_deterministic(trainer.strategy.root_device)  # a rerun gives the identical accuracy
    trainer.fit(model, datamodule=data)
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None and checkpoint.best_model_path else None
    tested = trainer.test(model, datamodule=data, ckpt_path=best, weights_only=True)[0]  # tensors and plain data only
    test = {
        key.removeprefix("test/").removeprefix("acc/") if key != "test/acc" else "acc": float(value)
        for key, value in tested.items()
        if key.startswith("test/acc")
    }
    records = data.split("test").records
    lines = question_lines(
        records, recorder.index, recorder.answer_ids, recorder.scores, model.vocab.answers.answers, recorder.written
    )
    predictions = predictions_path(".", spec["key"])  # relative to the run folder, which holds cells/
    write_predictions(Path(cell_dir).parent.parent / predictions, lines)
    device = model.device
    bundle = str(export_checkpoint(best, Path(cell_dir) / "bundle", overwrite=True)) if best else None
    return {
        **cell,
        "key": spec["key"],
        "test": test,
        "test_loss": float(tested.get("test/loss", float("nan"))),
        "best_val_acc": float(checkpoint.best_model_score)
        if best and checkpoint.best_model_score is not None
        else None,
        "checkpoint": best,
        "bundle": bundle,
        "parameters": sum(p.numel() for p in model.model.parameters()),
        "epochs": trainer.current_epoch,
        "train_time_s": meter.fit_time - meter.validation_time,
        "fit_time_s": meter.fit_time,
        "train_samples": meter.train_samples,
        "train_samples_per_s": meter.train_samples / max(meter.fit_time - meter.validation_time, 1e-9),
        "test_samples_per_s": meter.test_samples / max(meter.test_time, 1e-9),
        "peak_memory_mb": 1024 * peak_memory_gib(device),  # since the cell's process started (never reset)
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "deterministic": deterministic,
        "predictions": predictions.as_posix(),
        "question_prior": question_only_prior(data.split("train").records, data.split("test").records),
        "curve": learning_curve(cell_dir),
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    write_json(spec["result_file"], run(spec))
