"""easy-VQA (Zhou 2020): 64x64 images of one coloured shape, read from the `easy-vqa` package's files."""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from pathlib import Path

import torch

from vqa.data.bad_samples import BadSamples
from vqa.data.images import ImageLoadError, load_image
from vqa.data.records import InMemoryImages, VQARecord, VQASplit, carve_validation
from vqa.data.sources.base import DATASETS, SPLITS, DatasetError, VQASource
from vqa.data.sources.json_reading import read_json

SHAPES = frozenset({"circle", "rectangle", "triangle"})
YES_NO = frozenset({"yes", "no"})


def question_type(answer: str) -> str:
    """easy-VQA has three question kinds, recognisable from the answer."""
    if answer in SHAPES:
        return "shape"
    if answer in YES_NO:
        return "yes/no"
    return "color"


def package_data_dir() -> Path:
    """The data folder shipped inside the `easy-vqa` package."""
    try:
        import easy_vqa
    except ImportError as error:
        raise DatasetError(
            "the easy-VQA dataset comes from the `easy-vqa` package, which is not installed: "
            "run `pip install easy-vqa`, or set data.source.init_args.root to a folder holding its "
            "train/ and test/ directories"
        ) from error
    return Path(easy_vqa.__file__).parent / "data"


@DATASETS.register("easy_vqa")
class EasyVQA(VQASource):
    """easy-VQA: 4,000 train / 1,000 test images, 38,575 / 9,673 questions, 13 answers.

    The package has no validation split, so one is carved from train by image (never from test).

    Args:
        root: folder holding `train/` and `test/` (each `questions.json` + `images/<id>.png`);
            default: the installed `easy-vqa` package.
        val_images: training images moved to the validation split.
        seed: seed of the validation carve.
    """

    def __init__(self, root: str | None = None, val_images: int = 400, seed: int = 0) -> None:
        self.root = Path(root) if root else None
        self.val_images = val_images
        self.seed = seed
        self._splits: dict[str, VQASplit] = {}  # each split read once

    @cached_property
    def _data_dir(self) -> Path:
        return self.root or package_data_dir()

    def _read_original(self, name: str, bad: BadSamples) -> VQASplit:
        """Read the package's `train` or `test` folder: every image decoded once into one uint8 tensor."""
        folder = self._data_dir / name
        questions_file = folder / "questions.json"
        entries = read_json(questions_file, "easy-VQA questions file")
        if not isinstance(entries, list):
            raise DatasetError(f"{questions_file}: expected a list of [question, answer, image_id] entries")
        valid = []
        for i, entry in enumerate(entries):
            try:
                _check_entry(entry, i, questions_file)
            except DatasetError as error:
                bad.handle(error)
                continue
            valid.append((i, entry))
        questions_per_image = Counter(entry[2] for _, entry in valid)
        pixels = {}
        for image_id in sorted(questions_per_image):
            try:
                pixels[image_id] = load_image(folder / "images" / f"{image_id}.png")
            except ImageLoadError as error:
                bad.handle(error, questions=questions_per_image[image_id])
        position = {image_id: i for i, image_id in enumerate(pixels)}
        records = [
            VQARecord(
                image=position[image_id],
                question=question,
                answers=[answer],
                types={"type": question_type(answer)},
                meta={"image_id": image_id, "question_id": i},
            )
            for i, (question, answer, image_id) in valid
            if image_id in position
        ]
        stacked = torch.stack(list(pixels.values())) if pixels else torch.empty(0, 3, 64, 64, dtype=torch.uint8)
        return VQASplit(InMemoryImages(stacked), records)

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        if split not in SPLITS:
            raise ValueError(f"easy-VQA has splits train, val, test; got {split!r}")
        bad = bad if bad is not None else BadSamples()
        if split not in self._splits:
            if split == "test":
                self._splits["test"] = self._read_original("test", bad)
            else:
                train, val = carve_validation(self._read_original("train", bad), self.val_images, self.seed)
                self._splits.update(train=train, val=val)
        return self._splits[split]


def _check_entry(entry: object, position: int, path: Path) -> None:
    """Validate one `[question, answer, image_id]` entry."""
    valid = (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and isinstance(entry[1], str)
        and isinstance(entry[2], int)
        and not isinstance(entry[2], bool)
    )
    if not valid:
        raise DatasetError(
            f"{path}, entry {position}: expected [question: str, answer: str, image_id: int], got {entry!r}"
        )
    if not entry[0].strip():
        raise DatasetError(
            f"{path}, entry {position}: the question is empty ({entry[0]!r}); every question needs words"
        )
