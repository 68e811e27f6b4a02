"""The answer vocabulary (with VQA soft scores) and the full vocabulary saved with every model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vqa.data.columns import Ragged
from vqa.models.encoders import TOKENIZERS
from vqa.models.encoders.base import Tokenizer
from vqa.registry import part_config


def soft_scores(matches: np.ndarray, num_annotators: np.ndarray) -> np.ndarray:
    """`soft_score` of many answers at once (float64, the same arithmetic)."""
    m = matches.astype(np.float64)
    n = num_annotators.astype(np.float64)
    with_own = m * np.minimum(1.0, (m - 1) / 3)
    without_own = (n - m) * np.minimum(1.0, m / 3)
    return np.where(num_annotators <= 1, (matches >= 1).astype(np.float64), (with_own + without_own) / np.maximum(n, 1))


def soft_score(matches: int, num_annotators: int) -> float:
    """Official VQA accuracy of an answer given by `matches` of `num_annotators` humans.

    The official metric averages, over each annotator left out in turn, min(1, matches among the others / 3).
    For 10 annotators this gives 0, 0.3, 0.6, 0.9, 1.0 for 0, 1, 2, 3, >=4 matches (not min(1, n/3)).
    A single-annotator dataset (easy-VQA, CLEVR, GQA) scores by exact match.
    """
    if num_annotators <= 1:
        return float(matches >= 1)
    with_own = matches * min(1.0, (matches - 1) / 3)  # the annotator left out gave this answer
    without_own = (num_annotators - matches) * min(1.0, matches / 3)
    return (with_own + without_own) / num_annotators


class AnswerVocab:
    """Answer classes built from training answers only.

    Args:
        answers: the class names, index = class id.
    """

    def __init__(self, answers: Sequence[str]) -> None:
        if len(set(answers)) != len(answers):
            raise ValueError("answer vocabulary has duplicate entries")
        self.answers = list(answers)
        self.index = {answer: i for i, answer in enumerate(self.answers)}

    @classmethod
    def build(
        cls, answer_lists: Sequence[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> AnswerVocab:
        """Keep answers given at least `min_count` times (each human answer counts), most frequent first."""
        return cls.from_counts(Counter(answer for answers in answer_lists for answer in answers), min_count, max_size)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_count: int = 1, max_size: int | None = None) -> AnswerVocab:
        """`build` from how often each answer was given: those given at least `min_count` times, most frequent
        first (ties in alphabetical order), at most `max_size`."""
        kept = sorted((a for a, c in counts.items() if c >= min_count), key=lambda a: (-counts[a], a))
        if max_size is not None:
            kept = kept[:max_size]
        if not kept:
            raise ValueError(f"no training answer occurs at least min_count={min_count} times")
        return cls(kept)

    def __len__(self) -> int:
        return len(self.answers)

    def encode(self, answer_lists: Sequence[Sequence[str]]) -> tuple[Tensor, Tensor]:
        """Soft targets of many questions in sparse form.

        Returns:
            ids [N, K] long and scores [N, K] float: the in-vocabulary answers of each question with their
            official VQA score, in order of first mention; padded with id 0 / score 0 (K = most distinct
            in-vocabulary answers of any question, at least 1).
        """
        return self.encode_column(Ragged.from_lists(answer_lists))

    def class_of(self, values: Sequence[str]) -> np.ndarray:
        """int64 [len(values)], the class id of each string, -1 for those outside the vocabulary."""
        return np.fromiter((self.index.get(v, -1) for v in values), dtype=np.int64, count=len(values))

    def encode_column(self, answers: Ragged) -> tuple[Tensor, Tensor]:
        """`encode` for answers held as columns, with array operations instead of a loop per question."""
        n, total = len(answers), len(answers.codes)
        codes = np.asarray(answers.codes, dtype=np.int64)
        rows = answers.rows
        # Group the equal answers of each question: a stable sort by (row, answer) keeps each group's first
        # mention first, so the groups can then be put back in order of first mention (as `Counter` orders them).
        order = np.argsort(rows * max(len(answers.values), 1) + codes, kind="stable")
        sorted_rows, sorted_codes = rows[order], codes[order]
        starts = (
            np.flatnonzero(np.r_[True, (sorted_rows[1:] != sorted_rows[:-1]) | (sorted_codes[1:] != sorted_codes[:-1])])
            if total
            else np.zeros(0, dtype=np.int64)
        )
        matches = np.diff(np.r_[starts, total])
        pair_row, pair_first = sorted_rows[starts], order[starts]
        pair_class = self.class_of(answers.values)[sorted_codes[starts]]
        known = pair_class >= 0
        pair_row, pair_first, pair_class, matches = (
            pair_row[known],
            pair_first[known],
            pair_class[known],
            matches[known],
        )
        by_mention = np.argsort(pair_first, kind="stable")  # positions grow with rows: also sorted by row
        pair_row, pair_class, matches = pair_row[by_mention], pair_class[by_mention], matches[by_mention]
        per_row = np.bincount(pair_row, minlength=n)
        width = max(int(per_row.max()) if n else 1, 1)
        column = np.arange(len(pair_row)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
        ids = torch.zeros(n, width, dtype=torch.long)
        scores = torch.zeros(n, width)
        annotators = answers.lengths[pair_row]
        ids[pair_row, column] = torch.from_numpy(pair_class)
        scores[pair_row, column] = torch.from_numpy(soft_scores(matches, annotators)).float()
        return ids, scores

    def coverage(self, answer_lists: Sequence[Sequence[str]]) -> float:
        """Best achievable accuracy (mean of the top in-vocabulary soft score) on these questions."""
        return self.coverage_column(Ragged.from_lists(answer_lists))

    def coverage_column(self, answers: Ragged) -> float:
        """`coverage` for answers held as columns."""
        ids, scores = self.encode_column(answers)
        return float(scores.max(dim=1).values.mean()) if len(answers) else 0.0


@dataclass
class Vocabulary:
    """Everything a model needs to read its inputs and name its answers; saved with it as JSON.

    Attributes:
        tokenizer: the fitted question tokenizer.
        answers: the answer classes.
        groups: the per-type breakdown groups.
        image_size: (height, width) of the training images, so inference resizes images the same way;
            None when unknown (then images are used at their own size).
    """

    tokenizer: Tokenizer
    answers: AnswerVocab
    groups: list[str]
    image_size: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: tokenizer recipe and state, answer list, breakdown groups."""
        return {
            "tokenizer": {**part_config(self.tokenizer), "state": self.tokenizer.state_dict()},
            "answers": list(self.answers.answers),
            "groups": list(self.groups),
            "image_size": None if self.image_size is None else list(self.image_size),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        """Rebuild from `to_dict()` output (only registered tokenizers; nothing is imported by path)."""
        try:
            spec = data["tokenizer"]
            tokenizer = TOKENIZERS.create(spec["name"], **spec["init_args"])
            tokenizer.load_state_dict(spec["state"])
            size = data.get("image_size")  # absent in vocabularies saved before it was recorded
            image_size = None if size is None else (int(size[0]), int(size[1]))
            return cls(tokenizer, AnswerVocab(data["answers"]), list(data["groups"]), image_size)
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f"malformed vocabulary: missing or invalid field {error}") from error
