"""Image files of every kind of damage get a clear ImageLoadError naming the file; unusual modes decode."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from vqa.data import ImageFiles
from vqa.data.images import MAX_IMAGE_PIXELS, ImageLoadError, as_rgb, load_image


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def declare_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims another size (the pixel data stays tiny): a decompression bomb's shape."""
    data = png[16:29]  # IHDR payload: width, height, bit depth, colour type, ...
    data = struct.pack(">II", width, height) + data[8:]
    chunk = b"IHDR" + data
    return png[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def _gradient(height: int = 6, width: int = 8) -> np.ndarray:
    return np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "truncated.png",
            lambda: png_bytes(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))[:300],
            "cannot read image",
        ),
        (
            "truncated.jpg",
            lambda: _jpeg(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))[:400],
            "cannot read image",
        ),
        ("notes.jpg", lambda: b"these are not pixels\n", "cannot read image"),
        ("empty.png", lambda: b"", "cannot read image"),
        (
            "bomb.png",
            lambda: declare_size(png_bytes(_gradient()), 9_000, 9_000),
            "81,000,000 pixels, more than the limit",
        ),
        ("huge.png", lambda: declare_size(png_bytes(_gradient()), 10_000, 10_000), "100,000,000 pixels"),
        ("giant.png", lambda: declare_size(png_bytes(_gradient()), 20_000, 20_000), "400,000,000 pixels, more than"),
    ],
)
def test_damaged_files_raise_a_clear_error_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own DecompressionBombWarning must not leak through
        with pytest.raises(ImageLoadError, match=message) as info:
            load_image(path, (8, 8))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="image file not found: .*missing.png"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(ImageLoadError, match="not an image file: .*folder.png is a directory"):
        load_image(tmp_path / "folder.png")


def test_pixel_limit_is_adjustable(tmp_path):
    path = tmp_path / "small.png"
    path.write_bytes(png_bytes(_gradient(6, 8)))
    with pytest.raises(ImageLoadError, match="6 = 48 pixels, more than the limit of 47"):
        load_image(path, max_pixels=47)
    assert load_image(path, max_pixels=48).shape == (3, 6, 8)
    with pytest.raises(ImageLoadError, match="more than the limit of 10"):
        ImageFiles([path], (4, 4), max_pixels=10).get(torch.tensor([0]))
    assert MAX_IMAGE_PIXELS == 64_000_000


def _jpeg(array: np.ndarray, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_unusual_modes_decode_to_8bit_rgb(tmp_path):
    rgb = _gradient()
    cases = {}
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=100)
    cases["cmyk.jpg"] = np.asarray(Image.open(tmp_path / "cmyk.jpg").convert("RGB"))
    gray16 = np.arange(48, dtype=np.uint16).reshape(6, 8) * 1000
    Image.fromarray(gray16).save(tmp_path / "deep.png")
    cases["deep.png"] = np.repeat((gray16 / 65535 * 255).astype(np.uint8)[..., None], 3, -1)
    rgba = np.concatenate([rgb, np.full((6, 8, 1), 255, np.uint8)], -1)
    rgba[0, 0, 3] = 0  # one transparent pixel: composited on white
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    expected = rgb.copy()
    expected[0, 0] = 255
    cases["alpha.png"] = expected
    gray_alpha = Image.fromarray(rgba).convert("LA")
    gray_alpha.save(tmp_path / "la.png")
    cases["la.png"] = np.asarray(as_rgb(gray_alpha))
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "palette.png")
    cases["palette.png"] = np.asarray(Image.open(tmp_path / "palette.png").convert("RGB"))
    Image.fromarray(rgb[..., 0] > 100).save(tmp_path / "bits.png")
    cases["bits.png"] = np.repeat(((rgb[..., 0] > 100) * 255).astype(np.uint8)[..., None], 3, -1)
    for name, want in cases.items():
        got = load_image(tmp_path / name)
        assert got.dtype == torch.uint8 and got.shape == (3, 6, 8), name
        assert np.array_equal(got.permute(1, 2, 0).numpy(), want), name


def test_non_ascii_file_names(tmp_path):
    path = tmp_path / "café_画像.png"
    path.write_bytes(png_bytes(_gradient()))
    assert torch.equal(load_image(path), torch.from_numpy(_gradient()).permute(2, 0, 1))
