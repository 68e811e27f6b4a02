"""GQA (Hudson & Manning 2019) from its balanced questions JSON files and the image folder.

Questions file: {question_id: {"imageId", "question", "answer", "fullAnswer", "isBalanced",
                 "types": {"structural", "semantic", "detailed"}, "groups": {"global", "local"},
                 "entailed": [question ids], "equivalent": [question ids], "semantic": [program steps], ...}}
Images: <image folder>/<imageId>.jpg
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vqa.data.bad_samples import BadSamples
from vqa.data.image_files import ImageFiles, drop_missing_images
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sources.base import DATASETS, DatasetError, VQASource
from vqa.data.sources.json_files import expect, field, optional_field, question_text, read_json, string_list

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


def read_gqa_split(
    name: str,
    questions_file: Path,
    image_dir: Path,
    image_size: tuple[int, int],
    labeled: bool,
    balanced_only: bool = True,
    check_images: bool = True,
    bad: BadSamples | None = None,
) -> VQASplit:
    """One split as records; ids, entailment and groups are kept in `meta` for consistency and distribution."""
    dataset = f"GQA {name}"
    questions = read_gqa_questions(questions_file, dataset, labeled, bad)
    paths: list[Path] = []
    image_position: dict[str, int] = {}
    needed_by: list[str] = []
    records: list[VQARecord] = []
    for question_id, entry in questions.items():
        if balanced_only and entry.get("isBalanced") is False:
            continue
        image_id = entry["imageId"]
        if image_id not in image_position:
            image_position[image_id] = len(paths)
            paths.append(image_dir / f"{image_id}.jpg")
            needed_by.append(f"imageId {image_id!r} of question {question_id!r} in {questions_file}")
        groups = entry.get("groups") or {}
        records.append(
            VQARecord(
                image=image_position[image_id],
                question=entry["question"],
                answers=[entry["answer"]] if "answer" in entry else [],
                types={key: entry["types"][key] for key in TYPE_KEYS} if "types" in entry else {},
                meta={
                    "question_id": question_id,
                    "image_id": image_id,
                    "full_answer": entry.get("fullAnswer"),
                    "global_group": groups.get("global"),
                    "local_group": groups.get("local"),
                    "entailed": list(entry.get("entailed", [])),
                    "equivalent": list(entry.get("equivalent", [])),
                    "steps": reasoning_steps(entry.get("semantic") or []),
                },
            )
        )
    split = VQASplit(ImageFiles(paths, image_size), records)
    return drop_missing_images(split, dataset, needed_by.__getitem__, bad) if check_images else split


@DATASETS.register("gqa")
class GQA(VQASource):
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
        self.files = {"train": train_questions, "val": val_questions, "test": test_questions}
        self.image_dir = Path(image_dir)
        self.image_size = image_size
        self.balanced_only = balanced_only
        self.check_images = check_images
        self._splits: dict[str, VQASplit] = {}  # each split read once

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        if split not in self.files:
            raise ValueError(f"GQA has splits train, val, test; got {split!r}")
        if split not in self._splits:
            questions = self.files[split]
            if questions is None:
                self._splits[split] = VQASplit(ImageFiles([], self.image_size), [])
            else:
                self._splits[split] = read_gqa_split(
                    split,
                    Path(questions),
                    self.image_dir,
                    self.image_size,
                    labeled=split != "test",
                    balanced_only=self.balanced_only,
                    check_images=self.check_images,
                    bad=bad,
                )
        return self._splits[split]
