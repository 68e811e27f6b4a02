"""Per-question test results of a benchmark cell: what the significance tests and `vqa benchmark compare` read.

Every cell writes `cells/<key>/test_predictions.jsonl.gz` in its run folder: gzipped JSON lines, one test question
per line, in the order of the test split:

    {"question_id": 17, "image_id": 3, "types": {"family": "relational", "type": "closest"}, "answer": "yes",
     "score": 1.0}

* `question_id`: the record's `meta["question_id"]`, else its position in the test split;
* `image_id`: the record's `meta["image_id"]`, else the image's position in the split (questions sharing it share
  the image: the clusters of the bootstrap);
* `types`: the record's breakdown keys (the per-type columns of the tables);
* `answer`: the predicted (arg-max) answer; `score`: its VQA soft score (0 / 0.3 / 0.6 / 0.9 / 1 on VQA v2, 0 or 1
  for single-label sets). The mean score x100 is the cell's test accuracy.

The file is written atomically and byte for byte reproducibly (no time stamp in the gzip header), so two runs of
a deterministic cell give identical files.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from vqa.data.records import VQARecord
from vqa.errors import VQAError
from vqa.io import atomic_path

FILE_NAME = "test_predictions.jsonl.gz"


def predictions_path(run_dir: str | os.PathLike, key: str) -> Path:
    """Where the cell `key` of the run in `run_dir` keeps its per-question test results."""
    return Path(run_dir) / "cells" / key / FILE_NAME


class PerQuestionRecorder(pl.Callback):
    """Records, during `trainer.test`, each test question's answer and VQA score.

    It reads what the test step returns for its callbacks (`VQALitModule.test_step`): the very answers and
    scores the test accuracy averages, with no second forward pass. Results stay on the device until the test
    ends (no host sync per batch). Under DDP every process records its share; they are gathered on every process
    at the end.

    Attributes:
        index: [N] long, position of each recorded question in the test split, ascending.
        answer_ids: [N] long, the predicted answer's id in the answer vocabulary (-1: a generated answer outside it).
        scores: [N] float, its VQA score in [0, 1].
        written: [N] the generated answers as strings (a generator head), or None.
    """

    def __init__(self) -> None:
        self.index = torch.empty(0, dtype=torch.long)
        self.answer_ids = torch.empty(0, dtype=torch.long)
        self.scores = torch.empty(0)
        self.written: list[str] | None = None
        self._parts: list[tuple[Tensor, Tensor, Tensor, list[str] | None]] = []

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._parts = []

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int, *args: Any
    ) -> None:
        if isinstance(outputs, dict) and "scores" in outputs:
            part = (
                outputs["index"],
                outputs["answer_ids"].detach(),
                outputs["scores"].detach(),
                outputs.get("written"),
            )
            self._parts.append(part)

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        parts = [(i.cpu(), a.cpu(), s.float().cpu(), w) for i, a, s, w in self._parts]
        if trainer.world_size > 1:
            gathered: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, parts)
            parts = [part for rank_parts in gathered for part in rank_parts]
        self._parts = []
        if not parts:
            return
        index, answer_ids, scores = (torch.cat(column) for column in list(zip(*parts))[:3])
        order = torch.argsort(index)
        self.index, self.answer_ids, self.scores = index[order], answer_ids[order], scores[order]
        if all(w is not None for *_, w in parts):
            written = [text for *_, w in parts for text in w]
            self.written = [written[i] for i in order.tolist()]


def question_lines(
    records: Sequence[VQARecord],
    index: Tensor,
    answer_ids: Tensor,
    scores: Tensor,
    answers: Sequence[str],
    written: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The lines of a predictions file for the recorded questions.

    Args:
        records: the test split's records.
        index: [N] position of each recorded question in `records`.
        answer_ids: [N] predicted answer ids.
        scores: [N] their VQA scores.
        answers: the answer vocabulary (id -> answer).
        written: [N] the generated answers (a generator head; ids of -1 are answers outside the vocabulary).
    """
    lines = []
    for row, (position, answer_id, score) in enumerate(zip(index.tolist(), answer_ids.tolist(), scores.tolist())):
        record = records[position]
        lines.append(
            {
                "question_id": record.meta.get("question_id", position),
                "image_id": record.meta.get("image_id", record.image),
                "types": dict(record.types),
                "answer": written[row] if written is not None else answers[answer_id],
                "score": round(score, 6),  # float32 0.3 -> 0.3, not 0.30000001192092896
            }
        )
    return lines


def write_predictions(path: str | os.PathLike, lines: Sequence[dict[str, Any]]) -> None:
    """Write the lines as gzipped JSON lines, atomically; equal lines give equal bytes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        # mtime=0 and no file name in the header: the bytes depend on the content only.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            for line in lines:
                out.write((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"))


@dataclass(frozen=True)
class QuestionResults:
    """One cell's per-question test results as arrays, in file order.

    Attributes:
        question_ids: [N] question ids (int or str).
        image_ids: [N] image ids (int or str).
        types: type key (e.g. "family") -> [N] str, "" where a question has no value for that key.
        answers: [N] str, predicted answers.
        scores: [N] float64, VQA scores in [0, 1].
    """

    question_ids: np.ndarray
    image_ids: np.ndarray
    types: dict[str, np.ndarray]
    answers: np.ndarray
    scores: np.ndarray

    @property
    def accuracy(self) -> float:
        """Mean score x100: the cell's test accuracy."""
        return 100.0 * float(self.scores.mean()) if len(self.scores) else float("nan")


def read_predictions(path: str | os.PathLike) -> QuestionResults:
    """Read a file written by `write_predictions`, checking every line (errors name the file and line)."""
    path = Path(path)
    if not path.is_file():
        raise VQAError(
            f"{path}: no per-question test results; cells run before they were recorded have none (delete the "
            "cell's .json file beside its folder to run it again)"
        )
    question_ids, image_ids, type_rows, answers, scores = [], [], [], [], []
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                line = _parse_line(text, path, number)
                question_ids.append(line["question_id"])
                image_ids.append(line["image_id"])
                type_rows.append(line["types"])
                answers.append(line["answer"])
                scores.append(line["score"])
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise VQAError(f"{path}: not a readable gzipped JSON-lines file ({error})") from error
    if len(set(question_ids)) != len(question_ids):
        raise VQAError(f"{path}: some question_id appears on two lines")
    keys = sorted({key for row in type_rows for key in row})
    return QuestionResults(
        question_ids=np.asarray(question_ids),
        image_ids=np.asarray(image_ids),
        types={key: np.asarray([str(row.get(key, "")) for row in type_rows]) for key in keys},
        answers=np.asarray(answers, dtype=str),
        scores=np.asarray(scores, dtype=np.float64),
    )


def _parse_line(text: str, path: Path, number: int) -> dict[str, Any]:
    """One checked line of a predictions file."""
    try:
        line = json.loads(text)
    except json.JSONDecodeError as error:
        raise VQAError(f"{path}, line {number}: invalid JSON ({error.msg})") from error
    expected = {"question_id": (int, str), "image_id": (int, str), "types": dict, "answer": str, "score": (int, float)}
    if not isinstance(line, dict):
        raise VQAError(f"{path}, line {number}: expected an object, got {type(line).__name__}")
    for key, kind in expected.items():
        if key not in line:
            raise VQAError(f"{path}, line {number}: missing key {key!r}")
        if not isinstance(line[key], kind) or isinstance(line[key], bool):
            raise VQAError(f"{path}, line {number}: {key} has the wrong type ({type(line[key]).__name__})")
    if not 0.0 <= line["score"] <= 1.0:
        raise VQAError(f"{path}, line {number}: score {line['score']} is outside [0, 1]")
    return line
