"""What every generated dataset shares: generate once from a seed into an atomic cache file, then split by image.

A generator gives, per image, its pixels and its objects' feature vectors (the "state description" of the
Relation Network paper: each object's attributes and position, what detector region features approximate on
real photos). `input` chooses which of the two the image store serves.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from vqa.data.bad_samples import BadSamples
from vqa.data.records import ImageStore, InMemoryFeatures, InMemoryImages, VQARecord, VQASplit, split_generated
from vqa.data.sources.base import VQASource
from vqa.io import atomic_path

ImageInput = Literal["pixels", "objects"]


@dataclass
class Generated:
    """A generated dataset before splitting.

    Attributes:
        images: uint8 [N, S, S, 3] pixels.
        objects: float32 [N, M, F] object features, padded to the most objects M of any scene.
        object_mask: bool [N, M], True = a real object.
        questions: one dict per question, with at least "image" (its image's index) and "answer".
    """

    images: np.ndarray
    objects: np.ndarray
    object_mask: np.ndarray
    questions: list[dict[str, Any]]


class GeneratedSource(VQASource):
    """A dataset generated from a seed, cached, and split by image: the last `test_images` images are the test
    split, `val_images` more are carved (seeded) from the rest for validation, the remainder is train.

    Subclasses set `title` and `version`, and implement `settings` (everything that changes the data),
    `generate` and `record`.

    Args:
        num_images: images generated in all.
        test_images: images of the test split.
        val_images: training images moved to the validation split.
        seed: generator seed; the same settings always give the same dataset.
        cache_dir: where the generated dataset is cached.
        input: what the model sees of each image: "pixels" (the rendered image) or "objects" (each object's
            feature vector, padded and masked; use with the `features` image encoder).
    """

    title: ClassVar[str] = "generated"
    version: ClassVar[str] = "v1"  # bump when the generator's output changes for the same settings

    def __init__(
        self,
        num_images: int,
        test_images: int,
        val_images: int,
        seed: int,
        cache_dir: str,
        input: ImageInput = "pixels",
    ) -> None:
        if not 0 < test_images < num_images:
            raise ValueError(f"test_images={test_images} must be between 1 and num_images-1={num_images - 1}")
        if input not in ("pixels", "objects"):
            raise ValueError(f"input must be 'pixels' or 'objects', got {input!r}")
        self.num_images = num_images
        self.test_images = test_images
        self.val_images = val_images
        self.seed = seed
        self.cache_dir = Path(cache_dir)
        self.input = input

    # ---- what a generator implements ----------------------------------------------------------------------

    def settings(self) -> list[Any]:  # pragma: no cover
        """Every setting that changes the generated data (JSON-ready), besides the number of images and seed."""
        raise NotImplementedError

    def generate(self) -> Generated:  # pragma: no cover
        """Generate the whole dataset (deterministic for the settings and seed)."""
        raise NotImplementedError

    def record(self, index: int, question: dict[str, Any]) -> VQARecord:  # pragma: no cover
        """The record of question number `index` of the generated list."""
        raise NotImplementedError

    # ---- shared --------------------------------------------------------------------------------------------

    @property
    def cache_file(self) -> Path:
        """The cache file for these settings (the name hashes every setting that changes the data)."""
        key = json.dumps([self.num_images, *self.settings(), self.seed, self.version])
        return self.cache_dir / f"{self.name}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"

    def generate_to_cache(self) -> Path:
        """Generate the dataset unless its cache file exists; returns the cache path."""
        if not self.cache_file.exists():
            data = self.generate()
            with atomic_path(self.cache_file) as tmp:
                with open(tmp, "wb") as handle:  # a file handle keeps numpy from appending ".npz"
                    np.savez_compressed(
                        handle,
                        images=data.images,
                        objects=data.objects,
                        object_mask=data.object_mask,
                        questions=np.array(json.dumps(data.questions)),
                    )
        return self.cache_file

    def training_images(self) -> np.ndarray:
        """bool [num_images]: True for the images that end in the training split, known before generating.

        Computed by `split_generated` itself on a store that holds each image's index, so it always agrees with
        `read` (a generator that keeps some answers out of training depends on that).
        """
        index = torch.arange(self.num_images, dtype=torch.float64).view(-1, 1, 1)  # image i's "feature" is i
        splits = split_generated(VQASplit(InMemoryFeatures(index), []), self.test_images, self.val_images, self.seed)
        train = splits["train"].images
        kept = train.get(torch.arange(len(train)))  # (n_train, 1, 1): the original indices
        mask = np.zeros(self.num_images, dtype=bool)
        mask[kept.view(-1).long().numpy()] = True
        return mask

    @cached_property
    def _all(self) -> VQASplit:
        with np.load(self.generate_to_cache()) as cached:
            if self.input == "objects":
                store: ImageStore = InMemoryFeatures(
                    torch.from_numpy(cached["objects"]), torch.from_numpy(cached["object_mask"])
                )
            else:
                store = InMemoryImages(torch.from_numpy(cached["images"]).permute(0, 3, 1, 2).contiguous())
            questions = json.loads(str(cached["questions"]))
        return VQASplit(store, [self.record(i, q) for i, q in enumerate(questions)])

    @cached_property
    def _splits(self) -> dict[str, VQASplit]:
        return split_generated(self._all, self.test_images, self.val_images, self.seed)

    def read(self, split: str, bad: BadSamples | None = None) -> VQASplit:
        """The split (generated data has no bad entries, so `bad` is unused)."""
        if split not in self._splits:
            raise ValueError(f"{self.title} has splits train, val, test; got {split!r}")
        return self._splits[split]
