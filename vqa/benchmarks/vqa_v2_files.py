"""VQA v2-shaped files of synthetic content, at any fraction of the real dataset's size, for the scale benchmark.

The files have the official layout and field names (what `vqa.data.VQAv2` reads): a questions file
{"info", "task_type", "data_type", "license", "data_subtype", "questions": [{"image_id", "question",
"question_id"}]} and an annotations file {"info", "license", "data_subtype", "annotations": [{"question_type",
"multiple_choice_answer", "answers": [{"answer", "answer_confidence", "answer_id"} x 10], "image_id",
"answer_type", "question_id"}], "data_type"}, written with the separators of Python's `json.dump` as the
official files are. The content is random but shaped like the real thing, because parsing and vocabulary costs
depend on it: question ids are image id * 1000 + k, about 5.4 questions per image, questions of 4-10 words that
start with one of the official question types, answer types in the real proportions (about 38% yes/no, 12%
number, 50% other), ten human answers per question that mostly agree, drawn from a long-tailed answer list (with
the spelling variants people type: capitals, articles, number words, trailing punctuation).

Every image file is a hard link to a tiny JPEG (the reader only checks that the files exist; decoding is measured
separately), so 300% of VQA v2 costs 1.7 GB of JSON and no image data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vqa.data.sources.vqa_v2 import coco_file_name

# The real dataset's size (train2014 and val2014 of VQA v2).
TRAIN_QUESTIONS, TRAIN_IMAGES = 443_757, 82_783
VAL_QUESTIONS, VAL_IMAGES = 214_354, 40_504

# Question types of the official annotations (a subset of the 65), with the answer type their answers take.
QUESTION_TYPES = {
    "what color is the": "other",
    "what is the": "other",
    "what": "other",
    "what is": "other",
    "what kind of": "other",
    "what type of": "other",
    "what is the man": "other",
    "what is on the": "other",
    "what is this": "other",
    "where is the": "other",
    "which": "other",
    "why": "other",
    "who is": "other",
    "what are the": "other",
    "what sport is": "other",
    "what room is": "other",
    "what is the person": "other",
    "what does the": "other",
    "none of the above": "other",
    "is the": "yes/no",
    "is this": "yes/no",
    "is there a": "yes/no",
    "are the": "yes/no",
    "is it": "yes/no",
    "does the": "yes/no",
    "are there": "yes/no",
    "is the man": "yes/no",
    "do you": "yes/no",
    "is this a": "yes/no",
    "can you": "yes/no",
    "how many": "number",
    "how many people are": "number",
    "what number is": "number",
    "what time": "number",
}
ANSWER_TYPE_SHARE = {"yes/no": 0.38, "number": 0.12, "other": 0.50}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
CONFIDENCES = ("yes", "maybe", "no")

INFO = {
    "description": "Synthetic VQA v2-shaped data for the scale benchmark (random content).",
    "url": "http://visualqa.org",
    "version": "2.0",
    "year": 2017,
    "contributor": "vqa speed scale",
    "date_created": "2017-04-26 17:07:13",
}
LICENSE = {"url": "http://creativecommons.org/licenses/by/4.0/", "name": "Creative Commons Attribution 4.0 License"}


@dataclass(frozen=True)
class SplitFiles:
    """Where one written split lies.

    Attributes:
        questions: the questions file.
        annotations: the annotations file.
        images: the image folder.
        num_questions: questions written.
        num_images: distinct images.
    """

    questions: Path
    annotations: Path
    images: Path
    num_questions: int
    num_images: int


def _words(rng: np.random.Generator, count: int, syllables: tuple[int, int]) -> list[str]:
    """`count` distinct pronounceable lower-case words (random consonant-vowel syllables)."""
    consonants, vowels = "bcdfghklmnprstvwz", "aeiou"
    words: set[str] = set()
    while len(words) < count:
        length = int(rng.integers(syllables[0], syllables[1] + 1))
        words.add("".join(consonants[rng.integers(17)] + vowels[rng.integers(5)] for _ in range(length)))
    return sorted(words)


def _zipf(rng: np.random.Generator, size: int, count: int, exponent: float = 1.1) -> np.ndarray:
    """`count` draws from {0, ..., size - 1} with probability proportional to 1 / (rank + 1) ** exponent."""
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return rng.choice(size, size=count, p=weights / weights.sum())


class _Content:
    """The random vocabulary every split draws from (one per seed): question words and answers."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.question_words = _words(rng, 12_000, (1, 3))
        # Answers of type "other": mostly one word, some two or three, with a long tail (VQA v2 train has about
        # 22,000 distinct answers after normalization, 3,129 of them given at least 9 times).
        single = _words(rng, 20_000, (1, 3))
        self.other_answers = single[:14_000] + [
            " ".join(single[int(i)] for i in rng.integers(0, len(single), int(rng.integers(2, 4))))
            for _ in range(8_000)
        ]
        rng.shuffle(self.other_answers)
        self.types = list(QUESTION_TYPES)
        self.types_by_answer = {kind: [t for t, k in QUESTION_TYPES.items() if k == kind] for kind in ANSWER_TYPE_SHARE}


def _variant(answer: str, draw: float) -> str:
    """How one person may type `answer`: mostly as is, sometimes capitalized, with an article or a period."""
    if draw < 0.90:
        return answer
    if draw < 0.94:
        return answer.capitalize()
    if draw < 0.97:
        return f"the {answer}" if not answer.isdigit() else answer
    return answer + "."


def _annotations_for(
    rng: np.random.Generator, content: _Content, answer_types: np.ndarray
) -> tuple[list[list[str]], list[str]]:
    """Ten human answers and the question type of each question, given its answer type."""
    n = len(answer_types)
    other = content.other_answers
    truth_other = _zipf(rng, len(other), n)
    noise_other = _zipf(rng, len(other), (n, 10))
    numbers = np.minimum(rng.geometric(0.35, size=(n, 11)) - 1, 20)
    agree = rng.random((n, 10)) < rng.uniform(0.45, 0.95, size=(n, 1))  # how much the ten people agree
    variant = rng.random((n, 10))
    yes = rng.random((n, 11)) < 0.5
    type_draw = rng.random(n)
    answers: list[list[str]] = []
    question_types: list[str] = []
    for i in range(n):
        kind = answer_types[i]
        choices = content.types_by_answer[kind]
        question_types.append(choices[int(type_draw[i] * len(choices))])
        if kind == "yes/no":
            truth = "yes" if yes[i, 10] else "no"
            row = [truth if agree[i, j] else ("yes" if yes[i, j] else "no") for j in range(10)]
        elif kind == "number":
            truth = str(numbers[i, 10])
            row = [truth if agree[i, j] else str(numbers[i, j]) for j in range(10)]
            row = [NUMBER_WORDS[int(a)] if variant[i, j] > 0.95 and int(a) <= 10 else a for j, a in enumerate(row)]
        else:
            truth = other[truth_other[i]]
            row = [truth if agree[i, j] else other[noise_other[i, j]] for j in range(10)]
        answers.append([_variant(a, variant[i, j]) if kind == "other" else a for j, a in enumerate(row)])
    return answers, question_types


def _question(rng_words: np.ndarray, length: int, question_type: str, words: list[str]) -> str:
    """A question starting with its question type, `length` words in all (at least the type's words)."""
    prefix = "" if question_type == "none of the above" else question_type
    extra = max(length - len(prefix.split()), 1)
    body = " ".join(words[int(w)] for w in rng_words[:extra])
    return f"{prefix} {body}?".strip().capitalize()


def _most_common(answers: list[str]) -> str:
    counts: dict[str, int] = {}
    for answer in answers:
        counts[answer] = counts.get(answer, 0) + 1
    return max(counts, key=counts.__getitem__)


def official_files(folder: Path, subtype: str) -> tuple[Path, Path, Path]:
    """The questions file, annotations file and image folder of split `subtype` (e.g. "train2014") under `folder`,
    by their official names."""
    return (
        folder / f"v2_OpenEnded_mscoco_{subtype}_questions.json",
        folder / f"v2_mscoco_{subtype}_annotations.json",
        folder / subtype,
    )


def write_split(
    folder: Path, subtype: str, num_questions: int, num_images: int, content: _Content, rng: np.random.Generator
) -> SplitFiles:
    """Write the questions file, the annotations file and the image folder of one split (e.g. "train2014")."""
    kind = subtype.rstrip("0123456789")
    questions_file, annotations_file, images = official_files(folder, subtype)
    images.mkdir(parents=True, exist_ok=True)
    # Image ids are sparse, as COCO's are; every image gets about the same number of questions.
    image_ids = np.sort(rng.permutation(max(600_000, 3 * num_images))[:num_images] + 1)
    per_image = np.bincount(np.arange(num_questions) % num_images, minlength=num_images)
    question_image = np.repeat(image_ids, per_image)
    question_number = np.concatenate([np.arange(k) for k in per_image]) if num_questions else np.zeros(0, int)
    shares = np.array(list(ANSWER_TYPE_SHARE.values()))
    answer_types = np.array(list(ANSWER_TYPE_SHARE))[rng.choice(3, size=num_questions, p=shares)]
    answers, question_types = _annotations_for(rng, content, answer_types)
    lengths = np.clip(np.round(rng.normal(6.2, 1.6, size=num_questions)), 4, 10).astype(int)
    word_draws = _zipf(rng, len(content.question_words), (num_questions, 10), exponent=1.0)
    confidence = rng.choice(3, size=(num_questions, 10), p=[0.85, 0.12, 0.03])
    questions = []
    annotations = []
    for i in range(num_questions):
        image_id, question_id = int(question_image[i]), int(question_image[i]) * 1000 + int(question_number[i])
        text = _question(word_draws[i], int(lengths[i]), question_types[i], content.question_words)
        questions.append(json.dumps({"image_id": image_id, "question": text, "question_id": question_id}))
        humans = [
            {"answer": a, "answer_confidence": CONFIDENCES[int(c)], "answer_id": j + 1}
            for j, (a, c) in enumerate(zip(answers[i], confidence[i]))
        ]
        annotations.append(
            json.dumps(
                {
                    "question_type": question_types[i],
                    "multiple_choice_answer": _most_common(answers[i]),
                    "answers": humans,
                    "image_id": image_id,
                    "answer_type": str(answer_types[i]),
                    "question_id": question_id,
                }
            )
        )
    _write_top_level(
        questions_file,
        {"info": INFO, "task_type": "Open-Ended", "data_type": "mscoco", "license": LICENSE, "data_subtype": subtype},
        "questions",
        questions,
    )
    _write_top_level(
        annotations_file,
        {"info": INFO, "license": LICENSE, "data_subtype": subtype},
        "annotations",
        annotations,
        after={"data_type": "mscoco"},
    )
    _link_images(images, [coco_file_name(subtype, int(i)) for i in image_ids], kind)
    return SplitFiles(questions_file, annotations_file, images, num_questions, num_images)


def _write_top_level(path: Path, before: dict, key: str, items: list[str], after: dict | None = None) -> None:
    """Write {**before, key: [items...], **after} with `items` already serialized (one join, no second copy of
    the whole tree as Python objects). Written under a temporary name and renamed: never half a file."""
    head = json.dumps(before)[:-1] + f', "{key}": ['
    tail = "]" + (", " + json.dumps(after)[1:] if after else "}")
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(head)
        for start in range(0, len(items), 10_000):
            handle.write(("" if start == 0 else ", ") + ", ".join(items[start : start + 10_000]))
        handle.write(tail)
    os.replace(tmp, path)


LINKS_PER_FILE = 60_000  # ext4 allows 65,000 hard links to one file


def _link_images(folder: Path, names: list[str], kind: str) -> None:
    """Make every image file of a split a hard link to a tiny JPEG (one JPEG per `LINKS_PER_FILE` links; a
    relative symbolic link where hard links fail, so that moving the whole folder keeps every link whole)."""
    for start in range(0, len(names), LINKS_PER_FILE):
        source = folder.parent / f".{kind}_image_{start // LINKS_PER_FILE}.jpg"
        if not source.exists():
            Image.new("RGB", (8, 8), (120, 90, 60)).save(source, quality=90)
        for name in names[start : start + LINKS_PER_FILE]:
            target = folder / name
            if target.exists():
                continue
            try:
                os.link(source, target)
            except OSError:
                os.symlink(os.path.relpath(source, folder), target)


def write_vqa_v2(folder: str | os.PathLike, fraction: float, seed: int = 0) -> dict[str, SplitFiles]:
    """Write VQA v2-shaped train2014 and val2014 files at `fraction` of the real size (1.0 = 443,757 + 214,354
    questions over 82,783 + 40,504 images) into `folder`; returns where each split lies.

    Args:
        folder: where to write (created); the files get their official names.
        fraction: size relative to VQA v2 (0.1, 0.3, 1.0, 3.0, ...); at least one image and question per split.
        seed: seed of the random content.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    content = _Content(rng)
    splits = {}
    for name, subtype, questions, images in (
        ("train", "train2014", TRAIN_QUESTIONS, TRAIN_IMAGES),
        ("val", "val2014", VAL_QUESTIONS, VAL_IMAGES),
    ):
        num_images = max(1, round(images * fraction))
        num_questions = max(num_images, round(questions * fraction))
        splits[name] = write_split(folder, subtype, num_questions, num_images, content, rng)
    return splits
