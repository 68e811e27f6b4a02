"""Turning a split's records into the tensors a dataset serves: question tokens, sparse answer targets, groups.

Done once per split, on the columns of the records (`vqa.data.record_table`), so that it costs array operations
rather than a Python loop per question; only the tokenizer goes question by question. The result can be saved
and loaded (`vqa.data.derived_cache`), so that a second run on unchanged files does not tokenize at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vqa.data.gc_pause import gc_paused
from vqa.data.record_table import answer_column, group_column, image_column, question_list
from vqa.data.records import VQARecord
from vqa.data.vocab import Vocabulary


@dataclass
class EncodedSplit:
    """The tensors of one split (see `EncodedVQADataset` for what each holds).

    Attributes:
        image_index: [N] long, the image of each question.
        token_ids: [N, L] long; token_mask: [N, L] bool.
        answer_ids: [N, K] long; answer_scores: [N, K] float (sparse VQA soft targets).
        groups: [N, G] bool, the breakdown groups of each question.
        unanswerable: labeled questions none of whose answers is in the answer vocabulary.
        unknown_answers: human answers not in the answer vocabulary.
    """

    image_index: Tensor
    token_ids: Tensor
    token_mask: Tensor
    answer_ids: Tensor
    answer_scores: Tensor
    groups: Tensor
    unanswerable: int
    unknown_answers: int

    def save(self, folder: Path) -> None:
        """Write every tensor as a .npy file into `folder` (existing); the two counts go in counts.npy."""
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Tensor):
                np.save(folder / f"{item.name}.npy", value.numpy())
        np.save(folder / "counts.npy", np.array([self.unanswerable, self.unknown_answers], dtype=np.int64))

    @classmethod
    def load(cls, folder: Path) -> EncodedSplit:
        """Read what `save` wrote (whole, into memory: a few hundred MB at most for VQA v2).

        Raises:
            OSError, ValueError: a file is missing, unreadable or the tensors disagree in length.
        """
        tensors = {
            item.name: torch.from_numpy(np.load(folder / f"{item.name}.npy"))
            for item in fields(cls)
            if item.name not in ("unanswerable", "unknown_answers")
        }
        counts = np.load(folder / "counts.npy")
        encoded = cls(**tensors, unanswerable=int(counts[0]), unknown_answers=int(counts[1]))
        if len({len(t) for t in tensors.values()}) > 1:
            raise ValueError("encoded tensors of different lengths")
        return encoded


def encode_split(records: Sequence[VQARecord], vocab: Vocabulary) -> EncodedSplit:
    """Encode `records` with `vocab` (a tokenizer warning, e.g. about truncated questions, passes through)."""
    with gc_paused():  # the tokenizer builds a list per question: nothing for the collector to find
        token_ids, token_mask = vocab.tokenizer.encode(question_list(records))
    answers = answer_column(records)
    answer_ids, answer_scores = vocab.answers.encode_column(answers)
    labeled = torch.from_numpy(answers.lengths > 0)
    unanswerable = int((labeled & (answer_scores.sum(1) == 0)).sum()) if len(records) else 0
    known = vocab.answers.class_of(answers.values) >= 0
    unknown_answers = int((~known[answers.codes]).sum()) if len(answers.codes) else 0
    groups = torch.zeros(len(records), len(vocab.groups), dtype=torch.bool)
    column = group_column(records)
    if len(column.codes):
        group_index = {name: i for i, name in enumerate(vocab.groups)}
        group_of = np.array([group_index.get(v, -1) for v in column.values], dtype=np.int64)[column.codes]
        rows = column.rows
        inside = group_of >= 0
        groups[torch.from_numpy(rows[inside]), torch.from_numpy(group_of[inside])] = True
    return EncodedSplit(
        torch.from_numpy(image_column(records)),
        token_ids,
        token_mask,
        answer_ids,
        answer_scores,
        groups,
        unanswerable,
        unknown_answers,
    )
