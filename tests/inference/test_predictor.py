"""The Predictor: answers, batching with one encoding per image, any image input, clear errors, attention maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import vqa
from fusion import LateFusion, MFBFusion
from vqa.data.images import ImageLoadError
from vqa.inference.predictor import Answer, PredictionError, Predictor
from vqa.models.encoders import ConvGridEncoder, GRUTextEncoder
from vqa.models.encoders.tokenizer import EmptyQuestionError
from vqa.models.model import VQAModel


@pytest.fixture(scope="module")
def predictor(trained):
    return vqa.load(trained.checkpoint, device="cpu", batch_size=2)


def test_answer_gives_ranked_answers_with_probabilities(predictor, trained):
    answers = predictor.answer(trained.image_files[0], trained.questions[0], top_k=3)
    assert len(answers) == 3 and all(isinstance(a, Answer) for a in answers)
    assert all(a.answer in trained.datamodule.vocab.answers.answers for a in answers)
    probabilities = [a.probability for a in answers]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)
    logits = predictor.logits(trained.image_files[:1], trained.questions[:1])[0]
    assert answers[0].answer == predictor.answers[int(logits.argmax())]
    assert answers[0].probability == pytest.approx(float(torch.sigmoid(logits.max())))  # trained with BCE


def test_answer_batch_encodes_each_distinct_image_once(predictor, trained):
    files = trained.image_files
    pil = Image.open(files[3]).convert("RGB")
    images = [files[0], files[1], str(files[0]), files[2], pil, files[1], files[3], pil, files[0]]
    questions = [trained.questions[i % len(trained.questions)] for i in range(len(images))]
    encoded = []
    hook = predictor.model.image_encoder.register_forward_hook(lambda m, args, out: encoded.append(args[0].shape[0]))
    try:
        batched = predictor.answer_batch(images, questions, top_k=2)
    finally:
        hook.remove()
    assert sum(encoded) == 5  # four files (one given as str and Path) + one PIL image (files[3] as a path too)
    assert max(encoded) <= predictor.batch_size
    for image, question, answers in zip(images, questions, batched):
        single = predictor.answer(image, question, top_k=2)
        assert [a.answer for a in single] == [a.answer for a in answers]
        assert [a.probability for a in single] == pytest.approx([a.probability for a in answers], abs=1e-5)


def test_every_kind_of_image_input_gives_the_same_answer(predictor, trained):
    path = trained.image_files[1]
    pixels = np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3) uint8
    inputs = [
        path,
        str(path),
        Image.open(path),
        pixels,
        torch.from_numpy(pixels).permute(2, 0, 1),  # (3, H, W) uint8
        torch.from_numpy(pixels).permute(2, 0, 1).float() / 255,  # float in [0, 1]
        pixels.astype(np.float64) / 255,
    ]
    question = trained.questions[0]
    expected = predictor.logits([path], [question])
    for image in inputs:
        assert torch.equal(predictor.logits([image], [question]), expected), type(image)


def test_grayscale_rgba_palette_16bit_and_odd_sizes_are_accepted(predictor, trained, tmp_path):
    rgb = Image.open(trained.image_files[2]).convert("RGB")
    variants = {
        "gray.png": rgb.convert("L"),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE),
        "gray16.png": Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257),
        "odd_size.jpg": rgb.resize((131, 47)),
        "tiny.png": rgb.resize((3, 5)),
        "cmyk.jpg": rgb.convert("CMYK"),
    }
    for name, image in variants.items():
        image.save(tmp_path / name)
        pixels = predictor.preprocess(tmp_path / name)
        assert pixels.shape == (3, 75, 75) and pixels.dtype == torch.uint8, name
        assert len(predictor.answer(tmp_path / name, trained.questions[0], top_k=2)) == 2
    gray = predictor.preprocess(tmp_path / "gray.png")
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    # 16-bit grey 257 * v reads back as the 8-bit grey v
    assert torch.equal(predictor.preprocess(tmp_path / "gray16.png"), gray)
    assert torch.equal(predictor.preprocess(tmp_path / "rgba.png"), predictor.preprocess(rgb))


def test_bad_images_and_questions_raise_clear_errors(predictor, trained, tmp_path):
    question = trained.questions[0]
    text_file = tmp_path / "notes.png"
    text_file.write_text("this is not an image")
    with pytest.raises(ImageLoadError, match=r"cannot read image .*notes\.png"):
        predictor.answer(text_file, question)
    with pytest.raises(ImageLoadError, match=r"image file not found: .*missing\.png"):
        predictor.answer(tmp_path / "missing.png", question)
    with pytest.raises(ImageLoadError, match="not an image file"):
        predictor.answer(tmp_path, question)
    with pytest.raises(ImageLoadError, match="float pixel values must lie in"):
        predictor.answer(np.full((8, 8, 3), 200.0), question)
    with pytest.raises(ImageLoadError, match="one image at a time"):
        predictor.answer(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), question)
    with pytest.raises(ImageLoadError, match="unsupported image type list"):
        predictor.answer([[0, 1]], question)
    for empty in ("", "   ", "\n"):
        with pytest.raises(EmptyQuestionError, match="is empty"):
            predictor.answer(trained.image_files[0], empty)
    with pytest.raises(PredictionError, match="must be a string"):
        predictor.answer(trained.image_files[0], None)
    with pytest.raises(PredictionError, match="top_k must be between 1 and"):
        predictor.answer(trained.image_files[0], question, top_k=0)
    with pytest.raises(PredictionError, match="2 images for 1 questions"):
        predictor.answer_batch(trained.image_files[:2], [question])


def test_out_of_vocabulary_words_are_read_as_unknown(predictor, trained):
    tokenizer = trained.datamodule.vocab.tokenizer
    question = "Is the zebra-striped xylophone left of the gray circle?"
    ids, _ = tokenizer.encode([question])
    assert (ids == 1).sum() >= 3  # zebra, striped, xylophone -> <unk>
    answers = predictor.answer(trained.image_files[0], question, top_k=2)
    assert len(answers) == 2 and np.isfinite([a.probability for a in answers]).all()


def test_explain_writes_an_attention_png(predictor, trained, tmp_path):
    out = tmp_path / "maps" / "attn.png"
    explanation = predictor.explain(trained.image_files[0], trained.questions[0], out=out, top_k=2)
    assert explanation.path == out and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as image:
        assert image.size[0] > 200 and image.size[1] > 200
    grid = predictor.model.image_encoder.grid_shape((75, 75))
    assert explanation.attention.shape == grid
    assert explanation.attention.sum() == pytest.approx(1.0, abs=1e-4)
    assert [a.answer for a in explanation.answers] == [
        a.answer for a in predictor.answer(trained.image_files[0], trained.questions[0], top_k=2)
    ]


def untrained_predictor(vocab, fusion) -> Predictor:
    """A predictor for a fresh (untrained) model with the tiny encoders and `fusion` (32-wide inputs)."""
    image = ConvGridEncoder(out_dim=32, channels=(8, 16, 32))
    text = GRUTextEncoder(vocab.tokenizer.vocab_size, hidden_dim=32)
    model = VQAModel(image, text, fusion, len(vocab.answers), head_hidden=32)
    return Predictor(model, vocab, device="cpu")


def test_explain_refuses_fusions_without_attention(trained, tmp_path):
    vocab = trained.datamodule.vocab
    late = untrained_predictor(vocab, LateFusion(32, 32, out_dim=32))
    with pytest.raises(PredictionError, match="'late' .* has no question-to-image attention"):
        late.explain(trained.image_files[0], trained.questions[0], out=tmp_path / "attn.png")
    mfb_without_glimpses = untrained_predictor(vocab, MFBFusion(32, 32, out_dim=32, mm_dim=64, factor=2, glimpses=0))
    assert mfb_without_glimpses.model.fusion.family == "late"
    with pytest.raises(PredictionError, match="'mfb' .* has no question-to-image attention"):
        mfb_without_glimpses.explain(trained.image_files[0], trained.questions[0], out=tmp_path / "attn.png")
    assert not (tmp_path / "attn.png").exists()


def test_explain_draws_the_glimpses_of_a_bilinear_fusion(trained, tmp_path):
    """MFB is a late fusion, yet its question-guided glimpses are question-to-image attention: explain draws them."""
    torch.manual_seed(0)
    fusion = MFBFusion(32, 32, out_dim=32, mm_dim=64, factor=2, glimpses=2, attention_hidden=16)
    predictor = untrained_predictor(trained.datamodule.vocab, fusion)
    assert fusion.family == "late" and not fusion.interactive and fusion.exposes_attention
    out = tmp_path / "mfb.png"
    explanation = predictor.explain(trained.image_files[0], trained.questions[0], out=out, top_k=2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = predictor.model.image_encoder.grid_shape((75, 75))
    assert explanation.attention.shape == grid
    assert explanation.attention.sum() == pytest.approx(1.0, abs=1e-4) and (explanation.attention >= 0).all()
    # the map is the mean of the two glimpses the fusion computed for this question
    glimpses = fusion.last_attention["glimpses"][0].float()  # (G, Ni)
    assert glimpses.shape == (2, grid[0] * grid[1])
    np.testing.assert_allclose(explanation.attention, glimpses.mean(0).reshape(grid).numpy(), rtol=1e-5)
    assert [a.answer for a in explanation.answers] == [
        a.answer for a in predictor.answer(trained.image_files[0], trained.questions[0], top_k=2)
    ]


def test_image_size_is_required_when_unknown(trained):
    vocab = trained.datamodule.vocab
    unsized = type(vocab)(vocab.tokenizer, vocab.answers, vocab.groups, None)
    model = trained.module.model
    with pytest.raises(PredictionError, match="pass image_size"):
        Predictor(model, unsized, device="cpu")
    assert Predictor(model, unsized, device="cpu", image_size=(75, 75)).image_size == (75, 75)


@pytest.mark.gpu
def test_gpu_and_cpu_agree(trained):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    images, questions = trained.image_files[:2], trained.questions[:2]
    cpu = vqa.load(trained.checkpoint, device="cpu").logits(images, questions)
    gpu_predictor = vqa.load(trained.checkpoint, device="cuda")
    assert next(gpu_predictor.model.parameters()).is_cuda
    torch.testing.assert_close(gpu_predictor.logits(images, questions), cpu, rtol=1e-3, atol=1e-3)
