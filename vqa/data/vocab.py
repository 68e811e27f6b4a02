"""The answer vocabulary (with VQA soft scores) and the full vocabulary saved with every model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vqa.models.encoders import TOKENIZERS
from vqa.models.encoders.base import Tokenizer
from vqa.registry import part_config


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
        counts = Counter(answer for answers in answer_lists for answer in answers)
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
            official VQA score; padded with id 0 / score 0 (K = most distinct answers of any question).
        """
        rows: list[list[tuple[int, float]]] = []
        for answers in answer_lists:
            counts = Counter(answers)
            rows.append([(self.index[a], soft_score(n, len(answers))) for a, n in counts.items() if a in self.index])
        width = max((len(row) for row in rows), default=1) or 1
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        scores = torch.zeros(len(rows), width)
        for i, row in enumerate(rows):
            for j, (answer_id, score) in enumerate(row):
                ids[i, j], scores[i, j] = answer_id, score
        return ids, scores

    def coverage(self, answer_lists: Sequence[Sequence[str]]) -> float:
        """Best achievable accuracy (mean of the top in-vocabulary soft score) on these questions."""
        ids, scores = self.encode(answer_lists)
        return float(scores.max(dim=1).values.mean()) if len(answer_lists) else 0.0


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
