"""Random VQA data of a chosen shape: for speed benchmarks and smoke tests, never for accuracy."""

from __future__ import annotations

import numpy as np
import torch

from vqa.data.bad_samples import BadSamples
from vqa.data.records import ImageStore, InMemoryFeatures, InMemoryImages, VQARecord, VQASplit
from vqa.data.sources.base import DATASETS, SPLITS, DatasetError, VQASource


@DATASETS.register("synthetic")
class SyntheticVQA(VQASource):
    """Random images (or random pre-extracted features), random questions and random answers.

    Nothing here can be learned beyond memorization; the point is the shapes. Each image has
    `questions_per_image` questions of exactly `question_length` random words drawn from `num_words`
    (`w0`, `w1`, ...), and each question one answer. Training answers cycle through all `num_answers`
    (`a0`, `a1`, ...), so the answer vocabulary has exactly that many classes; evaluation answers are drawn at
    random. The word vocabulary is what the tokenizer sees in training, so it can be a little smaller than
    `num_words`. Generated in memory from `seed`, in a second or two at benchmark sizes.

    Args:
        num_answers: answer classes (VQA v2 standard: 3,129).
        num_words: words questions are drawn from.
        question_length: words per question.
        image_size: (height, width) of the random uint8 images.
        feature_shape: (tokens, dim): give random float features of this shape instead of images
            (for the `features` image encoder), e.g. (100, 2048) for bottom-up region features.
        train_images: images in the training split (val and test get `eval_images` each).
        eval_images: images in the validation and test splits.
        questions_per_image: questions about each image.
        seed: seed of the generator.
    """

    def __init__(
        self,
        num_answers: int = 3129,
        num_words: int = 20000,
        question_length: int = 14,
        image_size: tuple[int, int] = (64, 64),
        feature_shape: tuple[int, int] | None = None,
        train_images: int = 64,
        eval_images: int = 8,
        questions_per_image: int = 64,
        seed: int = 0,
    ) -> None:
        if train_images * questions_per_image < num_answers:
            raise DatasetError(
                f"synthetic data: {train_images} train_images x {questions_per_image} questions_per_image = "
                f"{train_images * questions_per_image} training questions cannot cover num_answers={num_answers}"
            )
        if min(num_answers, num_words, question_length, train_images, eval_images, questions_per_image) < 1:
            raise DatasetError("synthetic data: every count must be at least 1")
        self.num_answers = num_answers
        self.num_words = num_words
        self.question_length = question_length
        self.image_size = image_size
        self.feature_shape = feature_shape
        self.train_images = train_images
        self.eval_images = eval_images
        self.questions_per_image = questions_per_image
        self.seed = seed

    def _images(self, count: int, generator: torch.Generator) -> ImageStore:
        if self.feature_shape is not None:
            return InMemoryFeatures(torch.randn(count, *self.feature_shape, generator=generator))
        shape = (count, 3, *self.image_size)
        return InMemoryImages(torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator))

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        """The split (generated data has no bad entries, so `bad` is unused)."""
        if split not in SPLITS:
            raise ValueError(f"synthetic data has splits {SPLITS}; got {split!r}")
        offset = SPLITS.index(split)
        generator = torch.Generator().manual_seed(self.seed * len(SPLITS) + offset)
        rng = np.random.default_rng(self.seed * len(SPLITS) + offset)
        num_images = self.train_images if split == "train" else self.eval_images
        count = num_images * self.questions_per_image
        words = rng.integers(0, self.num_words, size=(count, self.question_length))
        answers = (
            rng.permutation(count) % self.num_answers if split == "train" else rng.integers(0, self.num_answers, count)
        )
        records = [
            VQARecord(
                image=i // self.questions_per_image,
                question=" ".join(f"w{w}" for w in row),
                answers=[f"a{answer}"],
                types={"type": "random"},
                meta={"question_id": i},
            )
            for i, (row, answer) in enumerate(zip(words.tolist(), answers.tolist()))
        ]
        return VQASplit(self._images(num_images, generator), records)
