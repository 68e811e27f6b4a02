"""Statistics of a dataset as the data module sees it: sizes, answers, types and vocabulary coverage."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from vqa.data.datamodule import VQADataModule
from vqa.data.record_table import answer_column, group_column
from vqa.data.sources.base import SPLITS


def dataset_stats(datamodule: VQADataModule, top_answers: int = 10) -> dict[str, Any]:
    """Everything `vqa data stats` prints, as JSON-ready data.

    Coverage is the best accuracy a model restricted to the answer vocabulary (built from training answers
    with the data module's `min_answer_count` / `max_answers`) could reach: the mean, over labeled questions,
    of the highest soft score of an in-vocabulary answer.
    """
    vocab = datamodule.vocab
    answers = vocab.answers
    result: dict[str, Any] = {
        "dataset": datamodule.source.describe(),
        "answer_vocabulary": {
            "size": len(answers),
            "min_answer_count": datamodule.min_answer_count,
            "max_answers": datamodule.max_answers,
        },
        "question_vocabulary": vocab.tokenizer.vocab_size,
        "splits": {},
    }
    for name in SPLITS:
        split = datamodule.split(name)
        records = split.records
        column = answer_column(records)  # columns: no record object per question (VQA v2: 658,111 of them)
        labeled_rows = np.flatnonzero(column.lengths > 0)
        labeled = column.take(labeled_rows)
        per_answer = labeled.counts()
        counts = Counter({column.values[i]: int(per_answer[i]) for i in np.flatnonzero(per_answer)})
        total_answers = sum(counts.values())
        # The encoded split's token mask: the same tokenizer on the same questions, and cached with the split.
        tokens = datamodule.dataset(name).token_mask.sum(1) if len(records) else None
        groups = group_column(records)
        result["splits"][name] = {
            "questions": len(records),
            "labeled_questions": len(labeled_rows),
            "images": len(split.images),
            "answers_per_question": round(total_answers / len(labeled_rows), 3) if len(labeled_rows) else 0.0,
            "distinct_answers": len(counts),
            "coverage": round(100.0 * answers.coverage_column(labeled), 2) if len(labeled_rows) else None,
            "mean_question_tokens": round(float(tokens.double().mean()), 2) if len(records) else 0.0,
            "types": dict(sorted((groups.values[i], int(c)) for i, c in enumerate(groups.counts()) if c)),
            "top_answers": [
                {"answer": a, "percent": round(100.0 * c / total_answers, 2)}
                for a, c in counts.most_common(top_answers)
            ],
        }
    return result


def format_stats(stats: dict[str, Any]) -> str:
    """A plain-text report of `dataset_stats` output."""
    vocabulary = stats["answer_vocabulary"]
    lines = [
        f"dataset: {stats['dataset']}",
        f"answer vocabulary: {vocabulary['size']} answers (min_answer_count={vocabulary['min_answer_count']}, "
        f"max_answers={vocabulary['max_answers']}), built from the training answers",
        f"question vocabulary: {stats['question_vocabulary']} tokens",
        "",
        f"{'split':<6} {'questions':>10} {'labeled':>10} {'images':>8} {'answers/q':>10} {'distinct':>9} "
        f"{'coverage %':>11} {'tokens/q':>9}",
    ]
    splits = stats["splits"]
    for name, s in splits.items():
        coverage = f"{s['coverage']:.2f}" if s["coverage"] is not None else "-"
        lines.append(
            f"{name:<6} {s['questions']:>10,} {s['labeled_questions']:>10,} {s['images']:>8,} "
            f"{s['answers_per_question']:>10.2f} {s['distinct_answers']:>9,} {coverage:>11} {s['mean_question_tokens']:>9.2f}"
        )
    types = sorted({t for s in splits.values() for t in s["types"]})
    if types:
        width = max(len("questions per type"), *(len(t) for t in types))
        lines += ["", f"{'questions per type':<{width}} " + " ".join(f"{name:>8}" for name in splits)]
        for t in types:
            lines.append(f"{t:<{width}} " + " ".join(f"{s['types'].get(t, 0):>8,}" for s in splits.values()))
    for name, s in splits.items():
        if s["top_answers"]:
            shown = ", ".join(f"{a['answer']} {a['percent']:.1f}%" for a in s["top_answers"])
            lines.append(f"\ntop answers ({name}): {shown}")
    return "\n".join(lines)
