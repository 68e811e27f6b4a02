"""Answering questions about your own images with a trained model.

>>> import vqa
>>> predictor = vqa.load("runs/easy_vqa/.../checkpoints/last.ckpt")   # or a bundle directory
>>> predictor.answer("shape.png", "What color is the shape?", top_k=3)
[Answer(answer='blue', probability=0.97), ...]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from vqa.data.images import MAX_IMAGE_PIXELS, ImageInput, as_rgb, resize_to_tensor
from vqa.data.vocab import Vocabulary
from vqa.errors import VQAError
from vqa.inference.bundle import Scores, TrainedModel, read_model
from vqa.models.answer_tokens import AnswerTokens
from vqa.models.model import VQAModel

# Logits [B, A] -> answer probabilities [B, A], matching the training loss (a generator's "logits" are each
# answer's log-likelihood, so its probabilities are their exponentials).
PROBABILITIES: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": torch.sigmoid,
    "softmax": lambda logits: logits.softmax(dim=-1),
    "likelihood": torch.exp,
}
Mode = Literal["classify", "generate", "rank"]


class PredictionError(VQAError, ValueError):
    """A request the predictor cannot answer (wrong argument, a fusion without attention maps, ...)."""


@dataclass(frozen=True)
class Answer:
    """One candidate answer and the model's probability for it."""

    answer: str
    probability: float


@dataclass(frozen=True)
class Explanation:
    """What `Predictor.explain` found and drew.

    Attributes:
        answers: the top answers.
        path: the PNG written.
        attention: [rows, cols] question-to-image attention over the image-token grid (sums to 1).
    """

    answers: list[Answer]
    path: Path
    attention: np.ndarray = field(repr=False)


def default_device() -> torch.device:
    """The first GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Predictor:
    """Answers questions about images with a trained `VQAModel`, preprocessing images as in training.

    Args:
        model: the trained network (put in eval mode and moved to `device`).
        vocab: its vocabulary (tokenizer, answers, training image size).
        scores: how logits become probabilities: "sigmoid" for models trained with BCE (the default loss;
            each answer's probability stands alone) or "softmax" (probabilities sum to 1).
        device: where to run ("cpu", "cuda", "cuda:1", ...); default: a GPU if there is one.
        image_size: (height, width) every image is resized to; default: the training image size saved in the
            vocabulary, else the image encoder's own `image_size`.
        batch_size: images encoded, and questions answered, per forward pass in `answer_batch`.
        max_image_pixels: image files declaring more pixels are refused before decoding (a guard against
            decompression bombs; see `vqa.data.images.MAX_IMAGE_PIXELS`); None: no limit of ours.
    """

    def __init__(
        self,
        model: VQAModel,
        vocab: Vocabulary,
        *,
        scores: Scores = "sigmoid",
        device: str | torch.device | None = None,
        image_size: tuple[int, int] | None = None,
        batch_size: int = 64,
        max_image_pixels: int | None = MAX_IMAGE_PIXELS,
    ) -> None:
        if model.num_answers != len(vocab.answers):
            raise PredictionError(
                f"the model has {model.num_answers} answer classes but the vocabulary {len(vocab.answers)}; "
                "they come from different trainings"
            )
        if scores not in PROBABILITIES:
            raise PredictionError(f"scores must be one of {sorted(PROBABILITIES)}, got {scores!r}")
        if batch_size < 1:
            raise PredictionError(f"batch_size must be at least 1, got {batch_size}")
        self.image_size = image_size or vocab.image_size or model.image_encoder.image_size
        if self.image_size is None:
            raise PredictionError(
                "this model does not record the image size it was trained on (saved before sizes were recorded); "
                "pass image_size=(height, width) of its training images"
            )
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.eval().to(self.device)
        self.vocab = vocab
        self.scores = scores
        self.batch_size = batch_size
        self.max_image_pixels = max_image_pixels
        # A generator reads and writes the words of its training vocabulary.
        self.answer_tokens = AnswerTokens.for_vocabulary(vocab) if model.decoder is not None else None

    @classmethod
    def from_trained(cls, trained: TrainedModel, **kwargs) -> Predictor:
        """A predictor for a model read by `vqa.inference.bundle.read_model` (keyword arguments as in the constructor)."""
        return cls(trained.model, trained.vocab, scores=trained.scores, **kwargs)

    @property
    def answers(self) -> list[str]:
        """The answer classes, index = class id."""
        return self.vocab.answers.answers

    def preprocess(self, image: ImageInput) -> Tensor:
        """Any supported image (path, PIL image, numpy array, tensor; any mode and size) to the model's input:
        uint8 [3, H, W] RGB at the training size, resized exactly as training data is loaded."""
        return resize_to_tensor(as_rgb(image, self.max_image_pixels), self.image_size)

    # ---- answering -----------------------------------------------------------------------------------------

    def answer(
        self,
        image: ImageInput,
        question: str,
        top_k: int = 1,
        *,
        mode: Mode = "classify",
        num_beams: int = 3,
        candidates: Sequence[str] | None = None,
    ) -> list[Answer]:
        """The `top_k` most probable answers to one question about one image, best first (see `answer_batch`)."""
        return self.answer_batch([image], [question], top_k, mode=mode, num_beams=num_beams, candidates=candidates)[0]

    def answer_batch(
        self,
        images: Sequence[ImageInput],
        questions: Sequence[str],
        top_k: int = 1,
        *,
        mode: Mode = "classify",
        num_beams: int = 3,
        candidates: Sequence[str] | None = None,
    ) -> list[list[Answer]]:
        """Answer many questions; question i is about images[i]. Each distinct image (the same path or the same
        object passed several times) is decoded and encoded once; batches hold up to `batch_size` items.

        Args:
            images: one image per question.
            questions: the questions.
            top_k: answers per question (`classify` only; the other modes give one).
            mode: `classify` scores the training answers (a classifier's logits; a generator's log-likelihood of
                each); a model with a generator head can also `generate` its answer word by word (beam search with
                `num_beams`, greedy with 1), including answers it was never trained on, or `rank` a list of
                `candidates` (default: the training answers) by likelihood.
            num_beams: beams of `generate`.
            candidates: answers `rank` chooses from.

        Raises:
            PredictionError: a bad argument, or `generate` / `rank` asked of a classifier.
        """
        if mode == "classify":
            self._check_top_k(top_k)
            return self._top_answers(self.probabilities(images, questions), top_k)
        if mode not in ("generate", "rank"):
            raise PredictionError(f"mode must be 'classify', 'generate' or 'rank', got {mode!r}")
        if self.answer_tokens is None:
            raise PredictionError(
                f"mode {mode!r} needs a model with a generator head (trained with --model.head generator); "
                "this one classifies: use mode='classify'"
            )
        if top_k != 1:
            raise PredictionError(f"mode {mode!r} gives one answer per question; top_k must be 1, got {top_k}")
        if num_beams < 1:
            raise PredictionError(f"num_beams must be at least 1, got {num_beams}")
        table = None if candidates is None else self._candidate_table(candidates)
        decode_mode = "rank" if mode == "rank" else ("beam" if num_beams > 1 else "greedy")

        def run(img: Tensor, img_mask: Tensor, ids: Tensor, mask: Tensor) -> list[tuple[Tensor, Tensor]]:
            fused = self.model.fuse(img, img_mask, ids, mask)
            decoded = self.model.generate(fused, decode_mode, num_beams, candidates=table)
            return list(zip(decoded.ids.cpu(), decoded.log_prob.float().cpu()))

        return [
            [Answer(self.answer_tokens.decode(ids), float(log_prob.exp()))]
            for ids, log_prob in self._per_question(images, questions, run)
        ]

    def _candidate_table(self, candidates: Sequence[str]) -> Tensor:
        """User candidates as decoder targets; a word the decoder cannot write is an error, not an `<unk>`."""
        if isinstance(candidates, str) or not candidates:
            raise PredictionError("candidates must be a non-empty list of answer strings")
        for candidate in candidates:
            if not isinstance(candidate, str) or not candidate.split():
                raise PredictionError(f"every candidate must be a non-empty string, got {candidate!r}")
            unknown = [w for w in candidate.split() if self.answer_tokens.encode(w) == [self.answer_tokens.unk_id]]
            if unknown:
                raise PredictionError(
                    f"candidate {candidate!r} has words the model never saw in training ({', '.join(unknown)}); "
                    "it cannot write them"
                )
        max_length = self.model.decoder.max_length
        try:
            return self.answer_tokens.table(list(candidates), max_length)
        except ValueError as error:
            raise PredictionError(str(error)) from error

    def probabilities(self, images: Sequence[ImageInput], questions: Sequence[str]) -> Tensor:
        """Answer probabilities [len(questions), num_answers] (see `scores`)."""
        return PROBABILITIES[self.scores](self.logits(images, questions))

    @torch.inference_mode()
    def logits(self, images: Sequence[ImageInput], questions: Sequence[str]) -> Tensor:
        """Raw answer logits [len(questions), num_answers] (float32, on the CPU); question i is about images[i].

        Raises:
            ImageLoadError: an image is missing, not an image, or of an unsupported type or shape.
            EmptyQuestionError: a question has no words.
            PredictionError: the two lists differ in length, or a question is not a string.
        """
        rows = self._per_question(
            images,
            questions,
            lambda img, img_mask, ids, mask: self.model.answer(img, img_mask, ids, mask).float().cpu(),
        )
        return torch.stack(rows) if rows else torch.empty(0, len(self.answers))

    @torch.inference_mode()
    def _per_question(self, images: Sequence[ImageInput], questions: Sequence[str], run: Callable) -> list:
        """`run(img, img_mask, token_ids, token_mask)` over batches of encoded images and their questions; returns
        its per-question outputs (whatever indexing its result by row gives) in question order.

        Raises:
            ImageLoadError: an image is missing, not an image, or of an unsupported type or shape.
            EmptyQuestionError: a question has no words.
            PredictionError: the two lists differ in length, or a question is not a string.
        """
        if isinstance(images, (str, os.PathLike)) or isinstance(questions, str):
            raise PredictionError("answer_batch takes a list of images and a list of questions; use answer() for one")
        if len(images) != len(questions):
            raise PredictionError(
                f"got {len(images)} images for {len(questions)} questions; give one image per question"
            )
        _check_questions(questions)
        distinct, image_index = _distinct_images(images)
        token_ids, token_mask = self.vocab.tokenizer.encode(list(questions))  # (N, L)
        results: list = [None] * len(questions)
        # Questions sorted by image, so each slice of distinct images is encoded once and its questions follow.
        order = torch.argsort(image_index, stable=True)
        sorted_index = image_index[order]
        for start in range(0, len(distinct), self.batch_size):
            pixels = torch.stack([self.preprocess(image) for image in distinct[start : start + self.batch_size]])
            img, img_mask = self.model.encode_images(pixels.to(self.device, non_blocking=True))  # (Bi, Ni, Di)
            low, high = torch.searchsorted(sorted_index, torch.tensor([start, start + self.batch_size])).tolist()
            rows = order[low:high]  # the questions about these images
            for part in rows.split(self.batch_size):
                local = (image_index[part] - start).to(self.device)
                mask = token_mask[part]
                length = max(int(mask.sum(1).max()), 1)  # trim padding, as training batches do
                ids = token_ids[part, :length].to(self.device)
                out = run(img[local], img_mask[local], ids, mask[:, :length].to(self.device))
                for position, question in enumerate(part.tolist()):
                    results[question] = out[position]
        return results

    def _check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= len(self.answers):
            raise PredictionError(
                f"top_k must be between 1 and the number of answers ({len(self.answers)}), got {top_k}"
            )

    def _top_answers(self, probabilities: Tensor, top_k: int) -> list[list[Answer]]:
        """probabilities [N, A] -> per row, the `top_k` answers, best first."""
        top = probabilities.topk(top_k, dim=-1)
        return [
            [Answer(self.answers[int(i)], float(p)) for i, p in zip(ids, probs)]
            for ids, probs in zip(top.indices, top.values)
        ]

    # ---- attention maps ------------------------------------------------------------------------------------

    @torch.inference_mode()
    def explain(
        self, image: ImageInput, question: str, out: str | os.PathLike = "attn.png", top_k: int = 3
    ) -> Explanation:
        """Draw where the model looked: the image with the question-to-image attention as a heatmap overlay,
        and the `top_k` answers (at most all of them) in the title, saved as a PNG at `out`.

        Raises:
            PredictionError: the fusion exposes no question-to-image attention (`Fusion.exposes_attention`: the
                interactive fusions, and the bilinear ones with glimpses), or the image encoder's tokens do not
                lie on a grid.
        """
        from vqa.inference.attention_map import draw_attention  # matplotlib is imported only when a map is drawn

        top_k = min(top_k, len(self.answers))
        self._check_top_k(top_k)
        fusion = self.model.fusion
        if not fusion.exposes_attention:
            raise PredictionError(
                f"fusion {fusion.name!r} ({fusion.family} fusion) has no question-to-image attention to draw; "
                "attention maps need a fusion that exposes it, such as 'cross_attention' or 'mfb' with glimpses"
            )
        rgb = as_rgb(image, self.max_image_pixels)
        pixels = resize_to_tensor(rgb, self.image_size)  # (3, H, W)
        grid = self.model.image_encoder.grid_shape(tuple(pixels.shape[-2:]))
        if grid is None:
            raise PredictionError(
                f"image encoder {self.model.image_encoder.name!r} does not lay its tokens on a grid, "
                "so its attention cannot be drawn over the image"
            )
        _check_questions([question])
        token_ids, token_mask = self.vocab.tokenizer.encode([question])
        with fusion.recording_attention() as attention:
            logits = self.model(pixels[None].to(self.device), token_ids.to(self.device), token_mask.to(self.device))
        weights = attention.get("question_to_image")
        if weights is None or weights.shape[-1] != grid[0] * grid[1]:
            raise PredictionError(
                f"fusion {fusion.name!r} did not record question-to-image attention over the {grid[0]}x{grid[1]} "
                "image-token grid"
            )
        heat = weights[0].float().cpu().reshape(grid).numpy()  # (rows, cols)
        answers = self._top_answers(PROBABILITIES[self.scores](logits.float().cpu()), top_k)[0]
        path = draw_attention(rgb, heat, question, [(a.answer, a.probability) for a in answers], out)
        return Explanation(answers, path, heat)


def _check_questions(questions: Sequence[object]) -> None:
    for position, question in enumerate(questions):
        if not isinstance(question, str):
            raise PredictionError(f"question #{position} must be a string, got {type(question).__name__}")


def _distinct_images(images: Sequence[ImageInput]) -> tuple[list[ImageInput], Tensor]:
    """The distinct images (same path, or the very same object) and, per input, its index among them [N]."""
    seen: dict[object, int] = {}
    distinct: list[ImageInput] = []
    index = []
    for image in images:
        key = ("path", os.path.abspath(image)) if isinstance(image, (str, os.PathLike)) else ("object", id(image))
        if key not in seen:
            seen[key] = len(distinct)
            distinct.append(image)
        index.append(seen[key])
    return distinct, torch.tensor(index, dtype=torch.long)


def load(
    path: str | os.PathLike,
    device: str | torch.device | None = None,
    image_size: tuple[int, int] | None = None,
    batch_size: int = 64,
) -> Predictor:
    """A `Predictor` for a training checkpoint (read with `torch.load(weights_only=True)`) or a model bundle
    directory (JSON + safetensors: nothing is unpickled). Arguments as in `Predictor`."""
    return Predictor.from_trained(read_model(path), device=device, image_size=image_size, batch_size=batch_size)
