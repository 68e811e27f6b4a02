"""A disk cache of image tokens from a frozen image encoder: computed once per image, memory-mapped after.

With a frozen encoder the tokens of an image never change, so re-running the encoder every epoch (and for
every fusion of a benchmark grid) is wasted work. The cache lives in one folder per (encoder, weights, image
set) key, holding `tokens.npy` [N, Ni, Di] float16 and `mask.npy` [N, Ni] bool, read with `np.load(mmap_mode="r")`.
The folder is filled under a temporary name and renamed into place, so a killed run never leaves a cache that
is later read as complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from vqa.data.records import ImageStore
from vqa.io import staging_dir
from vqa.models.encoders.base import ImageEncoder
from vqa.registry import part_config

FORMAT_VERSION = 1


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A hash of every parameter and buffer: a cache is valid only for the exact weights that made it."""
    digest = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            if tensor.numel()
            else b""
        )
    return digest.hexdigest()


def cache_key(encoder: ImageEncoder, images: ImageStore) -> str:
    """Key of the cache folder: encoder recipe, its weights, and the identity of the image set."""
    recipe = json.dumps(
        {
            "encoder": part_config(encoder),
            "weights": weights_fingerprint(encoder),
            "images": images.fingerprint(),
            "version": FORMAT_VERSION,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(recipe.encode()).hexdigest()[:20]


class CachedFeatures(ImageStore):
    """Image tokens read from a cache folder, served in place of pixels.

    Args:
        directory: a complete cache folder (`tokens.npy`, `mask.npy`).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.tokens = np.load(self.directory / "tokens.npy", mmap_mode="r")  # (N, Ni, Di) float16
        self.mask = np.load(self.directory / "mask.npy", mmap_mode="r")  # (N, Ni) bool

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def get(self, indices: Tensor) -> Tensor:
        raise TypeError("a feature cache holds image tokens, not pixels; use batch_fields()")

    def fingerprint(self) -> str:
        return f"feature-cache:{self.directory.name}"

    def batch_fields(self, indices: Tensor) -> dict[str, Tensor]:
        """Tokens [n, Ni, Di] float16 and mask [n, Ni] of the images at `indices` (sorted reads stay sequential)."""
        rows = indices.numpy()
        return {
            "image_tokens": torch.from_numpy(np.ascontiguousarray(self.tokens[rows])),
            "image_mask": torch.from_numpy(np.ascontiguousarray(self.mask[rows])),
        }


@torch.no_grad()
def build_cache(
    encoder: ImageEncoder,
    images: ImageStore,
    root: str | os.PathLike,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
) -> CachedFeatures:
    """Return the cache of `encoder` over `images`, computing it first if it does not exist.

    Args:
        encoder: a frozen image encoder (its output must depend on the image alone).
        images: the images to encode.
        root: folder holding all caches (one sub-folder per key).
        device: where to run the encoder.
        batch_size: images per encoder call.
    """
    if not encoder.is_frozen:
        raise ValueError("only a frozen image encoder can be cached: a trainable one changes its output every step")
    target = Path(root) / cache_key(encoder, images)
    if (target / "tokens.npy").exists():
        return CachedFeatures(target)
    staging = staging_dir(target)
    was_training = encoder.training
    encoder.eval()
    try:
        tokens_file = mask_file = None
        for start in range(0, len(images), batch_size):
            index = torch.arange(start, min(start + batch_size, len(images)))
            pixels = images.get(index).to(device, non_blocking=True)
            tokens, mask = encoder(pixels.float().div_(255.0) if pixels.dtype == torch.uint8 else pixels.float())
            if tokens_file is None:  # shapes are known after the first batch
                shape = (len(images), *tokens.shape[1:])
                tokens_file = np.lib.format.open_memmap(staging / "tokens.npy", "w+", np.float16, shape)
                mask_file = np.lib.format.open_memmap(staging / "mask.npy", "w+", np.bool_, shape[:2])
            tokens_file[start : start + len(index)] = tokens.to(torch.float16).cpu().numpy()
            mask_file[start : start + len(index)] = mask.cpu().numpy()
        tokens_file.flush()
        mask_file.flush()
        del tokens_file, mask_file
        (staging / "meta.json").write_text(
            json.dumps({"encoder": part_config(encoder), "images": len(images)}, default=str, indent=2)
        )
        try:
            os.replace(staging, target)  # atomic: the folder appears complete or not at all
        except OSError:
            if not (target / "tokens.npy").exists():  # another process may have finished the same cache first
                raise
    finally:
        encoder.train(was_training)
        shutil.rmtree(staging, ignore_errors=True)
    return CachedFeatures(target)
