"""Image inputs of every kind to uint8 RGB, and the token grid of the image encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vqa.data.images import ImageLoadError, as_rgb, load_image, resize_to_tensor
from vqa.models.encoders import ConvGridEncoder


def pixels(image) -> np.ndarray:
    return np.asarray(as_rgb(image))


def test_arrays_and_tensors_in_every_layout_and_dtype():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20  # (H, W)
    expected = np.repeat(gray[..., None], 3, axis=-1)
    assert np.array_equal(pixels(gray), expected)
    assert np.array_equal(pixels(gray[..., None]), expected)  # (H, W, 1)
    assert np.array_equal(pixels(torch.from_numpy(gray)), expected)  # tensor (H, W)
    assert np.array_equal(pixels(torch.from_numpy(gray)[None]), expected)  # tensor (1, H, W)
    assert np.array_equal(pixels(gray.astype(np.uint16) * 257), expected)  # 16-bit
    assert np.array_equal(pixels(gray.astype(np.float32) / 255), expected)
    assert np.array_equal(pixels(gray > 100), np.repeat(((gray > 100) * 255).astype(np.uint8)[..., None], 3, -1))
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque; the rest is fully transparent -> white
    composited = pixels(rgba)
    assert tuple(composited[0, 0]) == (10, 20, 30) and tuple(composited[1, 1]) == (255, 255, 255)
    assert np.array_equal(pixels(torch.from_numpy(rgba).permute(2, 0, 1)), composited)  # tensor (4, H, W)


def test_palette_with_transparency_and_16bit_files(tmp_path):
    palette = Image.new("P", (5, 4), 0)
    palette.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette.putpixel((1, 1), 1)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "palette.png", transparency=0)
    loaded = load_image(tmp_path / "palette.png")  # (3, H, W)
    assert loaded.shape == (3, 4, 5)
    assert loaded[:, 1, 1].tolist() == [200, 10, 10] and loaded[:, 0, 0].tolist() == [255, 255, 255]
    deep = Image.fromarray(np.full((6, 7), 65535, dtype=np.uint16))
    deep.save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png", size=(3, 3)).eq(255).all()


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((2, 3, 5), dtype=np.uint8), r"array of shape \[H, W\] or \[H, W, C\]"),
        (np.zeros((0, 3), dtype=np.uint8), r"array of shape \[H, W\]"),
        (np.full((4, 4), -1.0), r"float pixel values must lie in \[0, 1\]"),
        (np.full((4, 4), np.nan), r"float pixel values must lie in \[0, 1\]"),
        (np.full((4, 4), -3, dtype=np.int32), r"integer pixel values must lie in \[0, 65535\]"),
        (np.zeros((4, 4), dtype=np.complex64), "unsupported pixel dtype"),
        (torch.zeros(5, 4, 4), r"tensor of shape \[C, H, W\]"),
        (3.5, "unsupported image type float"),
    ],
)
def test_unsupported_inputs_say_what_was_expected(image, message):
    with pytest.raises(ImageLoadError, match=message):
        as_rgb(image)


def test_resize_matches_load_image(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (37, 91, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    from_file = load_image(tmp_path / "x.png", size=(20, 30))
    assert from_file.shape == (3, 20, 30)
    assert torch.equal(resize_to_tensor(as_rgb(Image.open(tmp_path / "x.png")), (20, 30)), from_file)


@pytest.mark.parametrize("size", [(64, 64), (75, 75), (33, 50), (1, 1), (17, 4)])
@pytest.mark.parametrize("strides", [None, (2, 1, 2)])
def test_grid_shape_matches_the_tokens(size, strides):
    encoder = ConvGridEncoder(out_dim=8, channels=(4, 4, 8), strides=strides).eval()
    tokens, mask = encoder(torch.rand(1, 3, *size))
    rows, cols = encoder.grid_shape(size)
    assert tokens.shape[1] == rows * cols == mask.shape[1]
