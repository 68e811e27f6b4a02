"""Results files in each benchmark's submission format, written atomically, and read back with checks.

VQA v2 (the official server):  [{"question_id": int, "answer": str}, ...]
GQA (the official evaluator):   [{"questionId": str, "prediction": str}, ...]
CLEVR (this toolkit's form):    [{"question_index": int, "answer": str}, ...]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqa.data.sources.base import DatasetError
from vqa.data.sources.json_reading import expect, field, read_json, read_jsonl
from vqa.io import write_json

# format -> (question id key in the results file, its JSON type, answer key)
FORMATS: dict[str, tuple[str, type, str]] = {
    "vqa_v2": ("question_id", int, "answer"),
    "gqa": ("questionId", str, "prediction"),
    "clevr": ("question_index", int, "answer"),
}


def results_entries(format: str, question_ids: Sequence[Any], answers: Sequence[str]) -> list[dict[str, Any]]:
    """The list of result dicts of `format` for these questions and answers (one per question, in order)."""
    if format not in FORMATS:
        raise ValueError(f"unknown results format {format!r}; expected one of {sorted(FORMATS)}")
    if len(question_ids) != len(answers):
        raise ValueError(f"got {len(answers)} answers for {len(question_ids)} question ids")
    id_key, id_type, answer_key = FORMATS[format]
    if len(set(question_ids)) != len(question_ids):
        raise ValueError(f"{format} results: every question id must appear once; some appear twice")
    return [{id_key: id_type(qid), answer_key: str(answer)} for qid, answer in zip(question_ids, answers)]


def write_results(path: str | os.PathLike, format: str, question_ids: Sequence[Any], answers: Sequence[str]) -> None:
    """Write a results file of `format` ("vqa_v2", "gqa", "clevr") atomically."""
    write_json(path, results_entries(format, question_ids, answers))


def write_vqa_v2_results(path: str | os.PathLike, question_ids: Sequence[int], answers: Sequence[str]) -> None:
    """`[{"question_id": int, "answer": str}]`, the file the VQA v2 evaluation server takes."""
    write_results(path, "vqa_v2", question_ids, answers)


def write_gqa_results(path: str | os.PathLike, question_ids: Sequence[str], answers: Sequence[str]) -> None:
    """`[{"questionId": str, "prediction": str}]`, the file the GQA evaluator takes."""
    write_results(path, "gqa", question_ids, answers)


def read_results(path: str | os.PathLike, format: str) -> dict[Any, str]:
    """question id -> answer from a results file of `format`, every entry checked."""
    path = Path(path)
    id_key, id_type, answer_key = FORMATS[format]
    entries = expect(read_json(path, f"{format} results file"), list, path, "top level")
    results: dict[Any, str] = {}
    for i, entry in enumerate(entries):
        qid = field(entry, id_key, id_type, path, f"[{i}]")
        if qid in results:
            raise DatasetError(f"{path}: [{i}]: {id_key} {qid!r} appears twice")
        results[qid] = field(entry, answer_key, str, path, f"[{i}]")
    return results


def results_from_predictions(path: str | os.PathLike, format: str) -> list[dict[str, Any]]:
    """Convert a `vqa predict` predictions file (JSON lines with the record's ids and top answers) to `format`.

    VQA v2 and GQA lines carry `question_id`, CLEVR lines `question_index`; the top-1 answer is submitted.
    """
    path = Path(path)
    if format not in FORMATS:
        raise ValueError(f"unknown results format {format!r}; expected one of {sorted(FORMATS)}")
    source_key = "question_index" if format == "clevr" else "question_id"
    id_type = FORMATS[format][1]
    ids, answers = [], []
    for line, entry in read_jsonl(path, "predictions file"):
        qid = field(entry, source_key, id_type, path, f"line {line}")
        top = field(entry, "predictions", list, path, f"line {line}")
        if not top:
            raise DatasetError(f"{path}: line {line}.predictions: empty")
        ids.append(qid)
        answers.append(field(top[0], "answer", str, path, f"line {line}.predictions[0]"))
    if len(set(ids)) != len(ids):
        raise DatasetError(
            f"{path}: some {source_key} appears on two lines (predictions of several ranks merged twice?)"
        )
    return results_entries(format, ids, answers)
