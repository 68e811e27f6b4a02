"""The question-only prior baseline against a case worked out by hand."""

from __future__ import annotations

import pytest

from vqa.data.records import VQARecord
from vqa.evaluation.baselines import question_only_prior


def record(question: str, answers: list[str], kind: str = "other") -> VQARecord:
    return VQARecord(image=0, question=question, answers=answers, types={"kind": kind})


TRAIN = [
    record("What color?", ["red"]),
    record("what color?", ["red"]),  # the same question: strings are compared lower-cased
    record("What color?", ["blue"]),
    record("Is it big?", ["yes"]),
    record("Is it big?", ["no"]),
    record("Is it big?", ["no"]),
    record("Is it big?", ["no"]),
    # Ten human answers each: every human answer counts, so "3" (9 of 20) wins although "2" is the first
    # question's own majority and the second is a tie.
    record("How many?", ["2"] * 6 + ["3"] * 4),
    record("How many?", ["3"] * 5 + ["4"] * 5),
]
# Over all human answers: red 2, blue 1, yes 1, no 3, "2" 6, "3" 9, "4" 5, so an unseen question gets "3".


def test_question_only_prior_hand_worked():
    test = [
        record("WHAT COLOR?", ["red"], "color"),  # guess red: 1
        record("What color?", ["blue"], "color"),  # guess red: 0
        record("Is it big?", ["no"], "yes/no"),  # guess no: 1
        record("Is it small?", ["no"], "yes/no"),  # unseen, guess "3": 0
        record("How many now?", ["3"], "number"),  # unseen, guess "3": 1
        record("How many?", ["3"] * 2 + ["2"] * 8, "number"),  # guess "3", given by 2 of 10 humans: 0.6
    ]
    result = question_only_prior(TRAIN, test)
    assert result == pytest.approx(
        {
            "overall": 100 * 3.6 / 6,
            "kind/color": 50.0,
            "kind/yes/no": 50.0,
            "kind/number": 80.0,
        }
    )
