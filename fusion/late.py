"""Late fusion: each modality is pooled on its own; the two vectors meet only at the end."""

from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor, nn

from fusion import register_fusion
from fusion.base import Fusion
from fusion.layers import AttentionPool

Combine = Literal["product", "sum", "concat"]

# How two [B, out_dim] vectors are merged, and how wide the result is (in multiples of out_dim).
_COMBINERS: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], int]] = {
    "product": (torch.mul, 1),
    "sum": (torch.add, 1),
    "concat": (lambda a, b: torch.cat([a, b], dim=-1), 2),
}


@register_fusion("late")
class LateFusion(Fusion):
    """Pool each modality separately (self-attentive pooling), project, then combine once.

    Neither pooling sees the other modality, so the image summary cannot depend on the question: this is the
    classic "LSTM Q + I" baseline of the VQA paper when `combine="product"`.

    Reference: Antol et al. 2015 (VQA: Visual Question Answering), "deeper LSTM Q + norm I".

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        combine: elementwise `product` (Hadamard), `sum`, or `concat` followed by a linear layer.
        glimpses: pooled vectors per modality (self-attentive pooling heads).
        dropout: dropout on the pooled vectors.
    """

    family = "late"
    reference = "Antol et al. 2015 (VQA baseline, LSTM Q + I)"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        combine: Combine = "product",
        glimpses: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        if combine not in _COMBINERS:
            raise ValueError(f"combine must be one of {sorted(_COMBINERS)}, got {combine!r}")
        self.combine, width = _COMBINERS[combine]
        self.img_pool = AttentionPool(img_dim, glimpses=glimpses)
        self.txt_pool = AttentionPool(txt_dim, glimpses=glimpses)
        self.img_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(glimpses * img_dim, out_dim), nn.GELU())
        self.txt_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(glimpses * txt_dim, out_dim), nn.GELU())
        self.out = nn.Sequential(nn.Linear(width * out_dim, out_dim), nn.LayerNorm(out_dim))

    def forward(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Tensor:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> [B, out_dim]."""
        img_vec = self.img_proj(self.img_pool(img, img_mask)[0])  # (B, out_dim)
        txt_vec = self.txt_proj(self.txt_pool(txt, txt_mask)[0])  # (B, out_dim)
        return self.out(self.combine(img_vec, txt_vec))
