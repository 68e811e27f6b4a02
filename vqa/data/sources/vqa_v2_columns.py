"""The fast way through VQA v2's files: streamed, checked with plain type tests, kept as columns.

`VQAv2.entries` reads the files the careful way: whole, every field through `field()` with its error message,
one `VQARecord` per question. On the full training files that takes a minute and several GB. This module reads
the same files item by item (`stream_array`, with the garbage collector paused), applies the same checks as bare
type tests, and builds a `RecordTable` directly: answers, answer and question types as integer codes, each
distinct answer normalized once. It gives exactly the records `entries` gives, or None as soon as anything is
not as expected (a wrong type, a missing key, an unknown answer type, a question without annotation, invalid
JSON): the caller then reads the files the careful way, which names the problem (or skips the entry, with
`skip_bad_samples`) exactly as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vqa.data.columns import Coded, Ragged
from vqa.data.gc_pause import gc_paused
from vqa.data.parse_cache import ParsedSplit
from vqa.data.record_table import RecordTable
from vqa.data.sources.json_stream import NotStreamable, stream_array
from vqa.evaluation.normalize import clean_whitespace, normalize_answer

ANSWER_TYPES = ("yes/no", "number", "other")


class _Irregular(Exception):
    """Something the careful reader would complain about (or skip): leave it to that reader."""


class _Annotations:
    """The annotations of a split as columns, in file order, and the row of each question id."""

    def __init__(self) -> None:
        self.row_of: dict[int, int] = {}
        self.image_id: list[int] = []
        self.answer_type: list[int] = []
        self.question_type = _Codes()
        self.multiple_choice = _Codes()
        self.lengths: list[int] = []
        self.answers = _Codes()  # normalized, as training targets
        self.raw_answers = _Codes()  # as typed (whitespace cleaned), for the official evaluator
        self._seen: dict[str, tuple[int, int]] = {}  # typed answer -> (normalized code, raw code)

    def add(self, entry: Any) -> None:
        """Check one entry as `vqa_v2._check_annotation` does and append it."""
        if type(entry) is not dict:
            raise _Irregular
        question_id, image_id = entry.get("question_id"), entry.get("image_id")
        question_type, answer_type = entry.get("question_type"), entry.get("answer_type")
        multiple_choice, answers = entry.get("multiple_choice_answer"), entry.get("answers")
        # JSON gives exact built-in types: `type(x) is int` is the checkers' "an integer, not true/false".
        if type(question_id) is not int or type(image_id) is not int or type(question_type) is not str:
            raise _Irregular
        if type(answer_type) is not str or answer_type not in ANSWER_TYPES or type(multiple_choice) is not str:
            raise _Irregular
        if type(answers) is not list or not answers or question_id in self.row_of:
            raise _Irregular
        seen, normalized, raw = self._seen, self.answers, self.raw_answers
        for answer in answers:
            text = answer.get("answer") if type(answer) is dict else None
            if type(text) is not str:
                raise _Irregular
            codes = seen.get(text)
            if codes is None:
                codes = seen[text] = (normalized.code(normalize_answer(text)), raw.code(clean_whitespace(text)))
            normalized.codes.append(codes[0])
            raw.codes.append(codes[1])
        self.row_of[question_id] = len(self.image_id)
        self.image_id.append(image_id)
        self.answer_type.append(ANSWER_TYPES.index(answer_type))
        self.question_type.add(question_type)
        self.multiple_choice.add(multiple_choice)
        self.lengths.append(len(answers))


class _Codes:
    """A growing coded column: `codes` index `values`, in order of first use."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.codes: list[int] = []

    def code(self, value: str) -> int:
        return self.index.setdefault(value, len(self.index))

    def add(self, value: str) -> None:
        self.codes.append(self.index.setdefault(value, len(self.index)))

    @property
    def values(self) -> list[str]:
        return list(self.index)


def read_vqa_v2_table(
    questions_file: Path, annotations_file: Path | None, image_folder: Path, coco_file_name
) -> ParsedSplit | None:
    """The split of these files as `VQAv2.entries` would give it, or None if they hold anything irregular.

    Args:
        questions_file: the questions file.
        annotations_file: its annotations file, or None (unlabeled).
        image_folder: the folder of the split's images.
        coco_file_name: (data_subtype, image_id) -> image file name (`vqa_v2.coco_file_name`).
    """
    try:
        with gc_paused():
            annotations = _read_annotations(annotations_file) if annotations_file is not None else None
            return _read_questions(questions_file, annotations, image_folder, coco_file_name)
    except (NotStreamable, _Irregular):
        return None


def _read_annotations(path: Path) -> _Annotations:
    annotations = _Annotations()
    for entry in stream_array(path, "annotations", {}):
        annotations.add(entry)
    return annotations


def _read_questions(path: Path, annotations: _Annotations | None, image_folder: Path, coco_file_name) -> ParsedSplit:
    fields: dict[str, Any] = {}
    question_ids: list[int] = []
    image_ids: list[int] = []
    questions: list[str] = []
    rows: list[int] = []  # the annotation row of each question
    row_of = annotations.row_of if annotations is not None else None
    annotated_image = annotations.image_id if annotations is not None else None
    for entry in stream_array(path, "questions", fields):
        if type(entry) is not dict:
            raise _Irregular
        question_id, image_id, question = entry.get("question_id"), entry.get("image_id"), entry.get("question")
        if type(question_id) is not int or type(image_id) is not int or type(question) is not str:
            raise _Irregular
        if not question.strip():
            raise _Irregular
        if row_of is not None:
            row = row_of.pop(question_id, None)  # popped: a question id asked twice has no annotation left
            if row is None or annotated_image[row] != image_id:
                raise _Irregular
            rows.append(row)
        question_ids.append(question_id)
        image_ids.append(image_id)
        questions.append(question)
    subtype = fields.get("data_subtype")
    if type(subtype) is not str or row_of:  # no subtype, or annotations without a question
        raise _Irregular
    return _split(path, subtype, question_ids, image_ids, questions, annotations, rows, image_folder, coco_file_name)


def _split(
    questions_file: Path,
    subtype: str,
    question_ids: list[int],
    image_ids: list[int],
    questions: list[str],
    annotations: _Annotations | None,
    rows: list[int],
    image_folder: Path,
    coco_file_name,
) -> ParsedSplit:
    """Number the distinct images in order of first use (as `FileSource` does) and put the columns together."""
    image_id = np.asarray(image_ids, dtype=np.int64)
    question_id = np.asarray(question_ids, dtype=np.int64)
    distinct, first, inverse = np.unique(image_id, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct images by first use
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    folder = str(image_folder)
    images = [os.path.join(folder, coco_file_name(subtype, int(i))) for i in distinct[order]]
    needed_by = [
        f"image_id {image_ids[i]} of question_id {question_ids[i]} (questions[{i}] of {questions_file})"
        for i in first[order].tolist()
    ]
    n = len(questions)
    meta: dict = {"question_id": question_id, "image_id": image_id}
    if annotations is None:
        answers = Ragged(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), [])
        types: dict[str, Coded] = {}
    else:
        take = np.asarray(rows, dtype=np.int64)
        offsets = np.zeros(len(annotations.lengths) + 1, dtype=np.int64)
        np.cumsum(annotations.lengths, out=offsets[1:])

        def ragged(codes: _Codes) -> Ragged:
            return Ragged(offsets, np.asarray(codes.codes, dtype=np.int32), codes.values).take(take)

        def coded(codes: list[int], values: list[str]) -> Coded:
            return Coded(np.asarray(codes, dtype=np.int32)[take], values)

        answers = ragged(annotations.answers)
        types = {
            "answer_type": coded(annotations.answer_type, list(ANSWER_TYPES)),
            "question_type": coded(annotations.question_type.codes, annotations.question_type.values),
        }
        meta["raw_answers"] = ragged(annotations.raw_answers)
        meta["multiple_choice_answer"] = coded(annotations.multiple_choice.codes, annotations.multiple_choice.values)
    table = RecordTable(rank[inverse.reshape(-1)], questions, answers, types, meta)
    return ParsedSplit(table, images, needed_by)
