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

from collections.abc import Iterator
from pathlib import Path

from vqa.data.bad_samples import BadSamples
from vqa.data.records import VQARecord, VQASplit, carve_validation
from vqa.data.sources.base import DATASETS, DatasetError
from vqa.data.sources.files import FileEntry, FileSource
from vqa.data.sources.json_reading import expect, field, optional_field, question_text, read_jsonl, string_list
from vqa.evaluation.normalize import normalize_answer

REQUIRED_KEYS = ("image", "question", "answers")


def _parse_line(entry: object, path: Path, where: str, line: int, normalize_answers: bool) -> tuple[Path, VQARecord]:
    """The image path (as written) and the record (image index unset) of one JSONL entry."""
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
class JSONLSource(FileSource):
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

    title = "JSONL"

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
            raise ValueError("JSONLSource: give either a `val` file or `val_images` to carve from train, not both")
        super().__init__({"train": train, "val": val, "test": test}, image_size, check_images)
        self.image_root = Path(image_root) if image_root else None
        self.val_images = val_images
        self.normalize_answers = normalize_answers
        self.seed = seed

    def image_folder(self, split: str) -> Path:
        return self.image_root if self.image_root is not None else Path(self.files[split]).parent

    def entries(self, split: str, bad: BadSamples) -> Iterator[FileEntry]:
        """The lines of `split`'s file; a line that is not JSON or not a valid entry goes to `bad.handle`."""
        path = Path(self.files[split])
        folder = self.image_folder(split)
        for line, entry in read_jsonl(path, f"{self.split_title(split)} file", bad):
            try:
                image, record = _parse_line(entry, path, f"line {line}", line, self.normalize_answers)
            except DatasetError as error:
                bad.handle(error)
                continue
            # the full path: an image named once relative to the folder and once absolute is still one image
            yield FileEntry(folder / image, record, f"line {line} of {path}")

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        """As `FileSource.read`; without a `val` file, train and val are carved from the train file together."""
        carve = split in ("train", "val") and self.files["val"] is None and self.val_images
        if carve and split not in self._splits:
            train, val = carve_validation(self.read_files("train", bad), self.val_images, self.seed)
            self._splits.update(train=train, val=val)
        return super().read(split, bad)
