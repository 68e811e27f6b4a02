"""VQA v2 (Goyal et al. 2017) from its official questions + annotations JSON files and the COCO images.

Questions file: {"data_subtype": "train2014", "questions": [{"image_id", "question", "question_id"}, ...], ...}
Annotations file: {"annotations": [{"question_id", "image_id", "question_type", "answer_type",
                   "multiple_choice_answer", "answers": [{"answer", "answer_confidence", "answer_id"} x 10]}]}
Images: <image folder>/COCO_<data_subtype>_<image_id as 12 digits>.jpg
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vqa.data.bad_samples import BadSamples
from vqa.data.parse_cache import ParsedSplit
from vqa.data.records import VQARecord
from vqa.data.sources.base import DATASETS, DatasetError
from vqa.data.sources.files import FileEntry, FileSource
from vqa.data.sources.json_reading import field, question_text, read_json, string_list
from vqa.data.sources.vqa_v2_columns import ANSWER_TYPES, read_vqa_v2_table
from vqa.evaluation.normalize import clean_whitespace, normalize_answer


def coco_file_name(data_subtype: str, image_id: int) -> str:
    """COCO image file name; test-dev questions (subtype "test-dev2015") are about test2015 images."""
    subtype = "test2015" if data_subtype == "test-dev2015" else data_subtype
    return f"COCO_{subtype}_{image_id:012d}.jpg"


def read_vqa_v2_annotations(path: Path, dataset: str, bad: BadSamples | None = None) -> dict[int, tuple[str, dict]]:
    """question_id -> (where, annotation entry), every entry checked (a bad one raises, or is skipped by `bad`)."""
    bad = bad if bad is not None else BadSamples()
    data = read_json(path, f"{dataset} annotations file")
    entries = field(data, "annotations", list, path, "top level")
    by_question: dict[int, tuple[str, dict]] = {}
    for i, entry in enumerate(entries):
        where = f"annotations[{i}]"
        try:
            question_id = _check_annotation(entry, path, where)
            if question_id in by_question:
                raise DatasetError(f"{path}: {where}: question_id {question_id} is annotated twice")
        except DatasetError as error:
            bad.handle(error)
            continue
        by_question[question_id] = (where, entry)
    return by_question


def _check_annotation(entry: object, path: Path, where: str) -> int:
    """Check one annotation entry; returns its question_id."""
    question_id = field(entry, "question_id", int, path, where)
    field(entry, "image_id", int, path, where)
    field(entry, "question_type", str, path, where)
    answer_type = field(entry, "answer_type", str, path, where)
    if answer_type not in ANSWER_TYPES:
        raise DatasetError(f"{path}: {where}.answer_type: expected one of {ANSWER_TYPES}, got {answer_type!r}")
    field(entry, "multiple_choice_answer", str, path, where)
    answers = field(entry, "answers", list, path, where)
    if not answers:
        raise DatasetError(f"{path}: {where}.answers: expected the human answers, got an empty list")
    for j, answer in enumerate(answers):
        field(answer, "answer", str, path, f"{where}.answers[{j}]")
    return question_id


def _attach_annotation(
    record: VQARecord, found: tuple[str, dict] | None, path: Path, question_where: str, questions_file: Path
) -> None:
    question_id = record.meta["question_id"]
    if found is None:
        raise DatasetError(
            f"{path}: no annotation for question_id {question_id} ({question_where} of {questions_file})"
        )
    where, entry = found
    if entry["image_id"] != record.meta["image_id"]:
        raise DatasetError(
            f"{path}: {where}: image_id {entry['image_id']} differs from image_id {record.meta['image_id']} of "
            f"question_id {question_id} in {questions_file}"
        )
    raw = string_list([a["answer"] for a in entry["answers"]], path, f"{where}.answers")
    record.answers = [normalize_answer(a) for a in raw]
    record.types = {"answer_type": entry["answer_type"], "question_type": entry["question_type"]}
    record.meta["raw_answers"] = [clean_whitespace(a) for a in raw]
    record.meta["multiple_choice_answer"] = entry["multiple_choice_answer"]


@DATASETS.register("vqa_v2")
class VQAv2(FileSource):
    """VQA v2 from the official files; breakdowns per answer type and per question type.

    Training targets are the human answers after the official normalization, scored with the official
    leave-one-out formula (0 / 0.3 / 0.6 / 0.9 / 1 for 0 / 1 / 2 / 3 / 4+ matching humans). The standard
    answer vocabulary keeps the answers seen at least 9 times in training (`data.min_answer_count: 9`).
    The raw human answers are kept in `meta["raw_answers"]` for the official evaluator. Without annotations
    (test) the records have no answers and no types.

    Files in the official layout are read item by item into columns (`vqa_v2_columns`), in bounded memory, and
    with `cache_dir` the parsed splits are cached (`vqa.data.parse_cache`): the second read of unchanged files
    takes a fraction of a second. Anything irregular in a file sends it through the careful reader, whose errors
    name the file, the entry and the field.

    Args:
        train_questions: e.g. v2_OpenEnded_mscoco_train2014_questions.json.
        train_annotations: e.g. v2_mscoco_train2014_annotations.json.
        train_images: folder of the training images (COCO_train2014_*.jpg).
        val_questions: e.g. v2_OpenEnded_mscoco_val2014_questions.json.
        val_annotations: e.g. v2_mscoco_val2014_annotations.json.
        val_images: folder of the validation images (COCO_val2014_*.jpg).
        test_questions: questions of the test split (e.g. test-dev2015); None leaves the test split empty.
        test_annotations: answers for the test split, if you have them (None: unlabeled, for `vqa predict`).
        test_images: folder of the test images (COCO_test2015_*.jpg; test-dev questions use these too).
        image_size: (height, width) every image is resized to when decoded.
        check_images: check that every image file exists when a split is read (one clear error if not).
        cache_dir: folder of the parse cache (e.g. data/vqa_v2/parse_cache); None: parse the files every run.
    """

    title = "VQA v2"

    def __init__(
        self,
        train_questions: str,
        train_annotations: str,
        train_images: str,
        val_questions: str,
        val_annotations: str,
        val_images: str,
        test_questions: str | None = None,
        test_annotations: str | None = None,
        test_images: str | None = None,
        image_size: tuple[int, int] = (224, 224),
        check_images: bool = True,
        cache_dir: str | None = None,
    ) -> None:
        if test_questions is not None and test_images is None:
            raise ValueError("VQAv2: test_questions is set but test_images is not")
        files = {  # split -> (questions, annotations, image folder)
            "train": (train_questions, train_annotations, train_images),
            "val": (val_questions, val_annotations, val_images),
            "test": (test_questions, test_annotations, test_images) if test_questions is not None else None,
        }
        super().__init__(files, image_size, check_images, cache_dir)

    def image_folder(self, split: str) -> Path:
        return Path(self.files[split][2])

    def read_table(self, split: str) -> ParsedSplit | None:
        questions, annotations, _ = self.files[split]
        return read_vqa_v2_table(
            Path(questions), Path(annotations) if annotations else None, self.image_folder(split), coco_file_name
        )

    def entries(self, split: str, bad: BadSamples) -> Iterator[FileEntry]:
        """The questions of `split`, each with its annotation (when the split has annotations). A malformed
        question or annotation, and annotations without a question, go to `bad.handle`."""
        questions_name, annotations_name, _ = self.files[split]
        questions_file = Path(questions_name)
        annotations_file = Path(annotations_name) if annotations_name else None
        dataset = self.split_title(split)
        data = read_json(questions_file, f"{dataset} questions file")
        subtype = field(data, "data_subtype", str, questions_file, "top level")
        questions = field(data, "questions", list, questions_file, "top level")
        annotations = read_vqa_v2_annotations(annotations_file, dataset, bad) if annotations_file else None
        for i, entry in enumerate(questions):
            where = f"questions[{i}]"
            try:
                question_id = field(entry, "question_id", int, questions_file, where)
                image_id = field(entry, "image_id", int, questions_file, where)
                question = question_text(entry, "question", questions_file, where)
                record = VQARecord(-1, question, [], {}, {"question_id": question_id, "image_id": image_id})
                if annotations is not None:
                    found = annotations.pop(question_id, None)
                    _attach_annotation(record, found, annotations_file, where, questions_file)
            except DatasetError as error:
                bad.handle(error)
                continue
            needed_by = f"image_id {image_id} of question_id {question_id} ({where} of {questions_file})"
            yield FileEntry(coco_file_name(subtype, image_id), record, needed_by)
        if annotations:
            extra = next(iter(annotations))
            error = DatasetError(
                f"{annotations_file}: {len(annotations)} annotation(s) have no question in {questions_file}, "
                f"e.g. question_id {extra}; are the two files from the same split?"
            )
            bad.handle(error, questions=len(annotations))
