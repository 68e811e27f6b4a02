"""GQA (Hudson & Manning 2019) from its balanced questions JSON files and the image folder.

Questions file: {question_id: {"imageId", "question", "answer", "fullAnswer", "isBalanced",
                 "types": {"structural", "semantic", "detailed"}, "groups": {"global", "local"},
                 "entailed": [question ids], "equivalent": [question ids], "semantic": [program steps], ...}}
Images: <image folder>/<imageId>.jpg
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vqa.data.bad_samples import BadSamples
from vqa.data.records import VQARecord
from vqa.data.sources.base import DATASETS, DatasetError
from vqa.data.sources.files import FileEntry, FileSource
from vqa.data.sources.json_reading import expect, field, optional_field, question_text, read_json, string_list

TYPE_KEYS = ("structural", "semantic", "detailed")


def reasoning_steps(semantic: list[dict[str, Any]]) -> int:
    """Steps of a question's program, counted like the official evaluator: the final `exist`, `query: name`
    and `choose name` operations do not lengthen the reasoning."""
    skip = ("exist", "query: name", "choose name")
    return sum(
        not any(s in f"{step.get('operation', '')}: {step.get('argument', '')}" for s in skip) for step in semantic
    )


def read_gqa_questions(
    path: Path, dataset: str, labeled: bool, bad: BadSamples | None = None
) -> dict[str, dict[str, Any]]:
    """Read and check a GQA questions file; returns it as parsed (question id -> entry).

    Args:
        labeled: answers and types are required (train / val / test-dev); False allows a test file without them.
        bad: a malformed question raises its error or, when `bad` skips bad samples, is left out.
    """
    bad = bad if bad is not None else BadSamples()
    data = read_json(path, f"{dataset} questions file")
    expect(data, dict, path, "top level (question id -> question)")
    checked: dict[str, dict[str, Any]] = {}
    for question_id, entry in data.items():
        try:
            _check_question(entry, path, f"question {question_id!r}", labeled)
        except DatasetError as error:
            bad.handle(error)
            continue
        checked[question_id] = entry
    return checked


def _check_question(entry: Any, path: Path, where: str, labeled: bool) -> None:
    field(entry, "imageId", str, path, where)
    question_text(entry, "question", path, where)
    if labeled or "answer" in entry:
        field(entry, "answer", str, path, where)
        types = field(entry, "types", dict, path, where)
        for key in TYPE_KEYS:
            field(types, key, str, path, f"{where}.types")
    string_list(entry.get("entailed", []), path, f"{where}.entailed")
    string_list(entry.get("equivalent", []), path, f"{where}.equivalent")
    groups = optional_field(entry, "groups", dict, path, where, {})
    optional_field(groups, "global", str, path, f"{where}.groups")
    optional_field(entry, "isBalanced", bool, path, where)
    semantic = optional_field(entry, "semantic", list, path, where, [])
    for i, step in enumerate(semantic):
        expect(step, dict, path, f"{where}.semantic[{i}]")


def _record(question_id: str, entry: dict[str, Any]) -> VQARecord:
    """The record of one checked question; ids, entailment and groups are kept in `meta` for consistency and
    distribution."""
    groups = entry.get("groups") or {}
    return VQARecord(
        image=-1,
        question=entry["question"],
        answers=[entry["answer"]] if "answer" in entry else [],
        types={key: entry["types"][key] for key in TYPE_KEYS} if "types" in entry else {},
        meta={
            "question_id": question_id,
            "image_id": entry["imageId"],
            "full_answer": entry.get("fullAnswer"),
            "global_group": groups.get("global"),
            "local_group": groups.get("local"),
            "entailed": list(entry.get("entailed", [])),
            "equivalent": list(entry.get("equivalent", [])),
            "steps": reasoning_steps(entry.get("semantic") or []),
        },
    )


@DATASETS.register("gqa")
class GQA(FileSource):
    """GQA balanced questions; breakdowns per structural, semantic and detailed type.

    Answers are compared by exact string match, as the official evaluator does (one answer per question).
    The usual choice: train on train_balanced, validate on val_balanced, test on testdev_balanced.

    Args:
        train_questions: e.g. train_balanced_questions.json.
        val_questions: e.g. val_balanced_questions.json.
        image_dir: folder of the images (<imageId>.jpg).
        test_questions: e.g. testdev_balanced_questions.json; a file without answers is allowed (for
            `vqa predict`); None leaves the test split empty.
        image_size: (height, width) every image is resized to when decoded.
        balanced_only: skip questions marked `"isBalanced": false` (for *_all_questions.json files).
        check_images: check that every image file exists when a split is read (one clear error if not).
    """

    title = "GQA"

    def __init__(
        self,
        train_questions: str,
        val_questions: str,
        image_dir: str,
        test_questions: str | None = None,
        image_size: tuple[int, int] = (224, 224),
        balanced_only: bool = True,
        check_images: bool = True,
    ) -> None:
        super().__init__(
            {"train": train_questions, "val": val_questions, "test": test_questions}, image_size, check_images
        )
        self.image_dir = Path(image_dir)
        self.balanced_only = balanced_only

    def image_folder(self, split: str) -> Path:
        return self.image_dir

    def entries(self, split: str, bad: BadSamples) -> Iterator[FileEntry]:
        """The questions of `split` (answers required except in test), in file order."""
        questions_file = Path(self.files[split])
        questions = read_gqa_questions(questions_file, self.split_title(split), labeled=split != "test", bad=bad)
        for question_id, entry in questions.items():
            if self.balanced_only and entry.get("isBalanced") is False:
                continue
            image_id = entry["imageId"]
            needed_by = f"imageId {image_id!r} of question {question_id!r} in {questions_file}"
            yield FileEntry(f"{image_id}.jpg", _record(question_id, entry), needed_by)
