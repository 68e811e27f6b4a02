"""Decoding image files into uint8 RGB tensors, with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from vqa.errors import VQAError


class ImageLoadError(VQAError, ValueError):
    """An image file is missing, unreadable or not an image; the message names the file."""


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode (grayscale, 16-bit, palette, alpha, CMYK) to 8-bit RGB; alpha is composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max(initial=0) > 255 else 255.0
        return Image.fromarray((array / peak * 255).clip(0, 255).astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max(initial=0) - array.min(initial=0), 1e-12)
        return Image.fromarray(((array - array.min()) / span * 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> Tensor:
    """Decode an image file to uint8 [3, H, W] RGB, resized to `size` = (height, width) if given.

    Raises:
        ImageLoadError: the file is missing, truncated, or not an image.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"image file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            rgb = to_rgb(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageLoadError(f"cannot read image {path}: {error}") from error
    if size is not None and rgb.size != (size[1], size[0]):
        rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
