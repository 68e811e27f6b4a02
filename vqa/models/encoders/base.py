"""The contracts of the image encoder, the text encoder and the tokenizer, and their registries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from vqa.registry import Registry


class Encoder(nn.Module):
    """What image and text encoders share: freezing-aware `train()`, `is_frozen`, and layer depths.

    A part whose parameters are all frozen (`requires_grad=False`) is kept in eval mode even when the model
    is put in training mode (Lightning calls `model.train()` every epoch): frozen BatchNorm statistics must not
    drift and frozen layers must not apply dropout, or "frozen" features would change from step to step.
    """

    def train(self, mode: bool = True) -> Encoder:
        super().train(mode)
        if mode:
            for module in self.modules():
                parameters = list(module.parameters())
                if parameters and not any(p.requires_grad for p in parameters):
                    module.eval()
        return self

    @property
    def is_frozen(self) -> bool:
        """True when nothing in the encoder learns: its output depends on its input alone (cacheable)."""
        return not any(p.requires_grad for p in self.parameters())

    def parameter_depths(self) -> tuple[dict[str, int], int]:
        """Depth of each parameter for layer-wise learning-rate decay.

        Returns:
            (depths, max_depth): `depths` maps names from `named_parameters()` to 0 (input side, e.g.
            embeddings) .. `max_depth` (output side); a parameter not listed counts as `max_depth`.
            Encoders without a layer structure return `({}, 0)`: one learning rate for all.
        """
        return {}, 0


class ImageEncoder(Encoder):
    """Turns a batch of images into a sequence of visual tokens.

    Contract: `forward(images [B,3,H,W] float in [0, 1]) -> (tokens [B,Ni,out_dim], mask [B,Ni] bool)`.
    The encoder normalizes its input itself (its own `mean`/`std`), so callers only scale uint8 by 1/255.
    Grid encoders return one token per feature-map cell.

    Attributes:
        out_dim: width of the tokens.
        image_size: the (height, width) images should be resized to before batching, or None for "any".
            Pretrained encoders set it to their backbone's training size and also resize other sizes
            themselves, on the device.
        takes_features: True for encoders whose input is pre-extracted features [B, Ni, D] (region or grid
            features, a feature cache) instead of pixels; the model then passes the input through untouched
            (no uint8 scaling, no channels_last).
    """

    name: ClassVar[str] = "image_encoder"
    takes_features: ClassVar[bool] = False
    out_dim: int
    image_size: tuple[int, int] | None = None

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def normalize(self, images: Tensor) -> Tensor:
        """images [B,3,H,W] in [0, 1] -> standardized with this encoder's statistics."""
        return (images - self.mean.to(images.dtype)) / self.std.to(images.dtype)

    def grid_shape(self, image_size: tuple[int, int]) -> tuple[int, int] | None:
        """Where the tokens of an image of `image_size` = (height, width) lie, for drawing attention maps.

        Returns:
            (rows, cols) when the encoder gives exactly rows * cols tokens, token i being cell
            (i // cols, i % cols) of a grid laid evenly over the image; None when its tokens are not a grid.
        """
        return None

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError


class TextEncoder(Encoder):
    """Turns token ids into contextual token features.

    Contract: built as `TextEncoder(vocab_size, ...)`;
    `forward(token_ids [B,Nt] long, mask [B,Nt] bool) -> (tokens [B,Nt,out_dim], mask [B,Nt])`.
    Masks are right-padded: the real tokens of a row come first.

    Attributes:
        out_dim: width of the token features.
    """

    name: ClassVar[str] = "text_encoder"
    out_dim: int

    def forward(self, token_ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError


class Tokenizer:
    """Maps question strings to padded id tensors; fitted on training questions, saved with the model.

    Contract:
        * `fit(questions)` learns what it needs from the training questions (a no-op for pretrained ones).
        * `encode(questions) -> (ids [N, L] long, mask [N, L] bool)`, right-padded, L <= `max_length`.
        * `vocab_size`, `pad_id`; `state_dict()` is JSON-ready and `load_state_dict()` restores it.
    """

    name: ClassVar[str] = "tokenizer"
    max_length: int

    @property
    def vocab_size(self) -> int:  # pragma: no cover
        raise NotImplementedError

    @property
    def pad_id(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def fit(self, questions: Sequence[str]) -> None:  # pragma: no cover
        raise NotImplementedError

    def encode(self, questions: Sequence[str]) -> tuple[Tensor, Tensor]:  # pragma: no cover
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError


IMAGE_ENCODERS: Registry[ImageEncoder] = Registry("image encoder", ImageEncoder)
TEXT_ENCODERS: Registry[TextEncoder] = Registry("text encoder", TextEncoder)
TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer", Tokenizer)
