"""CLEVR v1.0 (Johnson et al. 2017) from its questions JSON files and the image folders.

Questions file: {"info": {...}, "questions": [{"image_index", "image_filename", "question", "answer",
                 "question_family_index", "program": [{"function", "inputs", "value_inputs"}], "split"}]}
Images: <image folder>/<split>/<image_filename>  (CLEVR_v1.0/images/train/CLEVR_train_000000.png)
"""

from __future__ import annotations

from pathlib import Path

from vqa.data.bad_samples import BadSamples
from vqa.data.image_files import ImageFiles, drop_missing_images
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sources.base import DATASETS, DatasetError, VQASource
from vqa.data.sources.json_files import field, optional_field, question_text, read_json

# The question type of a CLEVR question is the last function of its program.
QUESTION_TYPES = {
    "exist": "exist",
    "count": "count",
    "equal_integer": "compare_number",
    "less_than": "compare_number",
    "greater_than": "compare_number",
    "query_size": "query_attribute",
    "query_color": "query_attribute",
    "query_material": "query_attribute",
    "query_shape": "query_attribute",
    "equal_size": "compare_attribute",
    "equal_color": "compare_attribute",
    "equal_material": "compare_attribute",
    "equal_shape": "compare_attribute",
}
TYPE_NAMES = ("exist", "count", "compare_number", "query_attribute", "compare_attribute")


def question_type(last_function: str) -> str:
    """exist / count / compare_number / query_attribute / compare_attribute from a program's last function."""
    if last_function not in QUESTION_TYPES:
        raise ValueError(f"unknown final function {last_function!r}; expected one of {sorted(QUESTION_TYPES)}")
    return QUESTION_TYPES[last_function]


def read_clevr_split(
    name: str,
    questions_file: Path,
    image_dir: Path,
    image_size: tuple[int, int],
    labeled: bool,
    check_images: bool = True,
    bad: BadSamples | None = None,
) -> VQASplit:
    """One split; records carry types {"type": question type, "function": last program function}. A malformed
    entry raises its error or, when `bad` skips bad samples, is left out."""
    dataset = f"CLEVR {name}"
    bad = bad if bad is not None else BadSamples()
    data = read_json(questions_file, f"{dataset} questions file")
    questions = field(data, "questions", list, questions_file, "top level")
    paths: list[Path] = []
    image_position: dict[Path, int] = {}
    needed_by: list[str] = []
    records: list[VQARecord] = []
    for i, entry in enumerate(questions):
        where = f"questions[{i}]"
        try:
            path, record = _parse_question(entry, i, questions_file, where, image_dir, labeled)
        except DatasetError as error:
            bad.handle(error)
            continue
        if path not in image_position:
            image_position[path] = len(paths)
            paths.append(path)
            needed_by.append(f"{where} of {questions_file}")
        record.image = image_position[path]
        records.append(record)
    split = VQASplit(ImageFiles(paths, image_size), records)
    return drop_missing_images(split, dataset, needed_by.__getitem__, bad) if check_images else split


def _parse_question(
    entry: object, i: int, questions_file: Path, where: str, image_dir: Path, labeled: bool
) -> tuple[Path, VQARecord]:
    """The image file and the record (image index still unset) of one question entry."""
    question = question_text(entry, "question", questions_file, where)
    image_index = field(entry, "image_index", int, questions_file, where)
    filename = field(entry, "image_filename", str, questions_file, where)
    split = field(entry, "split", str, questions_file, where)
    meta = {"question_index": entry.get("question_index", i), "image_index": image_index, "split": split}
    answers: list[str] = []
    types: dict[str, str] = {}
    if labeled or "answer" in entry:
        answer = field(entry, "answer", (str, int, bool), questions_file, where)
        answers = [_answer_text(answer)]
        program = field(entry, "program", list, questions_file, where)
        if not program:
            raise DatasetError(f"{questions_file}: {where}.program: expected the question's program, got []")
        last = field(program[-1], "function", str, questions_file, f"{where}.program[{len(program) - 1}]")
        try:
            types = {"type": question_type(last), "function": last}
        except ValueError as error:
            raise DatasetError(f"{questions_file}: {where}.program: {error}") from error
        meta["question_family_index"] = optional_field(entry, "question_family_index", int, questions_file, where)
    return image_dir / split / filename, VQARecord(-1, question, answers, types, meta)


def _answer_text(answer: str | int | bool) -> str:
    """CLEVR answers are strings in v1.0; early releases stored counts and booleans as JSON values."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return str(answer)


@DATASETS.register("clevr")
class CLEVR(VQASource):
    """CLEVR v1.0 questions; breakdown per question type (exist, count, compare_number, query_attribute,
    compare_attribute) and per final program function. Exact-match accuracy.

    The official test questions have no answers, so the usual choice is: train on train, validate on a part
    of val or on val itself, and report on val (`test_questions: .../CLEVR_val_questions.json`).

    Args:
        train_questions: CLEVR_train_questions.json.
        val_questions: CLEVR_val_questions.json.
        image_dir: the `images` folder holding train/, val/, test/.
        test_questions: questions of the test split (a file without answers is allowed); None: empty.
        image_size: (height, width) every image is resized to (CLEVR images are 320x480).
        check_images: check that every image file exists when a split is read (one clear error if not).
    """

    def __init__(
        self,
        train_questions: str,
        val_questions: str,
        image_dir: str,
        test_questions: str | None = None,
        image_size: tuple[int, int] = (128, 128),
        check_images: bool = True,
    ) -> None:
        self.files = {"train": train_questions, "val": val_questions, "test": test_questions}
        self.image_dir = Path(image_dir)
        self.image_size = image_size
        self.check_images = check_images
        self._splits: dict[str, VQASplit] = {}  # each split read once

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        if split not in self.files:
            raise ValueError(f"CLEVR has splits train, val, test; got {split!r}")
        if split not in self._splits:
            questions = self.files[split]
            if questions is None:
                self._splits[split] = VQASplit(ImageFiles([], self.image_size), [])
            else:
                self._splits[split] = read_clevr_split(
                    split,
                    Path(questions),
                    self.image_dir,
                    self.image_size,
                    labeled=split != "test",
                    check_images=self.check_images,
                    bad=bad,
                )
        return self._splits[split]
