"""Callbacks the CLI always installs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import BasePredictionWriter

from vqa.io import atomic_path


class PredictionWriter(BasePredictionWriter):
    """Writes `vqa predict` results as JSON lines: one question per line with its top answers.

    Args:
        path: output file (default: `predictions.jsonl` in the run's log directory).
        top_k: answers kept per question.
    """

    def __init__(self, path: str | None = None, top_k: int = 3) -> None:
        super().__init__(write_interval="epoch")
        self.path = path
        self.top_k = top_k

    def write_on_epoch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        datamodule = trainer.datamodule
        records = datamodule.dataset(datamodule.predict_split).records
        answers = pl_module.vocab.answers.answers
        path = Path(self.path or Path(trainer.log_dir or ".") / "predictions.jsonl")
        if trainer.world_size > 1:
            path = path.with_name(f"{path.stem}.rank{trainer.global_rank}{path.suffix}")
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
            for batch in predictions:
                for index, ids, probs in zip(batch["index"], batch["answer_ids"], batch["probabilities"]):
                    record = records[int(index)]
                    top = [
                        {"answer": answers[int(i)], "probability": round(float(p), 6)}
                        for i, p in zip(ids[: self.top_k], probs[: self.top_k])
                    ]
                    line = {"question": record.question, "answers": record.answers, "predictions": top, **record.meta}
                    out.write(json.dumps(line, ensure_ascii=False) + "\n")
        print(f"predictions written to {path}")
