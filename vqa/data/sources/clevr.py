"""CLEVR v1.0 (Johnson et al. 2017) from its questions JSON files and the image folders.

Questions file: {"info": {...}, "questions": [{"image_index", "image_filename", "question", "answer",
                 "question_family_index", "program": [{"function", "inputs", "value_inputs"}], "split"}]}
Images: <image folder>/<split>/<image_filename>  (CLEVR_v1.0/images/train/CLEVR_train_000000.png)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vqa.data.bad_samples import BadSamples
from vqa.data.records import VQARecord
from vqa.data.sources.base import DATASETS, DatasetError
from vqa.data.sources.files import FileEntry, FileSource
from vqa.data.sources.json_reading import field, optional_field, question_text, read_json

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


def clevr_entries(
    questions_file: Path, dataset: str, labeled: bool, bad: BadSamples | None = None
) -> Iterator[FileEntry]:
    """The questions of a CLEVR questions file, in order; images are relative to the `images` folder.

    Records carry types {"type": question type, "function": last program function}. A malformed entry raises its
    error or, when `bad` skips bad samples, is left out.

    Args:
        questions_file: e.g. CLEVR_val_questions.json.
        dataset: names the file in errors, e.g. "CLEVR val" ("CLEVR val questions file not found: ...").
        labeled: answers and programs are required; False allows a test file without them.
        bad: what to do with a malformed entry (None: raise).
    """
    bad = bad if bad is not None else BadSamples()
    data = read_json(questions_file, f"{dataset} questions file")
    questions = field(data, "questions", list, questions_file, "top level")
    for i, entry in enumerate(questions):
        where = f"questions[{i}]"
        try:
            image, record = _parse_question(entry, i, questions_file, where, labeled)
        except DatasetError as error:
            bad.handle(error)
            continue
        yield FileEntry(image, record, f"{where} of {questions_file}")


def _parse_question(entry: object, i: int, questions_file: Path, where: str, labeled: bool) -> tuple[str, VQARecord]:
    """The image file (relative to the `images` folder) and the record (image index unset) of one question entry."""
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
    return f"{split}/{filename}", VQARecord(-1, question, answers, types, meta)


def _answer_text(answer: str | int | bool) -> str:
    """CLEVR answers are strings in v1.0; early releases stored counts and booleans as JSON values."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return str(answer)


@DATASETS.register("clevr")
class CLEVR(FileSource):
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

    title = "CLEVR"

    def __init__(
        self,
        train_questions: str,
        val_questions: str,
        image_dir: str,
        test_questions: str | None = None,
        image_size: tuple[int, int] = (128, 128),
        check_images: bool = True,
    ) -> None:
        super().__init__(
            {"train": train_questions, "val": val_questions, "test": test_questions}, image_size, check_images
        )
        self.image_dir = Path(image_dir)

    def image_folder(self, split: str) -> Path:
        return self.image_dir

    def entries(self, split: str, bad: BadSamples) -> Iterator[FileEntry]:
        return clevr_entries(Path(self.files[split]), self.split_title(split), labeled=split != "test", bad=bad)
