"""Any `transformers` text model (BERT, RoBERTa, MiniLM, CLIP text, ...) and its own tokenizer.

The two are chosen together: `data.tokenizer` = `HFTokenizer(model=X)` and `model.text_encoder` =
`HFTextEncoder(model=X)`, as in configs/text/minilm.yaml. The encoder checks that the vocabulary it is built
for is its model's own, so a word tokenizer paired with a pretrained model fails at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torch import Tensor

from vqa.errors import VQAError
from vqa.models.encoders.base import TEXT_ENCODERS, TOKENIZERS, TextEncoder, Tokenizer
from vqa.models.encoders.finetune import TrainableLayers, backbone_depths, find_layer_list, set_trainable
from vqa.models.encoders.hf_backbone import hidden_width, load_hf_model
from vqa.models.encoders.paths import PretrainedNotFoundError, resolve_pretrained
from vqa.models.encoders.tokenizer import EmptyQuestionError


class TokenizerMismatchError(VQAError, ValueError):
    """The question tokenizer does not belong to the pretrained text model."""


def load_hf_tokenizer(location: str) -> Any:
    """`transformers.AutoTokenizer` from a hub name, folder or `package:` path, padding on the right."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_pretrained(location))
    except (OSError, ValueError) as error:
        raise PretrainedNotFoundError(f"cannot load the tokenizer of {location!r}: {error}") from error
    if tokenizer.pad_token_id is None:
        raise TokenizerMismatchError(
            f"the tokenizer of {location!r} has no padding token; pick a model whose tokenizer pads (BERT, "
            "RoBERTa, MiniLM, CLIP, ...)"
        )
    tokenizer.padding_side = "right"  # the TextEncoder contract: real tokens first
    return tokenizer


@TOKENIZERS.register("hf")
class HFTokenizer(Tokenizer):
    """The pretrained model's own tokenizer (with its special tokens, e.g. [CLS] ... [SEP]).

    Nothing is learned from the training questions. A saved model remembers `model` (the name or path given
    here), so a bundle trained with it needs that model folder (or package) wherever it is loaded.

    Args:
        model: hub name, local folder or `package:<module>/<folder>` of the pretrained text model.
        max_length: longest encoded question, special tokens included; longer ones are truncated with a warning.
    """

    def __init__(self, model: str, max_length: int = 32) -> None:
        self.model = model
        self.max_length = max_length
        self._tokenizer = load_hf_tokenizer(model)

    @property
    def vocab_size(self) -> int:
        return len(self._tokenizer)

    @property
    def pad_id(self) -> int:
        return int(self._tokenizer.pad_token_id)

    def fit(self, questions: Sequence[str]) -> None:
        """Nothing to learn: the vocabulary is the pretrained model's."""

    def encode(self, questions: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Encode questions to ids [N, L] and mask [N, L], right-padded, L = longest (at most `max_length`).

        Raises:
            EmptyQuestionError: a question has no words (the message gives its position).
        """
        questions = list(questions)
        for position, question in enumerate(questions):
            if not question.strip():
                raise EmptyQuestionError(f"question #{position} is empty ({question!r}); every question needs words")
        lengths = [len(ids) for ids in self._tokenizer(questions)["input_ids"]]
        truncated = sum(length > self.max_length for length in lengths)
        if truncated:
            warnings.warn(
                f"{truncated} of {len(questions)} questions are longer than max_length={self.max_length} "
                "tokens and were truncated; raise data.tokenizer.init_args.max_length to keep them whole",
                stacklevel=2,
            )
        batch = self._tokenizer(
            questions, padding="longest", truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return batch["input_ids"].long(), batch["attention_mask"].bool()

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model, "vocab_size": self.vocab_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("vocab_size") != self.vocab_size:
            raise TokenizerMismatchError(
                f"the tokenizer at {self.model!r} has {self.vocab_size} tokens but the model was saved with one of "
                f"{state.get('vocab_size')} tokens ({state.get('model')!r}); point it at the same model folder"
            )


@TEXT_ENCODERS.register("hf_text")
class HFTextEncoder(TextEncoder):
    """A pretrained `transformers` text model; its last hidden states are the question tokens.

    Args:
        vocab_size: size of the question tokenizer's vocabulary (passed by the model builder); must be the
            pretrained model's own tokenizer's.
        model: hub name, local folder or `package:<module>/<folder>` (the same as `data.tokenizer`'s).
        trainable_layers: 0 = frozen, N = the last N layers (and the norms after them) learn, "all" = all.
    """

    def __init__(self, vocab_size: int, model: str, trainable_layers: TrainableLayers = 0) -> None:
        super().__init__()
        expected = len(load_hf_tokenizer(model))
        if vocab_size != expected:
            raise TokenizerMismatchError(
                f"the text encoder {model!r} needs its own tokenizer ({expected} tokens) but the question "
                f"tokenizer has {vocab_size}; set data.tokenizer to vqa.models.encoders.HFTokenizer with model: {model} "
                "(choose both with one file, e.g. -c configs/text/minilm.yaml)"
            )
        self.backbone = load_hf_model(model, tower="text_model")
        if vocab_size > self.backbone.get_input_embeddings().num_embeddings:
            raise TokenizerMismatchError(f"{model!r}: its tokenizer has more tokens than its embedding table")
        self.max_positions = getattr(self.backbone.config, "max_position_embeddings", None)
        self.out_dim = hidden_width(self.backbone)
        layers = find_layer_list(self.backbone) if trainable_layers not in (0, "all") else []
        set_trainable(self.backbone, layers, trainable_layers)
        self.train()  # a new module is in training mode; this also puts its frozen parts in eval mode

    def parameter_depths(self) -> tuple[dict[str, int], int]:
        return backbone_depths(self.backbone, "backbone")

    def forward(self, token_ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """token_ids [B, Nt], mask [B, Nt] -> tokens [B, Nt, out_dim], mask."""
        if self.max_positions is not None and token_ids.shape[1] > self.max_positions:
            raise TokenizerMismatchError(
                f"questions of {token_ids.shape[1]} tokens exceed the text model's {self.max_positions} positions; "
                "lower data.tokenizer.init_args.max_length"
            )
        hidden = self.backbone(input_ids=token_ids, attention_mask=mask.long()).last_hidden_state  # (B, Nt, D)
        return hidden, mask
