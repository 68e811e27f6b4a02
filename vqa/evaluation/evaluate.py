"""Official evaluation of a results file against a benchmark's own files (what `vqa data evaluate` runs)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vqa.data.sources.base import DatasetError
from vqa.data.sources.clevr import clevr_entries
from vqa.data.sources.gqa import read_gqa_questions
from vqa.data.sources.vqa_v2 import read_vqa_v2_annotations
from vqa.evaluation.metrics import CLEVRAccuracy, GQAMetrics, OfficialVQAAccuracy


def _check_coverage(results: Mapping[Any, str], expected: list[Any], what: str) -> None:
    """Every question needs exactly one prediction and no prediction may name an unknown question."""
    expected_set = set(expected)
    missing = [q for q in expected if q not in results]
    extra = [q for q in results if q not in expected_set]
    if missing:
        raise DatasetError(
            f"results miss {len(missing)} of the {len(expected)} questions of {what}, e.g. {missing[0]!r}"
        )
    if extra:
        raise DatasetError(f"results hold {len(extra)} question ids that are not in {what}, e.g. {extra[0]!r}")


def _floats(values: Mapping[str, Any]) -> dict[str, float]:
    return {key: float(value) for key, value in values.items()}


def evaluate_vqa_v2(results: Mapping[int, str], annotations_file: str | os.PathLike) -> dict[str, float]:
    """The official VQA v2 accuracy (percent): "overall", "answer_type/<t>", "question_type/<t>".

    Args:
        results: question_id -> predicted answer, for every question of the annotations file.
        annotations_file: the official annotations of the split (e.g. v2_mscoco_val2014_annotations.json).
    """
    path = Path(annotations_file)
    annotations = read_vqa_v2_annotations(path, "VQA v2")
    _check_coverage(results, list(annotations), str(path))
    entries = [entry for _, entry in annotations.values()]
    metric = OfficialVQAAccuracy(question_types=sorted({e["question_type"] for e in entries}))
    metric.update(
        [results[e["question_id"]] for e in entries],
        [[a["answer"] for a in e["answers"]] for e in entries],
        [e["answer_type"] for e in entries],
        [e["question_type"] for e in entries],
    )
    return {k: v for k, v in _floats(metric.compute()).items() if not math.isnan(v)}


def evaluate_gqa(results: Mapping[str, str], questions_file: str | os.PathLike) -> dict[str, float]:
    """The GQA metrics without scene graphs (see `vqa.evaluation.metrics.GQAMetrics`).

    Args:
        results: questionId -> prediction, for every balanced question of the file (and, for the official
            consistency, every question entailed by one; with a balanced file those are partly absent).
        questions_file: e.g. testdev_balanced_questions.json (or *_all_questions.json).
    """
    path = Path(questions_file)
    questions = read_gqa_questions(path, "GQA", labeled=True)
    scored = [qid for qid, q in questions.items() if q.get("isBalanced") is not False]
    _check_coverage({q: a for q, a in results.items() if q in questions}, scored, str(path))
    unknown = [q for q in results if q not in questions]
    if unknown:
        raise DatasetError(f"results hold {len(unknown)} question ids that are not in {path}, e.g. {unknown[0]!r}")
    metric = GQAMetrics(questions)
    ids = list(results)
    metric.update(ids, [results[q] for q in ids])
    return {k: v for k, v in _floats(metric.compute()).items() if not math.isnan(v)}


def evaluate_clevr(results: Mapping[int, str], questions_file: str | os.PathLike) -> dict[str, float]:
    """CLEVR accuracy (percent), overall and per question type ("type/count", ...).

    Args:
        results: question_index -> predicted answer, for every question of the file.
        questions_file: a CLEVR questions file with answers and programs (e.g. CLEVR_val_questions.json).
    """
    path = Path(questions_file)
    records = [entry.record for entry in clevr_entries(path, "CLEVR questions", labeled=True)]
    indices = [r.meta["question_index"] for r in records]
    _check_coverage(results, indices, str(path))
    metric = CLEVRAccuracy()
    metric.update([results[i] for i in indices], [r.answers[0] for r in records], [r.types["type"] for r in records])
    return {k: v for k, v in _floats(metric.compute()).items() if not math.isnan(v)}
