"""The Predictor and `vqa ask` on hostile inputs: huge image files, long and non-ASCII questions."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from tests.reliability.test_bad_images import declare_size, png_bytes
from vqa.cli import main
from vqa.data.images import ImageLoadError
from vqa.inference.predictor import Predictor


@pytest.fixture(scope="module")
def predictor(trained):
    return Predictor(trained.module.model, trained.module.vocab, device="cpu")


def test_decompression_bomb_is_refused_by_the_predictor_and_the_cli(predictor, trained, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(declare_size(png_bytes(np.zeros((4, 4, 3), np.uint8)), 12_000, 12_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            ImageLoadError, match=r"bomb.png is 12000 x 12000 = 144,000,000 pixels, more than the limit"
        ):
            predictor.answer(bomb, "What color is the object?")
    strict = Predictor(trained.module.model, trained.module.vocab, device="cpu", max_image_pixels=100)
    with pytest.raises(ImageLoadError, match="more than the limit of 100"):
        strict.answer(trained.image_files[0], "What color is the object?")
    with pytest.raises(SystemExit) as info:
        main(["ask", "--model", str(trained.checkpoint), "--image", str(bomb), "--question", "What?"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: image ")


def test_long_and_non_ascii_questions(predictor, trained):
    image = trained.image_files[0]
    with pytest.warns(UserWarning, match="1 of 1 questions are longer than max_length=32 tokens and were truncated"):
        long = predictor.answer(image, "is " * 50 + "the red object on the left?", top_k=2)
    assert len(long) == 2
    for question in ("¿De qué color es el objeto rojo?", "赤い物体は何色ですか", "What colour is the 🔴 object?"):
        answers = predictor.answer(image, question, top_k=1)
        assert answers[0].answer in predictor.answers and 0.0 <= answers[0].probability <= 1.0
    buffer = io.BytesIO()
    Image.open(image).convert("CMYK").save(buffer, format="JPEG")
    cmyk = Image.open(io.BytesIO(buffer.getvalue()))
    assert cmyk.mode == "CMYK" and predictor.answer(cmyk, "What color is the object?")
