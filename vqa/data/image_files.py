"""Images kept on disk and decoded when a batch asks for them (in DataLoader workers when there are some)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from vqa.data.bad_samples import BadSamples
from vqa.data.images import MAX_IMAGE_PIXELS, load_image
from vqa.data.record_table import image_column
from vqa.data.records import ImageStore, VQASplit
from vqa.data.sources.base import DatasetError


class ImageFiles(ImageStore):
    """A split's images as file paths, decoded lazily with PIL and resized to one size.

    Nothing is decoded when a dataset is read: `get` decodes exactly the images of one batch. The dataset's
    `__getitems__` calls `get`, so with `num_workers > 0` the decoding runs in the DataLoader worker processes.
    Each image becomes 8-bit RGB (grayscale, palette, alpha and 16-bit files are converted) and is resized
    with bilinear filtering to `size`, so that a batch stacks into one tensor.

    Args:
        paths: one file per image; image index i is `paths[i]`.
        size: (height, width) every image is resized to.
        max_pixels: files declaring more pixels are refused before decoding (`vqa.data.images.MAX_IMAGE_PIXELS`).
    """

    def __init__(
        self, paths: Sequence[str | os.PathLike], size: tuple[int, int], max_pixels: int | None = MAX_IMAGE_PIXELS
    ) -> None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"image size must be (height, width) with positive values, got {size}")
        self.paths = [str(p) for p in paths]  # plain strings: cheap to send to worker processes
        self.size = (int(size[0]), int(size[1]))
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, indices: Tensor) -> Tensor:
        """Decode the images at `indices` [n] -> uint8 [n, 3, height, width]."""
        chosen = torch.as_tensor(indices).reshape(-1).tolist()
        if not chosen:
            return torch.empty(0, 3, *self.size, dtype=torch.uint8)
        return torch.stack([load_image(self.paths[i], self.size, self.max_pixels) for i in chosen])

    @property
    def image_size(self) -> tuple[int, int]:
        return self.size

    def fingerprint(self) -> str:
        """Paths, sizes and times of the files plus the decode size: no decoding needed.

        Both the modification time and the status-change time (ctime) count: copy tools (`cp -p`, `rsync -t`)
        set the mtime of rewritten files back to the old value, but no tool can set the ctime, which changes with
        every write. So a file rewritten with other pixels at the same size still gets a new key.
        """
        digest = hashlib.sha1(repr(self.size).encode())
        for path in self.paths:
            stat = os.stat(path)
            digest.update(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}\n".encode())
        return f"files:{len(self.paths)}:{digest.hexdigest()}"

    def subset(self, keep: Tensor) -> ImageFiles:
        return ImageFiles([self.paths[i] for i in torch.as_tensor(keep).tolist()], self.size, self.max_pixels)

    def check_exist(self, dataset: str, describe: Callable[[int], str]) -> None:
        """Raise one DatasetError if any file is missing, naming the first one and who needs it.

        Args:
            dataset: what is being read, e.g. "VQA v2 train".
            describe: the entry that needs image i, e.g. "image_id 9, question_id 90000 (questions[0] of ...)".
        """
        missing = self.missing()
        if missing:
            first = missing[0]
            more = f" ({len(missing)} of {len(self.paths)} image files are missing)" if len(missing) > 1 else ""
            raise DatasetError(
                f"{dataset}: image file not found: {self.paths[first]}, needed by {describe(first)}{more}"
            )

    def missing(self) -> list[int]:
        """Indices of the images whose file does not exist."""
        return [i for i, path in enumerate(self.paths) if not os.path.isfile(path)]


def drop_missing_images(split: VQASplit, dataset: str, describe: Callable[[int], str], bad: BadSamples) -> VQASplit:
    """`split` after checking that every image file exists: one DatasetError naming the first missing file, or,
    when `bad` skips bad samples, the split without the questions about missing files (counted in `bad`)."""
    images = split.images
    assert isinstance(images, ImageFiles)
    if not bad.skip:
        images.check_exist(dataset, describe)
        return split
    missing = images.missing()
    if not missing:
        return split
    questions = torch.bincount(torch.from_numpy(image_column(split.records)), minlength=len(images))
    for i in missing:
        error = DatasetError(f"{dataset}: image file not found: {images.paths[i]}, needed by {describe(i)}")
        bad.handle(error, questions=int(questions[i]))
    keep = torch.ones(len(images), dtype=torch.bool)
    keep[missing] = False
    return split.subset_by_images(keep.nonzero().flatten())
