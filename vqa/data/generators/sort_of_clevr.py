"""Sort-of-CLEVR (Santoro et al. 2017): generated 2-D scenes with relational and non-relational questions.

Generated from a seed, never downloaded, and cached under `data/sort_of_clevr/` (written atomically). Each image
is available as pixels or as its objects' state descriptions (`input="objects"`).
Questions are rendered as natural language so that text encoders are exercised; the paper's one-hot encoding
(colour, family, subtype) is kept in each record's `meta`.
"""

from __future__ import annotations

import numpy as np

from vqa.data.generators.base import Generated, GeneratedSource, ImageInput
from vqa.data.records import VQARecord
from vqa.data.sources.base import DATASETS

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
# Width of an object's state description: colour one-hot, shape one-hot, then x and y in [0, 1].
OBJECT_FEATURES = len(COLORS) + len(SHAPE_NAMES) + 2
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


def object_features(centres: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """The scene's state description [6, 10]: colour one-hot (6), shape one-hot (square, circle), x / 75, y / 75."""
    features = np.zeros((len(COLORS), OBJECT_FEATURES), dtype=np.float32)
    features[:, : len(COLORS)] = np.eye(len(COLORS))  # object i has colour i
    features[np.arange(len(COLORS)), len(COLORS) + shapes] = 1.0
    features[:, -2:] = centres / CANVAS
    return features


def generate(num_images: int, questions_per_family: int, seed: int) -> Generated:
    """Generate images uint8 [N, 75, 75, 3], object features [N, 6, 10] and question dicts (image, family,
    subtype, color, answer)."""
    rng = np.random.default_rng(seed)
    images = np.empty((num_images, CANVAS, CANVAS, 3), dtype=np.uint8)
    objects = np.empty((num_images, len(COLORS), OBJECT_FEATURES), dtype=np.float32)
    questions: list[dict] = []
    families = (("non-relational", list(NON_RELATIONAL)), ("relational", list(RELATIONAL)))
    for index in range(num_images):
        centres = place_objects(rng)
        shapes = rng.integers(0, 2, size=len(COLORS))
        images[index] = render(centres, shapes)
        objects[index] = object_features(centres, shapes)
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
    return Generated(images, objects, np.ones(objects.shape[:2], dtype=bool), questions)


@DATASETS.register("sort_of_clevr")
class SortOfClevr(GeneratedSource):
    """Sort-of-CLEVR with natural-language questions; the paper's sizes by default.

    The last `test_images` images form the test split; `val_images` are carved from the rest by image. With
    `input="objects"` each image is its six objects' state descriptions [6, 10] (colour one-hot, shape one-hot,
    x and y in [0, 1]) instead of pixels.

    Args:
        num_images: images generated in all (paper: 10,000).
        test_images: images of the test split (paper: 200).
        val_images: training images moved to the validation split.
        questions_per_family: questions per image in each family (paper: 10 relational + 10 non-relational).
        seed: generator seed; the same settings always give the same dataset.
        cache_dir: where the generated dataset is cached.
        input: "pixels" (75x75 images) or "objects" (state descriptions, for the `features` image encoder).
    """

    title = "Sort-of-CLEVR"
    version = "v2"  # v2: the cache also holds the object features

    def __init__(
        self,
        num_images: int = 10000,
        test_images: int = 200,
        val_images: int = 200,
        questions_per_family: int = 10,
        seed: int = 0,
        cache_dir: str = "data/sort_of_clevr",
        input: ImageInput = "pixels",
    ) -> None:
        super().__init__(num_images, test_images, val_images, seed, cache_dir, input)
        self.questions_per_family = questions_per_family

    def settings(self) -> list:
        return [self.questions_per_family]

    def generate(self) -> Generated:
        return generate(self.num_images, self.questions_per_family, self.seed)

    def record(self, index: int, question: dict) -> VQARecord:
        template = {**NON_RELATIONAL, **RELATIONAL}[question["subtype"]]
        return VQARecord(
            image=question["image"],
            question=template.format(color=question["color"]),
            answers=[question["answer"]],
            types={"family": question["family"], "type": question["subtype"]},
            meta={"question_id": index, "color": question["color"]},
        )
