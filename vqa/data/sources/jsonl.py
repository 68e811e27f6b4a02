"""Custom datasets in one simple JSON-lines format (one question per line).

    {"image": "images/kitchen.jpg", "question": "What is on the table?", "answers": ["cup", "mug", "cup"], "type": "object"}

- `image` (required): path of the image file, relative to `image_root` (default: the JSONL file's folder).
- `question` (required): the question text.
- `answers` (required, may be empty for unlabeled data): the human answers; repeats count (VQA soft scores:
  one answer -> exact match; ten -> the official VQA formula).
- `type` (optional): a question type for per-type accuracy.
- `id` (optional): a question id (string or integer), written into predictions; default: the line number.
Any other keys are kept in the record's `meta` and written into predictions.
"""

from __future__ import annotations

from pathlib import Path

from vqa.data.bad_samples import BadSamples
from vqa.data.image_files import ImageFiles, drop_missing_images
from vqa.data.records import VQARecord, VQASplit, carve_validation
from vqa.data.sources.base import DATASETS, DatasetError, VQASource
from vqa.data.sources.json_files import expect, field, optional_field, question_text, read_jsonl, string_list
from vqa.evaluation.normalize import normalize_answer

REQUIRED_KEYS = ("image", "question", "answers")


def read_jsonl_split(
    name: str,
    path: Path,
    image_root: Path | None,
    image_size: tuple[int, int],
    normalize_answers: bool = False,
    check_images: bool = True,
    bad: BadSamples | None = None,
) -> VQASplit:
    """Read one JSONL file into a split; a bad line raises its error or, when `bad` skips, is left out."""
    dataset = f"JSONL {name}"
    bad = bad if bad is not None else BadSamples()
    root = image_root if image_root is not None else path.parent
    paths: list[Path] = []
    image_position: dict[Path, int] = {}
    needed_by: list[str] = []
    records: list[VQARecord] = []
    for line, entry in read_jsonl(path, f"{dataset} file", bad):
        try:
            image, record = _parse_line(entry, path, f"line {line}", line, normalize_answers)
        except DatasetError as error:
            bad.handle(error)
            continue
        image_path = image if image.is_absolute() else root / image
        if image_path not in image_position:
            image_position[image_path] = len(paths)
            paths.append(image_path)
            needed_by.append(f"line {line} of {path}")
        record.image = image_position[image_path]
        records.append(record)
    split = VQASplit(ImageFiles(paths, image_size), records)
    return drop_missing_images(split, dataset, needed_by.__getitem__, bad) if check_images else split


def _parse_line(entry: object, path: Path, where: str, line: int, normalize_answers: bool) -> tuple[Path, VQARecord]:
    """The image path (as written) and the record (image index still unset) of one JSONL entry."""
    expect(entry, dict, path, where)
    if "answers" not in entry and "answer" in entry:
        raise DatasetError(f"{path}: {where}: missing key 'answers' (a list of strings); found 'answer'")
    image = Path(field(entry, "image", str, path, where))
    question = question_text(entry, "question", path, where)
    answers = string_list(field(entry, "answers", list, path, where), path, f"{where}.answers")
    kind = optional_field(entry, "type", str, path, where)
    question_id = optional_field(entry, "id", (str, int), path, where, line)
    extra = {k: v for k, v in entry.items() if k not in (*REQUIRED_KEYS, "type", "id")}
    record = VQARecord(
        image=-1,
        question=question,
        answers=[normalize_answer(a) for a in answers] if normalize_answers else answers,
        types={"type": kind} if kind is not None else {},
        meta={"question_id": question_id, "image": str(image), **extra},
    )
    return image, record


@DATASETS.register("jsonl")
class JSONLDataset(VQASource):
    """Your own data: one JSONL file per split (format in this module's docstring and docs/datasets.md).

    Args:
        train: the training JSONL file.
        val: the validation file; None carves `val_images` images out of train instead.
        test: the test file (answers may be empty lists, for `vqa predict`); None leaves the test split empty.
        image_root: folder the image paths are relative to (default: each JSONL file's own folder).
        image_size: (height, width) every image is resized to when decoded.
        val_images: without a `val` file, training images moved to validation (0: no validation split).
        normalize_answers: apply the official VQA answer normalization to the answers.
        seed: seed of the validation carve.
        check_images: check that every image file exists when a split is read (one clear error if not).
    """

    def __init__(
        self,
        train: str,
        val: str | None = None,
        test: str | None = None,
        image_root: str | None = None,
        image_size: tuple[int, int] = (224, 224),
        val_images: int = 0,
        normalize_answers: bool = False,
        seed: int = 0,
        check_images: bool = True,
    ) -> None:
        if val is not None and val_images:
            raise ValueError("JSONLDataset: give either a `val` file or `val_images` to carve from train, not both")
        self.files = {"train": train, "val": val, "test": test}
        self.image_root = Path(image_root) if image_root else None
        self.image_size = image_size
        self.val_images = val_images
        self.normalize_answers = normalize_answers
        self.seed = seed
        self.check_images = check_images
        self._splits: dict[str, VQASplit] = {}  # each split read once

    def _read_file(self, split: str, bad: BadSamples | None) -> VQASplit:
        path = self.files[split]
        if path is None:
            return VQASplit(ImageFiles([], self.image_size), [])
        return read_jsonl_split(
            split, Path(path), self.image_root, self.image_size, self.normalize_answers, self.check_images, bad
        )

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        if split not in self.files:
            raise ValueError(f"a JSONL dataset has splits train, val, test; got {split!r}")
        if split not in self._splits:
            if split in ("train", "val") and self.files["val"] is None and self.val_images:
                train, val = carve_validation(self._read_file("train", bad), self.val_images, self.seed)
                self._splits.update(train=train, val=val)
            else:
                self._splits[split] = self._read_file(split, bad)
        return self._splits[split]
