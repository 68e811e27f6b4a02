"""The contract every fusion honours, its registry, and the masked pooling helpers fusions share."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from fusion.registry import Registry


@dataclass(frozen=True)
class Fused:
    """What a fusion makes of one batch: the joint vector and, where the fusion has them, the token streams
    after they have seen the other modality (for heads that read more than one vector: an answer decoder,
    masked-token prediction).

    Attributes:
        joint: [B, out_dim], what `Fusion.forward` returns.
        img: [B, Ni, stream_dim] image tokens that have seen the question, or None.
        img_mask: [B, Ni] bool, True = real token (the input's image mask), or None with `img`.
        txt: [B, Nt, stream_dim] question tokens that have seen the image, or None.
        txt_mask: [B, Nt] bool (the input's question mask), or None with `txt`.
    """

    joint: Tensor
    img: Tensor | None = None
    img_mask: Tensor | None = None
    txt: Tensor | None = None
    txt_mask: Tensor | None = None


class Fusion(nn.Module):
    """Combines image tokens and question tokens into one joint vector per example.

    Subclasses are built as `Fusion(img_dim, txt_dim, *, out_dim, ...)` and implement `fuse`.

    Contract:
        * `fuse(img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt]) -> Fused`; `forward` returns
          its `joint` [B, out_dim]. Masks are bool, True = real token, at least one real token per row.
        * `Fused.img` / `Fused.txt` are the token streams after fusion, `stream_dim` wide, present exactly when
          `has_image_stream` / `has_text_stream` say so (class attributes): a stream exists only where that
          modality's tokens have seen the other one. Late fusions pool each modality before they meet and have
          none.
        * Padding invariance: appending masked tokens never changes the joint vector or the streams' real
          positions.
        * Fusions whose `exposes_attention` is True (every interactive one) record their attention weights
          while `recording_attention()` is active, in `last_attention` (name -> tensor); the key
          `"question_to_image"` holds [B, Ni] weights over the image tokens, summing to 1, for visualization.
    """

    name: ClassVar[str] = "fusion"
    family: ClassVar[str] = "?"
    reference: ClassVar[str] = ""
    has_image_stream: ClassVar[bool] = False
    has_text_stream: ClassVar[bool] = False

    def __init__(self, img_dim: int, txt_dim: int, *, out_dim: int) -> None:
        super().__init__()
        self.img_dim = img_dim
        self.txt_dim = txt_dim
        self.out_dim = out_dim
        # Width of the token streams in `fuse`'s result; fusions with a stream set it.
        self.stream_dim: int | None = None
        self.record_attention = False
        self.last_attention: dict[str, Tensor] = {}

    @property
    def interactive(self) -> bool:
        """Whether this fusion belongs to the interactive family (the modalities exchange information
        token by token before being reduced)."""
        return self.family == "interactive"

    @property
    def exposes_attention(self) -> bool:
        """Whether forward passes inside `recording_attention()` fill `last_attention["question_to_image"]`.

        Every interactive fusion does; a late fusion with question-guided attention glimpses (the bilinear
        family) does too, and says so by overriding this.
        """
        return self.interactive

    @contextlib.contextmanager
    def recording_attention(self) -> Iterator[dict[str, Tensor]]:
        """Within this block, forward passes store their attention weights in `last_attention`."""
        self.record_attention = True
        self.last_attention = {}
        try:
            yield self.last_attention
        finally:
            self.record_attention = False

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:  # pragma: no cover
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused (joint [B, out_dim])."""
        raise NotImplementedError

    def forward(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Tensor:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> joint [B, out_dim]."""
        return self.fuse(img, img_mask, txt, txt_mask).joint


FUSIONS: Registry[Fusion] = Registry("fusion", Fusion)
register_fusion = FUSIONS.register


def masked_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean over real tokens: tokens [B, N, D], mask [B, N] -> [B, D]."""
    weights = mask.to(tokens.dtype).unsqueeze(-1)  # (B, N, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def masked_max(tokens: Tensor, mask: Tensor) -> Tensor:
    """Max over real tokens: tokens [B, N, D], mask [B, N] -> [B, D]."""
    return tokens.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)


def average_query_attention(weights: Tensor, query_mask: Tensor) -> Tensor:
    """Collapse attention weights [B, H, Nq, Nk] to [B, Nk]: mean over heads and real queries."""
    per_query = weights.mean(1)  # (B, Nq, Nk)
    return masked_mean(per_query, query_mask)
