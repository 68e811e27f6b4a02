"""VQAModel: image encoder + text encoder + fusion + answer head, composed from parts given to it."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from fusion import FUSIONS
from fusion.base import Fused, Fusion
from vqa.models.answer_decoder import AnswerDecoder
from vqa.models.decoding import Decoded, beam_search, greedy, rank, sequence_log_prob
from vqa.models.encoders import IMAGE_ENCODERS, TEXT_ENCODERS
from vqa.models.encoders.base import ImageEncoder, TextEncoder
from vqa.registry import part_config


class AnswerHead(nn.Sequential):
    """MLP from the joint vector [B, in_dim] to answer logits [B, num_answers].

    `hidden_dim=0` makes it one linear layer (after dropout): decision-level fusions such as `late_score` need
    a linear head so that the logits stay a sum of per-modality scores.
    """

    def __init__(self, in_dim: int, num_answers: int, hidden_dim: int = 1024, dropout: float = 0.2) -> None:
        if hidden_dim <= 0:
            super().__init__(nn.Dropout(dropout), nn.Linear(in_dim, num_answers))
            return
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.LayerNorm(hidden_dim),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, num_answers),
        )


def images_to_unit_float(images: Tensor) -> Tensor:
    """uint8 [B,3,H,W] -> float in [0, 1]; float input is taken as already scaled. Runs on the device."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    return images.float()


class VQAModel(nn.Module):
    """The whole network, as a plain module.

    Two kinds of answer head read the fusion. The classifier (default) scores the answer vocabulary from the
    joint vector. The generator (`decoder` given) writes answers word by word with an `AnswerDecoder` that
    cross-attends to the fused joint vector and streams; it can still score the answer vocabulary (each
    answer's log-likelihood, `answer`), so everything built on answer scores works with it, and it can write
    answers outside that vocabulary (`generate`).

    Args:
        image_encoder: gives image tokens [B, Ni, Di].
        text_encoder: gives question tokens [B, Nt, Dt].
        fusion: built for (image_encoder.out_dim, text_encoder.out_dim).
        num_answers: size of the answer vocabulary.
        head_hidden: hidden width of the classifier head (0 = a single linear layer).
        head_dropout: dropout in the classifier head.
        decoder: an answer decoder built for the fusion (`joint_dim = fusion.out_dim`, `stream_dim =
            fusion.stream_dim`); None = the classifier head.
        answer_table: with a decoder, the answer vocabulary as decoder targets, [num_answers, max_length + 1]
            (`AnswerTokens.table`); kept with the weights.
    """

    def __init__(
        self,
        image_encoder: ImageEncoder,
        text_encoder: TextEncoder,
        fusion: Fusion,
        num_answers: int,
        head_hidden: int = 1024,
        head_dropout: float = 0.2,
        decoder: AnswerDecoder | None = None,
        answer_table: Tensor | None = None,
    ) -> None:
        super().__init__()
        if (fusion.img_dim, fusion.txt_dim) != (image_encoder.out_dim, text_encoder.out_dim):
            raise ValueError(
                f"fusion {fusion.name!r} was built for widths ({fusion.img_dim}, {fusion.txt_dim}) but the encoders "
                f"give ({image_encoder.out_dim}, {text_encoder.out_dim})"
            )
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.fusion = fusion
        self.decoder = decoder
        if decoder is None:
            self.head = AnswerHead(fusion.out_dim, num_answers, head_hidden, head_dropout)
        else:
            if answer_table is None:
                answer_table = torch.zeros(num_answers, decoder.max_length + 1, dtype=torch.long)  # weights load it
            if answer_table.shape != (num_answers, decoder.max_length + 1):
                raise ValueError(
                    f"answer_table has shape {tuple(answer_table.shape)} but the model needs "
                    f"({num_answers}, {decoder.max_length + 1}): one row of answer tokens per answer"
                )
            self.head = None
            self.register_buffer("answer_table", answer_table.long())
        self.num_answers = num_answers
        self.head_hidden = head_hidden
        self.head_dropout = head_dropout

    def encode_images(self, images: Tensor, image_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """images [Bi,3,H,W] (uint8 or float in [0, 1]) -> tokens [Bi,Ni,Di], mask [Bi,Ni].

        For an encoder that `takes_features`, `images` are pre-extracted features [Bi,Ni,D] and go in as they are,
        with their mask [Bi,Ni] when the data has one (padded objects or regions).
        """
        if self.image_encoder.takes_features:
            return self.image_encoder(images, image_mask)
        # channels_last: the memory layout cuDNN / oneDNN convolutions run fastest in (bf16 tensor cores).
        images = images_to_unit_float(images).contiguous(memory_format=torch.channels_last)
        return self.image_encoder(images)

    def forward(
        self,
        images: Tensor,
        token_ids: Tensor,
        token_mask: Tensor,
        image_index: Tensor | None = None,
        image_mask: Tensor | None = None,
    ) -> Tensor:
        """Answer logits.

        Args:
            images: [Bi, 3, H, W] uint8 or float in [0, 1] (or features [Bi, Ni, D], see `encode_images`).
            token_ids: [B, Nt] question token ids.
            token_mask: [B, Nt] bool, True = real token.
            image_index: [B] which image each question is about (default: question i <-> image i).
            image_mask: [Bi, Ni] bool for features with padding (see `encode_images`).

        Returns:
            logits [B, num_answers].
        """
        img, img_mask = self.encode_images(images, image_mask)  # (Bi, Ni, Di)
        return self.answer(img, img_mask, token_ids, token_mask, image_index)

    def answer(
        self, img: Tensor, img_mask: Tensor, token_ids: Tensor, token_mask: Tensor, image_index: Tensor | None = None
    ) -> Tensor:
        """Answer logits [B, num_answers] from already encoded images, so each image is encoded only once.

        Args:
            img: image tokens [Bi, Ni, Di] (from the image encoder, or float16 from the feature cache).
            img_mask: [Bi, Ni] bool.
            token_ids: [B, Nt] question token ids.
            token_mask: [B, Nt] bool.
            image_index: [B] which image each question is about (default: question i <-> image i).
        """
        fused = self.fuse(img, img_mask, token_ids, token_mask, image_index)
        if self.decoder is None:
            return self.head(fused.joint)
        return self.answer_log_likelihoods(fused)

    @property
    def head_kind(self) -> str:
        """`classifier` or `generator`."""
        return "classifier" if self.decoder is None else "generator"

    def fuse(
        self, img: Tensor, img_mask: Tensor, token_ids: Tensor, token_mask: Tensor, image_index: Tensor | None = None
    ) -> Fused:
        """The fusion's output (joint vector and streams) from encoded images and question token ids; the
        arguments are those of `answer`."""
        if image_index is not None:
            img, img_mask = img[image_index], img_mask[image_index]  # (B, Ni, Di)
        if img.dtype == torch.float16:  # cached tokens are stored in half precision
            img = img.float()
        txt, txt_mask = self.text_encoder(token_ids, token_mask)  # (B, Nt, Dt)
        return self.fusion.fuse(img, img_mask, txt, txt_mask)

    def _decoder(self) -> AnswerDecoder:
        if self.decoder is None:
            raise ValueError("this model has a classifier head: it scores answers but does not write them")
        return self.decoder

    def answer_log_likelihoods(self, fused: Fused, chunk: int = 4096) -> Tensor:
        """Generator head: the log-likelihood of every answer of the vocabulary, [B, num_answers].

        Args:
            fused: the fusion's output for B questions.
            chunk: (question, answer) pairs decoded at once (memory bound only).
        """
        decoder = self._decoder()
        memory, memory_mask = decoder.memory(fused)
        b, a = memory.shape[0], self.num_answers
        scores = []
        pairs = torch.arange(b * a, device=memory.device)
        for start in range(0, b * a, chunk):
            rows = pairs[start : start + chunk]
            question, answer = rows // a, rows % a
            scores.append(
                sequence_log_prob(decoder, memory[question], memory_mask[question], self.answer_table[answer])
            )
        return torch.cat(scores).view(b, a)

    def generate(
        self,
        fused: Fused,
        mode: Literal["greedy", "beam", "rank"] = "greedy",
        num_beams: int = 3,
        length_penalty: float = 0.0,
        candidates: Tensor | None = None,
        top_k: int = 128,
    ) -> Decoded:
        """Generator head: write each question's answer.

        Args:
            fused: the fusion's output for B questions.
            mode: `greedy`, `beam` (beam search with `num_beams`, `length_penalty`) or `rank` (choose from
                `candidates`, default the answer vocabulary, rescoring the `top_k` likeliest first words).
            candidates: [C, max_length + 1] answers as `AnswerTokens.table` rows (rank mode).

        Returns:
            `Decoded`: answer token ids [B, L] and their log-probabilities [B].
        """
        decoder = self._decoder()
        memory, memory_mask = decoder.memory(fused)
        if mode == "greedy":
            return greedy(decoder, memory, memory_mask, decoder.max_length)
        if mode == "beam":
            return beam_search(decoder, memory, memory_mask, decoder.max_length, num_beams, length_penalty)
        if mode == "rank":
            table = self.answer_table if candidates is None else candidates.to(memory.device)
            return rank(decoder, memory, memory_mask, table, top_k)
        raise ValueError(f"decoding mode must be 'greedy', 'beam' or 'rank', got {mode!r}")

    def config(self) -> dict[str, Any]:
        """JSON recipe that `VQAModel.from_config` rebuilds this architecture from."""
        return {
            "image_encoder": part_config(self.image_encoder),
            "text_encoder": part_config(self.text_encoder),
            "fusion": part_config(self.fusion),
            "num_answers": self.num_answers,
            "head_hidden": self.head_hidden,
            "head_dropout": self.head_dropout,
            "decoder": None if self.decoder is None else self.decoder.config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VQAModel:
        """Rebuild from `config()` output; only registered parts can be named, nothing is imported by path."""
        try:
            image = IMAGE_ENCODERS.create(config["image_encoder"]["name"], **config["image_encoder"]["init_args"])
            text = TEXT_ENCODERS.create(config["text_encoder"]["name"], **config["text_encoder"]["init_args"])
            fusion = FUSIONS.create(config["fusion"]["name"], **config["fusion"]["init_args"])
            decoder_config = config.get("decoder")  # absent in bundles from before the generator head
            decoder = None if decoder_config is None else AnswerDecoder(**decoder_config)
            return cls(
                image, text, fusion, config["num_answers"], config["head_hidden"], config["head_dropout"], decoder
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed model config: missing or invalid field {error}") from error
