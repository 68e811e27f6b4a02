"""The official VQA normalization and accuracy against hand-worked cases."""

from __future__ import annotations

import pytest
import torch

from vqa.data.vocab import soft_score
from vqa.evaluation.metrics import OfficialVQAAccuracy, vqa_accuracy
from vqa.evaluation.normalize import normalize_answer, strip_punctuation

# (answer as typed, after the official normalization) — each worked out by hand from the official evaluator's rules.
NORMALIZATION = [
    # number words become digits; other words stay
    ("Two", "2"),
    ("none", "0"),
    ("ten", "10"),
    ("eleven", "eleven"),
    ("one-way", "1 way"),  # "-" inside a word becomes a space, then "one" -> "1"
    # articles are dropped, case is folded
    ("a dog", "dog"),
    ("The Dog", "dog"),
    ("an apple", "apple"),
    ("the", ""),
    # spellings in the official contraction map get their apostrophes back; others, ordinary words and "I" forms
    # stay (every entry: tests/evaluation/test_vqa_normalization_tables.py)
    ("dont", "don't"),
    ("whats that", "what's that"),
    ("couldntve", "couldntve"),
    ("couldnt've", "couldn't've"),
    ("yall", "y'all"),
    ("its", "its"),
    ("were", "were"),
    ("im", "im"),
    ("can't", "can't"),
    # punctuation: deleted next to a space, else replaced by a space
    ("yes!", "yes"),
    ("red,white", "red white"),
    ("red, white", "red white"),
    ("black - white", "black white"),
    ("t-shirt", "t shirt"),
    ("left/right", "left right"),
    ("(2)", "2"),
    ("@home", "home"),
    ('"stop"', "stop"),
    # digit,comma,digit anywhere: every listed mark is deleted
    ("1,000", "1000"),
    ("1,000 dollars, maybe", "1000 dollars maybe"),
    ("2,5-3", "253"),
    ("2, 3", "2 3"),
    ("3/4", "3 4"),
    # periods: deleted unless a digit follows
    ("3.5", "3.5"),
    ("3.", "3"),
    ("3.5.", "3.5"),
    ("mr. smith", "mr smith"),
    ("e.g.", "eg"),
    ("$5.00", "$5.00"),
    # apostrophes and colons are kept; whitespace is cleaned
    ("10:30", "10:30"),
    ("\tTwo Dogs\n", "2 dogs"),
    ("  many   spaces ", "many spaces"),
]


@pytest.mark.parametrize(("typed", "expected"), NORMALIZATION)
def test_normalization_table(typed, expected):
    assert normalize_answer(typed) == expected


def test_punctuation_decision_uses_the_original_text():
    # "(" is followed by a space in the original, so it is deleted; ")" is not next to a space, so it becomes one.
    assert strip_punctuation("( a)b") == " a b"


@pytest.mark.parametrize(
    ("matches", "expected"), [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (5, 1.0), (9, 1.0)]
)
def test_closed_form(matches, expected):
    """min(1, n/3) averaged over the 10 leave-one-out subsets: 0 / .3 / .6 / .9 / 1 (not n/3 = .33, .67)."""
    answers = ["cat"] * matches + [f"other{i}" for i in range(10 - matches)]
    assert vqa_accuracy("cat", answers) == pytest.approx(expected)
    assert soft_score(matches, 10) == pytest.approx(expected)  # the training targets use the same numbers


def test_all_ten_identical():
    assert vqa_accuracy("cat", ["cat"] * 10) == 1.0


# (prediction, ten human answers, official accuracy) — worked out by hand.
ACCURACY = [
    # answers differ -> everything normalized: "Two"/"two"/"2" are all "2" (5 of them)
    ("Two", ["2"] * 3 + ["two"] * 2 + ["3"] * 5, 1.0),
    # all identical -> nothing but whitespace is normalized: case, number words and articles then matter
    ("2", ["Two"] * 10, 0.0),
    ("Two", ["Two"] * 10, 1.0),
    ("two", ["Two"] * 10, 0.0),
    (" Two\n", ["Two"] * 10, 1.0),
    ("Yes", ["yes"] * 10, 0.0),
    ("two", ["2"] * 10, 0.0),
    # articles: "a dog", "dog", "the dog" all become "dog" (4 matches)
    ("the dog", ["a dog"] * 2 + ["dog"] * 2 + ["cat"] * 6, 1.0),
    # contractions: "dont know" and "don't know" are one answer (4 matches)
    ("don't know", ["dont know"] * 3 + ["don't know"] + ["no"] * 6, 1.0),
    # digit,comma,digit: "1,000" is "1000" (3 matches)
    ("1000", ["1,000"] * 2 + ["1000"] + ["100"] * 7, 0.9),
    # a period before a digit stays, a final one goes: "3.5." is "3.5" (2 matches)
    ("3.5", ["3.5", "3.5."] + ["35"] * 8, 0.6),
    # punctuation on the prediction is normalized too (9 matches)
    ("yes!", ["yes"] * 9 + ["no"], 1.0),
    # one matching human
    ("blue", ["black"] * 8 + ["black and white", "blue"], 0.3),
]


@pytest.mark.parametrize(("prediction", "answers", "expected"), ACCURACY)
def test_accuracy_table(prediction, answers, expected):
    assert vqa_accuracy(prediction, answers) == pytest.approx(expected)


def test_accuracy_needs_answers():
    with pytest.raises(ValueError, match="human answers"):
        vqa_accuracy("yes", [])


def test_metric_overall_and_per_type():
    metric = OfficialVQAAccuracy(question_types=["what color is the", "how many", "is this a"])
    metric.update(
        ["red", "3"],
        [["red"] * 9 + ["Red"], ["2"] * 8 + ["two", "3"]],
        ["other", "number"],
        ["what color is the", "how many"],
    )
    metric.update(
        ["yes", "blue"],
        [["yes"] * 10, ["black"] * 8 + ["black and white", "blue"]],
        ["yes/no", "other"],
        ["is this a", "what color is the"],
    )
    result = {k: float(v) for k, v in metric.compute().items()}
    # scores 1.0, 0.3, 1.0, 0.3
    assert result["overall"] == pytest.approx(65.0)
    assert result["answer_type/other"] == pytest.approx(65.0)
    assert result["answer_type/number"] == pytest.approx(30.0)
    assert result["answer_type/yes/no"] == pytest.approx(100.0)
    assert result["question_type/what color is the"] == pytest.approx(65.0)
    assert result["question_type/how many"] == pytest.approx(30.0)


def test_metric_empty_type_is_nan_and_unknown_type_raises():
    metric = OfficialVQAAccuracy()
    metric.update(["yes"], [["yes"] * 10], ["yes/no"])
    assert torch.isnan(metric.compute()["answer_type/number"])
    with pytest.raises(ValueError, match="unknown answer_type 'maybe'"):
        metric.update(["yes"], [["yes"] * 10], ["maybe"])
