"""easy-VQA (Zhou 2020): 64x64 images of one coloured shape, read from the `easy-vqa` package's files."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import torch

from vqa.data.images import load_image
from vqa.data.records import InMemoryImages, VQARecord, VQASplit, carve_validation
from vqa.data.sources import DATASETS, DatasetError, VQASource

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

    @cached_property
    def _data_dir(self) -> Path:
        return self.root or package_data_dir()

    def _read_original(self, name: str) -> VQASplit:
        """Read the package's `train` or `test` folder: every image decoded once into one uint8 tensor."""
        folder = self._data_dir / name
        questions_file = folder / "questions.json"
        try:
            entries = json.loads(questions_file.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise DatasetError(f"easy-VQA questions file not found: {questions_file}") from error
        except json.JSONDecodeError as error:
            raise DatasetError(f"{questions_file} is not valid JSON: {error}") from error
        if not isinstance(entries, list):
            raise DatasetError(f"{questions_file}: expected a list of [question, answer, image_id] entries")
        image_ids = sorted({_image_id(entry, i, questions_file) for i, entry in enumerate(entries)})
        position = {image_id: i for i, image_id in enumerate(image_ids)}
        pixels = torch.stack([load_image(folder / "images" / f"{image_id}.png") for image_id in image_ids])
        records = [
            VQARecord(
                image=position[image_id],
                question=question,
                answers=[answer],
                types={"type": question_type(answer)},
                meta={"image_id": image_id, "question_id": i},
            )
            for i, (question, answer, image_id) in enumerate(entries)
        ]
        return VQASplit(InMemoryImages(pixels), records)

    @cached_property
    def _train_and_val(self) -> tuple[VQASplit, VQASplit]:
        return carve_validation(self._read_original("train"), self.val_images, self.seed)

    def read(self, split: str) -> VQASplit:
        if split == "train":
            return self._train_and_val[0]
        if split == "val":
            return self._train_and_val[1]
        if split == "test":
            return self._read_original("test")
        raise ValueError(f"easy-VQA has splits train, val, test; got {split!r}")


def _image_id(entry: object, position: int, path: Path) -> int:
    """Validate one `[question, answer, image_id]` entry and return its image id."""
    valid = (
        isinstance(entry, list)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and isinstance(entry[1], str)
        and isinstance(entry[2], int)
    )
    if not valid:
        raise DatasetError(f"{path}, entry {position}: expected [question: str, answer: str, image_id: int], got {entry!r}")
    return entry[2]
