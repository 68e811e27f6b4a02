"""Late fusion: each modality is pooled on its own; the two vectors meet only at the end.

`late` takes the combination as an argument; `late_product`, `late_sum` and `late_concat` fix it (one name per
strategy, for tables and benchmarks). `late_score` fuses decisions, not features: two per-modality classifiers
whose score vectors are added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from fusion.base import Fused, Fusion, register_fusion
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

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        no streams."""
        img_vec = self.img_proj(self.img_pool(img, img_mask)[0])  # (B, out_dim)
        txt_vec = self.txt_proj(self.txt_pool(txt, txt_mask)[0])  # (B, out_dim)
        return Fused(self.out(self.combine(img_vec, txt_vec)))


@register_fusion("late_product")
class LateProductFusion(LateFusion):
    """`late` with the elementwise (Hadamard) product: the classic VQA baseline.

    Reference: Antol et al. 2015 (VQA: Visual Question Answering), "deeper LSTM Q + norm I".

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        glimpses: pooled vectors per modality (self-attentive pooling heads).
        dropout: dropout on the pooled vectors.
    """

    reference = "Antol et al. 2015, VQA: Visual Question Answering (elementwise product)"

    def __init__(
        self, img_dim: int, txt_dim: int, *, out_dim: int = 512, glimpses: int = 1, dropout: float = 0.1
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim, combine="product", glimpses=glimpses, dropout=dropout)


@register_fusion("late_sum")
class LateSumFusion(LateFusion):
    """`late` with the elementwise sum: the weakest of the classic combinations (the image vector cannot gate
    the question vector; only the layers after the sum can mix them).

    Reference: Fukui et al. 2016 (MCB), whose baselines compare elementwise sum, product and concatenation.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        glimpses: pooled vectors per modality (self-attentive pooling heads).
        dropout: dropout on the pooled vectors.
    """

    reference = "Fukui et al. 2016, Multimodal Compact Bilinear Pooling (sum baseline)"

    def __init__(
        self, img_dim: int, txt_dim: int, *, out_dim: int = 512, glimpses: int = 1, dropout: float = 0.1
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim, combine="sum", glimpses=glimpses, dropout=dropout)


@register_fusion("late_concat")
class LateConcatFusion(LateFusion):
    """`late` with concatenation followed by a linear layer.

    Reference: Zhou et al. 2015, "Simple Baseline for Visual Question Answering" (iBOWIMG: concatenated
    question and image features).

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        glimpses: pooled vectors per modality (self-attentive pooling heads).
        dropout: dropout on the pooled vectors.
    """

    reference = "Zhou et al. 2015, Simple Baseline for Visual Question Answering (concatenation)"

    def __init__(
        self, img_dim: int, txt_dim: int, *, out_dim: int = 512, glimpses: int = 1, dropout: float = 0.1
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim, combine="concat", glimpses=glimpses, dropout=dropout)


@register_fusion("late_score")
class LateScoreFusion(Fusion):
    """Decision-level fusion: each modality has its own classifier, and only their score vectors are added.

    The image tokens are pooled and sent through an image-only MLP to a score vector s_img [B, out_dim]; the
    question tokens likewise to s_txt. The output is s_img + s_txt, so it is additively separable:
    `out(i1, q1) + out(i2, q2) == out(i1, q2) + out(i2, q1)`.

    Under the fusion contract the model's answer head still follows. For honest decision-level fusion that
    head must be linear (`model.head_hidden: 0`, as `configs/fusion/late_score.yaml` sets): the logits are then
    W s_img + W s_txt + b, one image-only and one question-only classifier whose logits add (a product of
    experts after the sigmoid/softmax). With an MLP head the summed scores could be decoded into interactions,
    and this would be late fusion in name only.

    Reference: decision-level ("late") fusion of per-modality classifiers, e.g. Snoek et al. 2005, "Early
    versus Late Fusion in Semantic Video Analysis"; the "question only" and "image only" VQA baselines of
    Antol et al. 2015 are its two halves.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the score vectors (the answer space the two classifiers share).
        hidden_dim: hidden width of each modality's classifier.
        dropout: dropout on the pooled vectors.
    """

    family = "late"
    reference = "Snoek et al. 2005, Early versus Late Fusion (decision-level: per-modality scores added)"

    def __init__(
        self, img_dim: int, txt_dim: int, *, out_dim: int = 512, hidden_dim: int = 512, dropout: float = 0.1
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.img_pool = AttentionPool(img_dim)
        self.txt_pool = AttentionPool(txt_dim)
        self.img_classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(img_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim)
        )
        self.txt_classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(txt_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, out_dim)
        )

    def modality_scores(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> tuple[Tensor, Tensor]:
        """The two decisions before they are combined: image-only [B, out_dim] and question-only [B, out_dim]."""
        img_scores = self.img_classifier(self.img_pool(img, img_mask)[0])
        txt_scores = self.txt_classifier(self.txt_pool(txt, txt_mask)[0])
        return img_scores, txt_scores

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        no streams."""
        img_scores, txt_scores = self.modality_scores(img, img_mask, txt, txt_mask)
        return Fused(img_scores + txt_scores)
