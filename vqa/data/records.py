"""What every dataset reader produces: records that point into an image store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor


@dataclass
class VQARecord:
    """One question about one image.

    Attributes:
        image: index of the image in its split's `ImageStore`.
        question: the question text.
        answers: the human answers (one for synthetic sets, ten for VQA v2); may be empty for unlabeled test data.
        types: breakdown keys for per-type metrics, e.g. `{"family": "relational", "type": "closest"}`.
        meta: anything else worth keeping (question id, image id, ...).
    """

    image: int
    question: str
    answers: list[str]
    types: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class ImageStore:
    """The images of one split, fetched by index as a uint8 batch [n, 3, H, W].

    A store of pre-extracted features instead returns float [n, Ni, D] (for image encoders that
    `takes_features`).
    """

    def __len__(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def get(self, indices: Tensor) -> Tensor:  # pragma: no cover
        """Images at `indices` [n] as uint8 [n, 3, H, W] (or features [n, Ni, D])."""
        raise NotImplementedError

    def subset(self, keep: Tensor) -> "ImageStore":
        """A store of the images at `keep` [k], renumbered 0..k-1."""
        return _Subset(self, keep)


class InMemoryImages(ImageStore):
    """Small images decoded once and held as one uint8 tensor [N, 3, H, W]."""

    def __init__(self, pixels: Tensor) -> None:
        if pixels.dtype != torch.uint8 or pixels.ndim != 4 or pixels.shape[1] != 3:
            raise ValueError(f"expected uint8 pixels [N, 3, H, W], got {pixels.dtype} {tuple(pixels.shape)}")
        self.pixels = pixels

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def get(self, indices: Tensor) -> Tensor:
        return self.pixels[indices]

    def subset(self, keep: Tensor) -> "InMemoryImages":
        return InMemoryImages(self.pixels[keep])


class InMemoryFeatures(ImageStore):
    """Pre-extracted image features held as one float tensor [N, Ni, D]."""

    def __init__(self, features: Tensor) -> None:
        if not features.is_floating_point() or features.ndim != 3:
            raise ValueError(f"expected float features [N, tokens, dim], got {features.dtype} {tuple(features.shape)}")
        self.features = features

    def __len__(self) -> int:
        return self.features.shape[0]

    def get(self, indices: Tensor) -> Tensor:
        return self.features[indices]

    def subset(self, keep: Tensor) -> "InMemoryFeatures":
        return InMemoryFeatures(self.features[keep])


@dataclass
class VQASplit:
    """The records of one split and the images they point into."""

    images: ImageStore
    records: list[VQARecord]

    def subset_by_images(self, keep: Tensor) -> "VQASplit":
        """The records whose image is in `keep` (sorted image indices), with the images renumbered."""
        new_index = torch.full((len(self.images),), -1, dtype=torch.long)
        new_index[keep] = torch.arange(len(keep))
        records = []
        for record in self.records:
            image = int(new_index[record.image])
            if image >= 0:
                records.append(VQARecord(image, record.question, record.answers, record.types, record.meta))
        return VQASplit(self.images.subset(keep), records)


class _Subset(ImageStore):
    """A view of some images of another store."""

    def __init__(self, store: ImageStore, keep: Tensor) -> None:
        self.store = store
        self.keep = keep

    def __len__(self) -> int:
        return len(self.keep)

    def get(self, indices: Tensor) -> Tensor:
        return self.store.get(self.keep[indices])


def carve_validation(split: VQASplit, num_images: int, seed: int) -> tuple[VQASplit, VQASplit]:
    """Split a training split into (train, val) by image, so no image is shared between the two."""
    if not 0 < num_images < len(split.images):
        raise ValueError(f"cannot carve {num_images} validation images out of {len(split.images)} training images")
    order = torch.randperm(len(split.images), generator=torch.Generator().manual_seed(seed))
    val_images = order[:num_images].sort().values
    train_images = order[num_images:].sort().values
    return split.subset_by_images(train_images), split.subset_by_images(val_images)
