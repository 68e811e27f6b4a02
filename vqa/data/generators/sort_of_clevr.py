"""Sort-of-CLEVR (Santoro et al. 2017): generated 2-D scenes with relational and non-relational questions.

Generated from a seed, never downloaded, and cached under `data/sort_of_clevr/` (written atomically).
Questions are rendered as natural language so that text encoders are exercised; the paper's one-hot encoding
(colour, family, subtype) is kept in each record's `meta`.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from vqa.data.bad_samples import BadSamples
from vqa.data.records import InMemoryImages, VQARecord, VQASplit, split_generated
from vqa.data.sources.base import DATASETS, VQASource
from vqa.io import atomic_path

COLORS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "orange": (255, 156, 0),
    "gray": (128, 128, 128),
    "yellow": (255, 255, 0),
}
COLOR_NAMES = list(COLORS)
SHAPE_NAMES = ("square", "circle")
CANVAS = 75
HALF_SIZE = 5  # squares span centre +-5 (11 px); circles have radius 5
MIN_DISTANCE = 10

NON_RELATIONAL = {
    "shape": "What is the shape of the {color} object?",
    "left": "Is the {color} object on the left?",
    "top": "Is the {color} object on the top?",
}
RELATIONAL = {
    "closest": "What is the shape of the object closest to the {color} object?",
    "furthest": "What is the shape of the object furthest from the {color} object?",
    "count": "How many objects have the same shape as the {color} object?",
}
ANSWERS = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")

_yy, _xx = np.mgrid[-HALF_SIZE : HALF_SIZE + 1, -HALF_SIZE : HALF_SIZE + 1]
_DISC = _yy**2 + _xx**2 <= HALF_SIZE**2  # (11, 11) filled circle of radius 5


def place_objects(rng: np.random.Generator) -> np.ndarray:
    """Six integer centres [6, 2] as (x, y) in [5, 70), each >= 10 px from the earlier ones."""
    centres: list[np.ndarray] = []
    while len(centres) < len(COLORS):
        candidate = rng.integers(HALF_SIZE, CANVAS - HALF_SIZE, size=2)
        if all(np.hypot(*(candidate - c)) >= MIN_DISTANCE for c in centres):
            centres.append(candidate)
    return np.stack(centres)


def render(centres: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Draw the scene: uint8 [75, 75, 3], white background, object i in colour i."""
    canvas = np.full((CANVAS, CANVAS, 3), 255, dtype=np.uint8)
    for (x, y), shape, rgb in zip(centres, shapes, COLORS.values()):
        window = canvas[y - HALF_SIZE : y + HALF_SIZE + 1, x - HALF_SIZE : x + HALF_SIZE + 1]
        if SHAPE_NAMES[shape] == "square":
            window[:] = rgb
        else:
            window[_DISC] = rgb
    return canvas


def answer(subtype: str, obj: int, centres: np.ndarray, shapes: np.ndarray) -> str:
    """The answer to question `subtype` about object `obj` (index = colour index)."""
    x, y = centres[obj]
    distances = np.hypot(*(centres - centres[obj]).T)
    if subtype == "shape":
        return SHAPE_NAMES[shapes[obj]]
    if subtype == "left":
        return "yes" if x < CANVAS / 2 else "no"
    if subtype == "top":
        return "yes" if y < CANVAS / 2 else "no"
    if subtype == "closest":
        distances[obj] = np.inf
        return SHAPE_NAMES[shapes[int(np.argmin(distances))]]
    if subtype == "furthest":
        return SHAPE_NAMES[shapes[int(np.argmax(distances))]]
    if subtype == "count":
        return str(int((shapes == shapes[obj]).sum()))
    raise ValueError(f"unknown Sort-of-CLEVR question subtype {subtype!r}")


def generate(num_images: int, questions_per_family: int, seed: int) -> tuple[np.ndarray, list[dict]]:
    """Generate images uint8 [N, 75, 75, 3] and question dicts (image, family, subtype, color, answer)."""
    rng = np.random.default_rng(seed)
    images = np.empty((num_images, CANVAS, CANVAS, 3), dtype=np.uint8)
    questions: list[dict] = []
    families = (("non-relational", list(NON_RELATIONAL)), ("relational", list(RELATIONAL)))
    for index in range(num_images):
        centres = place_objects(rng)
        shapes = rng.integers(0, 2, size=len(COLORS))
        images[index] = render(centres, shapes)
        for family, subtypes in families:
            for _ in range(questions_per_family):
                obj = int(rng.integers(len(COLORS)))
                subtype = subtypes[int(rng.integers(len(subtypes)))]
                questions.append(
                    {
                        "image": index,
                        "family": family,
                        "subtype": subtype,
                        "color": COLOR_NAMES[obj],
                        "answer": answer(subtype, obj, centres, shapes),
                    }
                )
    return images, questions


@DATASETS.register("sort_of_clevr")
class SortOfClevr(VQASource):
    """Sort-of-CLEVR with natural-language questions; the paper's sizes by default.

    The last `test_images` images form the test split; `val_images` are carved from the rest by image.

    Args:
        num_images: images generated in all (paper: 10,000).
        test_images: images of the test split (paper: 200).
        val_images: training images moved to the validation split.
        questions_per_family: questions per image in each family (paper: 10 relational + 10 non-relational).
        seed: generator seed; the same settings always give the same dataset.
        cache_dir: where the generated dataset is cached.
    """

    def __init__(
        self,
        num_images: int = 10000,
        test_images: int = 200,
        val_images: int = 200,
        questions_per_family: int = 10,
        seed: int = 0,
        cache_dir: str = "data/sort_of_clevr",
    ) -> None:
        if not 0 < test_images < num_images:
            raise ValueError(f"test_images={test_images} must be between 1 and num_images-1={num_images - 1}")
        self.num_images = num_images
        self.test_images = test_images
        self.val_images = val_images
        self.questions_per_family = questions_per_family
        self.seed = seed
        self.cache_dir = Path(cache_dir)

    @property
    def cache_file(self) -> Path:
        """The cache file for these settings (the name hashes every setting that changes the data)."""
        key = json.dumps([self.num_images, self.questions_per_family, self.seed, "v1"])
        return self.cache_dir / f"sort_of_clevr_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def generate_to_cache(self) -> Path:
        """Generate the dataset unless its cache file exists; returns the cache path."""
        if not self.cache_file.exists():
            images, questions = generate(self.num_images, self.questions_per_family, self.seed)
            with atomic_path(self.cache_file) as tmp:
                with open(tmp, "wb") as handle:  # a file handle keeps numpy from appending ".npz"
                    np.savez(handle, images=images, questions=np.array(json.dumps(questions)))
        return self.cache_file

    @cached_property
    def _all(self) -> VQASplit:
        with np.load(self.generate_to_cache()) as cached:
            pixels = torch.from_numpy(cached["images"]).permute(0, 3, 1, 2).contiguous()  # (N, 3, 75, 75)
            questions = json.loads(str(cached["questions"]))
        records = []
        for i, q in enumerate(questions):
            template = {**NON_RELATIONAL, **RELATIONAL}[q["subtype"]]
            records.append(
                VQARecord(
                    image=q["image"],
                    question=template.format(color=q["color"]),
                    answers=[q["answer"]],
                    types={"family": q["family"], "type": q["subtype"]},
                    meta={"question_id": i, "color": q["color"]},
                )
            )
        return VQASplit(InMemoryImages(pixels), records)

    @cached_property
    def _splits(self) -> dict[str, VQASplit]:
        return split_generated(self._all, self.test_images, self.val_images, self.seed)

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        """The split (generated data has no bad entries, so `bad` is unused)."""
        if split not in self._splits:
            raise ValueError(f"Sort-of-CLEVR has splits train, val, test; got {split!r}")
        return self._splits[split]
