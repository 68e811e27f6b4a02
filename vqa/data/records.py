"""What every dataset reader produces: records that point into an image store."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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

    def subset(self, keep: Tensor) -> ImageStore:
        """A store of the images at `keep` [k], renumbered 0..k-1."""
        return _Subset(self, keep)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the images served (all equal within a store); this default decodes the first."""
        height, width = self.get(torch.tensor([0])).shape[-2:]
        return int(height), int(width)

    def batch_fields(self, indices: Tensor) -> dict[str, Tensor]:
        """What a batch carries for the images at `indices`: pixels here; cached tokens for a feature cache."""
        return {"images": self.get(indices)}

    def fingerprint(self) -> str:
        """A string that changes whenever the images change (keys the feature cache).

        This default hashes every pixel; stores of files should override it with something cheaper.
        """
        digest = hashlib.sha1()
        for start in range(0, len(self), 1024):
            digest.update(self.get(torch.arange(start, min(start + 1024, len(self)))).numpy().tobytes())
        return f"pixels:{len(self)}:{digest.hexdigest()}"


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

    def subset(self, keep: Tensor) -> InMemoryImages:
        return InMemoryImages(self.pixels[keep])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.pixels.shape[-2]), int(self.pixels.shape[-1])


class InMemoryFeatures(ImageStore):
    """Pre-extracted image features held as one float tensor [N, Ni, D], with an optional mask [N, Ni] (True = a
    real token) for sets whose images have different numbers of tokens (e.g. objects, padded)."""

    def __init__(self, features: Tensor, mask: Tensor | None = None) -> None:
        if not features.is_floating_point() or features.ndim != 3:
            raise ValueError(f"expected float features [N, tokens, dim], got {features.dtype} {tuple(features.shape)}")
        if mask is not None and (mask.dtype != torch.bool or mask.shape != features.shape[:2]):
            raise ValueError(f"expected a bool mask {tuple(features.shape[:2])}, got {mask.dtype} {tuple(mask.shape)}")
        if mask is not None and not mask.any(1).all():
            raise ValueError("every image needs at least one real token; some mask rows are all False")
        self.features = features
        self.mask = mask

    def __len__(self) -> int:
        return self.features.shape[0]

    def get(self, indices: Tensor) -> Tensor:
        return self.features[indices]

    def subset(self, keep: Tensor) -> InMemoryFeatures:
        return InMemoryFeatures(self.features[keep], None if self.mask is None else self.mask[keep])

    def batch_fields(self, indices: Tensor) -> dict[str, Tensor]:
        """Features [n, Ni, D], and their mask [n, Ni] when the store has one."""
        if self.mask is None:
            return {"images": self.features[indices]}
        return {"images": self.features[indices], "image_mask": self.mask[indices]}

    def fingerprint(self) -> str:
        digest = hashlib.sha1(self.features.numpy().tobytes())
        if self.mask is not None:
            digest.update(self.mask.numpy().tobytes())
        return f"features:{len(self)}:{digest.hexdigest()}"

    @property
    def image_size(self) -> None:
        """Features have no pixel size (a vocabulary built on them records none)."""
        return None


@dataclass
class VQASplit:
    """The records of one split and the images they point into."""

    images: ImageStore
    records: Sequence[VQARecord]  # a list, or a `RecordTable` (columns) from the readers of large files

    def subset_by_images(self, keep: Tensor) -> VQASplit:
        """The records whose image is in `keep` (sorted image indices), with the images renumbered."""
        new_index = torch.full((len(self.images),), -1, dtype=torch.long)
        new_index[keep] = torch.arange(len(keep))
        from vqa.data.record_table import RecordTable  # here: that module builds on this one

        if isinstance(self.records, RecordTable):  # columns: select without building a record per question
            renumbered = new_index.numpy()[self.records.image]
            rows = np.flatnonzero(renumbered >= 0)
            return VQASplit(self.images.subset(keep), self.records.take(rows, renumbered[rows]))
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

    def batch_fields(self, indices: Tensor) -> dict[str, Tensor]:
        return self.store.batch_fields(self.keep[indices])

    @property
    def image_size(self) -> tuple[int, int]:
        return self.store.image_size

    def fingerprint(self) -> str:
        kept = hashlib.sha1(self.keep.numpy().tobytes()).hexdigest()
        return f"subset:{kept}:of:{self.store.fingerprint()}"


def carve_validation(split: VQASplit, num_images: int, seed: int) -> tuple[VQASplit, VQASplit]:
    """Split a training split into (train, val) by image, so no image is shared between the two."""
    if not 0 < num_images < len(split.images):
        raise ValueError(f"cannot carve {num_images} validation images out of {len(split.images)} training images")
    order = torch.randperm(len(split.images), generator=torch.Generator().manual_seed(seed))
    val_images = order[:num_images].sort().values
    train_images = order[num_images:].sort().values
    return split.subset_by_images(train_images), split.subset_by_images(val_images)


def split_generated(everything: VQASplit, test_images: int, val_images: int, seed: int) -> dict[str, VQASplit]:
    """Splits of a generated set: the last `test_images` images are test, `val_images` more are carved
    (by image, seeded) from the rest for validation, and the remainder is train."""
    boundary = len(everything.images) - test_images
    train_full = everything.subset_by_images(torch.arange(boundary))
    test = everything.subset_by_images(torch.arange(boundary, len(everything.images)))
    train, val = carve_validation(train_full, val_images, seed)
    return {"train": train, "val": val, "test": test}
