"""Reference points every table should show: what the question alone gets you."""

from __future__ import annotations

from collections import Counter, defaultdict

from vqa.data.records import VQARecord
from vqa.data.vocab import soft_score


def question_only_prior(train: list[VQARecord], test: list[VQARecord]) -> dict[str, float]:
    """Accuracy (percent) of answering each test question with the most frequent training answer to the same
    question string (the global majority answer for unseen strings), overall and per breakdown group."""
    by_question: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for record in train:
        by_question[record.question.lower()].update(record.answers)
        overall.update(record.answers)
    fallback = overall.most_common(1)[0][0]
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for record in test:
        seen = by_question.get(record.question.lower())
        guess = seen.most_common(1)[0][0] if seen else fallback
        score = soft_score(record.answers.count(guess), len(record.answers))
        for key in ["overall", *(f"{k}/{v}" for k, v in record.types.items())]:
            totals[key] += score
            counts[key] += 1
    return {key: 100.0 * totals[key] / counts[key] for key in totals}
