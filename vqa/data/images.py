"""Decoding images (files, PIL images, numpy arrays, tensors) into uint8 RGB tensors, with clear errors."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from vqa.errors import VQAError

# Largest image file decoded, in pixels (width x height): 64 megapixels, e.g. 8000 x 8000. Far above any VQA
# benchmark image (COCO <= 640 px, CLEVR 480 x 320) and most camera photos, far below what exhausts memory
# (a decoded RGB image takes 3 bytes per pixel). A file declaring more is refused before anything is decoded:
# a small, highly compressed file can declare billions of pixels (a "decompression bomb").
MAX_IMAGE_PIXELS = 64_000_000


class ImageLoadError(VQAError, ValueError):
    """An image is missing, unreadable or not an image (the message names the file), or an in-memory image has an
    unsupported type, shape or value range."""


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


class PixelLimitError(Exception):
    """An image declares more pixels than a caller allows; each caller words its own message from the size.

    Attributes:
        width: the image's declared width.
        height: its declared height.
        limit: the most pixels allowed.
    """

    def __init__(self, width: int, height: int, limit: int) -> None:
        super().__init__(f"{width} x {height} = {width * height:,} pixels, more than the limit of {limit:,}")
        self.width, self.height, self.limit = width, height, limit


def decode_rgb(source: str | os.PathLike | BinaryIO, max_pixels: int | None = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image (a file path or a binary file object, e.g. uploaded bytes) into 8-bit RGB (`to_rgb`),
    refusing it from its header, before any pixel is decoded, when it declares more than `max_pixels`.

    Callers name the image in their own errors: this raises `PixelLimitError` for the size, and Pillow's own
    errors as they come (`UnidentifiedImageError`, `Image.DecompressionBombError` above twice Pillow's limit,
    `OSError` for a truncated file, ...).
    """
    with warnings.catch_warnings():
        # Pillow warns above its own limit; the caller's limit below decides, with a message naming the image.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(source)  # reads the header only
    with image:
        width, height = image.size
        if max_pixels is not None and width * height > max_pixels:
            raise PixelLimitError(width, height, max_pixels)
        image.load()
        return to_rgb(image)


def open_rgb(path: str | os.PathLike, max_pixels: int | None = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image file into an 8-bit RGB PIL image (any mode converted by `to_rgb`).

    Args:
        path: the image file.
        max_pixels: refuse images with more pixels than this, before decoding them (None: no limit of ours;
            Pillow's own `Image.MAX_IMAGE_PIXELS` still applies above twice its value).

    Raises:
        ImageLoadError: the file is missing, truncated, not an image, or larger than `max_pixels`.
    """
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"image file not found: {path}")
    if not path.is_file():
        raise ImageLoadError(f"not an image file: {path} is a directory or special file")
    try:
        return decode_rgb(path, max_pixels)
    except PixelLimitError as error:
        raise ImageLoadError(
            f"image {path} is {error} (a guard against decompression bombs); shrink the file, or raise "
            "max_pixels where images are loaded (ImageFiles(max_pixels=...), Predictor(max_image_pixels=...))"
        ) from None
    except Image.DecompressionBombError as error:  # Pillow refuses before we see the size (> 2x its limit)
        raise ImageLoadError(
            f"image {path} is too large to decode: {_first_number(str(error))} pixels, more than "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} (a guard against decompression bombs)"
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"cannot read image {path}: {error}") from error


def _first_number(text: str) -> str:
    """The first integer in Pillow's message ("Image size (N pixels) exceeds ..."), formatted, or '?'."""
    digits = "".join(c if c.isdigit() else " " for c in text).split()
    return f"{int(digits[0]):,}" if digits else "?"


def resize_to_tensor(rgb: Image.Image, size: tuple[int, int] | None = None) -> Tensor:
    """An RGB PIL image to uint8 [3, H, W], resized (bilinear) to `size` = (height, width) if given."""
    if size is not None and rgb.size != (size[1], size[0]):
        rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)


def load_image(
    path: str | os.PathLike, size: tuple[int, int] | None = None, max_pixels: int | None = MAX_IMAGE_PIXELS
) -> Tensor:
    """Decode an image file to uint8 [3, H, W] RGB, resized to `size` = (height, width) if given.

    Raises:
        ImageLoadError: the file is missing, truncated, not an image, or has more than `max_pixels` pixels.
    """
    return resize_to_tensor(open_rgb(path, max_pixels), size)


# What `as_rgb` accepts: a file path, a PIL image, a numpy array [H,W] / [H,W,C], or a tensor [H,W] / [C,H,W]
# (C = 1 grey, 3 RGB, 4 RGBA); uint8, bool, 16-bit integers, or floats in [0, 1].
ImageInput = str | os.PathLike | Image.Image | np.ndarray | Tensor


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values of any numeric dtype to uint8, with the same 16-bit rule as `to_rgb`."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min(initial=0)), int(array.max(initial=0))
        if low < 0 or high > 65535:
            raise ImageLoadError(f"integer pixel values must lie in [0, 65535], got [{low}, {high}]")
        peak = 65535.0 if high > 255 else 255.0  # 16-bit data, unless every value fits 8 bits
        # Truncation, as in `to_rgb`, so a 16-bit file and the same pixels as an array give equal tensors.
        return (array.astype(np.float64) / peak * 255).clip(0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min(initial=0) < 0 or array.max(initial=0) > 1:
            raise ImageLoadError(
                f"float pixel values must lie in [0, 1], got [{array.min()}, {array.max()}]; "
                "divide 8-bit values by 255 or pass a uint8 array"
            )
        return (array * 255).round().astype(np.uint8)
    raise ImageLoadError(f"unsupported pixel dtype {array.dtype}; expected uint8, bool, 16-bit integers or float")


def array_to_rgb(array: np.ndarray) -> Image.Image:
    """A numpy image [H, W] or [H, W, C] (C = 1, 3 or 4) to an 8-bit RGB PIL image (alpha on white)."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or 0 in array.shape:
        raise ImageLoadError(
            f"expected an image array of shape [H, W] or [H, W, C] with C in (1, 3, 4), got {list(array.shape)}"
        )
    return to_rgb(Image.fromarray(np.ascontiguousarray(_array_to_uint8(array))))


def as_rgb(image: ImageInput, max_pixels: int | None = MAX_IMAGE_PIXELS) -> Image.Image:
    """Any supported image input (see `ImageInput`) to an 8-bit RGB PIL image.

    Numpy arrays are channels-last ([H, W, C], the numpy/PIL convention); tensors are channels-first
    ([C, H, W], the torch convention); both may also be [H, W] greyscale.

    Raises:
        ImageLoadError: a missing or unreadable file, a file of more than `max_pixels` pixels, an unsupported
            type, shape or value range.
    """
    if isinstance(image, (str, os.PathLike)):
        return open_rgb(image, max_pixels)
    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, Tensor):
        if image.ndim == 3 and image.shape[0] in (1, 3, 4):
            image = image.permute(1, 2, 0)  # (H, W, C)
        elif image.ndim != 2:
            raise ImageLoadError(
                f"expected an image tensor of shape [C, H, W] with C in (1, 3, 4) or [H, W], got {list(image.shape)}"
                + ("; pass one image at a time (answer_batch takes a list)" if image.ndim == 4 else "")
            )
        return array_to_rgb(image.detach().cpu().numpy())
    if isinstance(image, np.ndarray):
        return array_to_rgb(image)
    raise ImageLoadError(
        f"unsupported image type {type(image).__name__}; expected a file path, PIL.Image, numpy array or torch tensor"
    )
