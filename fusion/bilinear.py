"""Bilinear pooling fusions (MLB, MFB, MFH, MUTAN, BLOCK), each optionally with question-guided attention glimpses.

All five share one skeleton, the one their papers share:

1. The question tokens are pooled into a vector q by self-attentive pooling (`question_glimpses` heads). The
   papers read q from the last GRU/LSTM state (MLB, MUTAN, BLOCK) or by question self-attention (MFB, MFH);
   the fusion contract hands us question tokens, so self-attentive pooling serves both.
2. With `glimpses > 0`, q is fused with every image token by the family's bilinear operator, a scorer maps
   each fused vector to `glimpses` logits, and a softmax over the real image tokens gives one attention map per
   glimpse; the attended image vectors are concatenated into v. With `glimpses = 0`, v is the mean of the
   image tokens (the papers' "no attention" global-feature variant).
3. q and v are fused once more by the same operator and projected to `out_dim` (the papers project straight to
   the answers; here the answer head follows).

They stay in the late family: each modality is reduced to one vector before the bilinear product. With
glimpses, the image reduction is guided by the question, and the maps are exposed as
`last_attention["question_to_image"]` (mean over glimpses) and `last_attention["glimpses"]` ([B, G, Ni]).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from fusion.base import Fused, Fusion, masked_mean, register_fusion
from fusion.bilinear_pooling import (
    BlockTermBilinear,
    FactorizedBilinear,
    HighOrderFactorizedBilinear,
    LowRankBilinear,
    TuckerBilinear,
)
from fusion.layers import AttentionPool

# Builds a bilinear operator for inputs of widths (x_dim, y_dim); the result has an `out_dim` attribute.
PoolingFactory = Callable[[int, int], nn.Module]


def attention_scorer(in_dim: int, hidden_dim: int, glimpses: int) -> nn.Module:
    """Maps each fused vector to `glimpses` attention logits: linear, or a ReLU MLP when `hidden_dim > 0`."""
    if hidden_dim <= 0:
        return nn.Linear(in_dim, glimpses)
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, glimpses))


class BilinearFusion(Fusion):
    """The shared skeleton of the bilinear fusions (see the module docstring); not registered itself.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        pooling: builds the family's bilinear operator for given input widths.
        out_dim: width of the joint vector.
        glimpses: question-guided attention maps over the image tokens (0 = mean of the image tokens).
        question_glimpses: self-attentive pooling heads over the question tokens.
        attention_hidden: hidden width of the attention scorer (0 = a single linear layer).
        dropout: dropout before the output projection.
    """

    family = "late"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        pooling: PoolingFactory,
        *,
        out_dim: int,
        glimpses: int,
        question_glimpses: int,
        attention_hidden: int,
        dropout: float,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        if glimpses < 0 or question_glimpses < 1:
            raise ValueError(f"need glimpses >= 0 and question_glimpses >= 1, got {glimpses} and {question_glimpses}")
        self.glimpses = glimpses
        q_dim = question_glimpses * txt_dim
        self.question_pool = AttentionPool(txt_dim, glimpses=question_glimpses)
        if glimpses:
            self.attention_pooling = pooling(q_dim, img_dim)
            self.attention_scorer = attention_scorer(self.attention_pooling.out_dim, attention_hidden, glimpses)
        self.pooling = pooling(q_dim, max(glimpses, 1) * img_dim)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.pooling.out_dim, out_dim))

    @property
    def exposes_attention(self) -> bool:
        return self.glimpses > 0

    def attend(self, q: Tensor, img: Tensor, img_mask: Tensor) -> Tensor:
        """Question-guided glimpses: q [B, Dq], img [B, Ni, Di] -> concatenated attended vectors [B, G * Di]."""
        joint = self.attention_pooling(q[:, None, :], img)  # (B, Ni, h): q broadcast over the tokens
        logits = self.attention_scorer(joint).transpose(1, 2)  # (B, G, Ni)
        weights = logits.masked_fill(~img_mask[:, None, :], float("-inf")).softmax(dim=-1)
        if self.record_attention:
            self.last_attention["glimpses"] = weights.detach()
            self.last_attention["question_to_image"] = weights.mean(1).detach()  # (B, Ni)
        return (weights @ img).flatten(1)  # (B, G * Di)

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        no streams."""
        q = self.question_pool(txt, txt_mask)[0]  # (B, question_glimpses * Dt)
        v = self.attend(q, img, img_mask) if self.glimpses else masked_mean(img, img_mask)
        return Fused(self.out(self.pooling(q, v)))


@register_fusion("mlb")
class MLBFusion(BilinearFusion):
    """MLB: low-rank bilinear pooling, tanh(U q) * tanh(V v), with MLB's attention (linear glimpse scorer).

    Reference: Kim et al. 2017, "Hadamard Product for Low-rank Bilinear Pooling" (ICLR). Paper: rank 1200,
    2 glimpses, no power normalization.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        mm_dim: rank of the joint space.
        glimpses: question-guided attention maps over the image tokens (0 = no attention).
        question_glimpses: self-attentive pooling heads over the question tokens.
        attention_hidden: hidden width of the attention scorer (0 = linear, as in the paper).
        dropout: dropout on the operator inputs and before the output projection.
        signed_sqrt: power-normalize the bilinear products.
        l2_normalize: L2-normalize the bilinear products.
    """

    reference = "Kim et al. 2017, Hadamard Product for Low-rank Bilinear Pooling (MLB)"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        mm_dim: int = 1200,
        glimpses: int = 2,
        question_glimpses: int = 1,
        attention_hidden: int = 0,
        dropout: float = 0.5,
        signed_sqrt: bool = False,
        l2_normalize: bool = False,
    ) -> None:
        def pooling(x_dim: int, y_dim: int) -> nn.Module:
            return LowRankBilinear(x_dim, y_dim, mm_dim, dropout, signed_sqrt, l2_normalize)

        super().__init__(
            img_dim,
            txt_dim,
            pooling,
            out_dim=out_dim,
            glimpses=glimpses,
            question_glimpses=question_glimpses,
            attention_hidden=attention_hidden,
            dropout=dropout,
        )


@register_fusion("mfb")
class MFBFusion(BilinearFusion):
    """MFB: factorized bilinear pooling (rank-k per output, sum-pooled), with MFB's co-attention: question
    self-attention and question-guided image attention scored by a small MLP.

    Reference: Yu et al. 2017, "Multi-modal Factorized Bilinear Pooling with Co-Attention Learning for Visual
    Question Answering" (ICCV). Paper: k = 5, o = 1000, 2 question and 2 image glimpses, signed sqrt + L2.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        mm_dim: pooled width o of each MFB operator.
        factor: rank k of each output unit.
        glimpses: question-guided attention maps over the image tokens (0 = no attention).
        question_glimpses: self-attentive pooling heads over the question tokens.
        attention_hidden: hidden width of the attention scorer (0 = linear).
        dropout: dropout on the expanded products and before the output projection.
        signed_sqrt: power-normalize the pooled vectors.
        l2_normalize: L2-normalize the pooled vectors.
    """

    reference = "Yu et al. 2017, Multi-modal Factorized Bilinear Pooling with Co-Attention (MFB)"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        mm_dim: int = 1000,
        factor: int = 5,
        glimpses: int = 2,
        question_glimpses: int = 2,
        attention_hidden: int = 512,
        dropout: float = 0.1,
        signed_sqrt: bool = True,
        l2_normalize: bool = True,
    ) -> None:
        def pooling(x_dim: int, y_dim: int) -> nn.Module:
            return FactorizedBilinear(x_dim, y_dim, mm_dim, factor, dropout, signed_sqrt, l2_normalize)

        super().__init__(
            img_dim,
            txt_dim,
            pooling,
            out_dim=out_dim,
            glimpses=glimpses,
            question_glimpses=question_glimpses,
            attention_hidden=attention_hidden,
            dropout=dropout,
        )


@register_fusion("mfh")
class MFHFusion(BilinearFusion):
    """MFH: `order` cascaded MFB blocks (high-order pooling), with the MFB co-attention.

    Reference: Yu et al. 2018, "Beyond Bilinear: Generalized Multimodal Factorized High-order Pooling for
    Visual Question Answering" (IEEE TNNLS). Paper: p = 2, k = 5, o = 1000, signed sqrt + L2 per block.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        mm_dim: pooled width o of each block (the operator gives `order * mm_dim`).
        factor: rank k of each output unit.
        order: number p of cascaded blocks.
        glimpses: question-guided attention maps over the image tokens (0 = no attention).
        question_glimpses: self-attentive pooling heads over the question tokens.
        attention_hidden: hidden width of the attention scorer (0 = linear).
        dropout: dropout on the expanded products and before the output projection.
        signed_sqrt: power-normalize each pooled block.
        l2_normalize: L2-normalize each pooled block.
    """

    reference = "Yu et al. 2018, Beyond Bilinear: Generalized Multimodal Factorized High-order Pooling (MFH)"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        mm_dim: int = 1000,
        factor: int = 5,
        order: int = 2,
        glimpses: int = 2,
        question_glimpses: int = 2,
        attention_hidden: int = 512,
        dropout: float = 0.1,
        signed_sqrt: bool = True,
        l2_normalize: bool = True,
    ) -> None:
        def pooling(x_dim: int, y_dim: int) -> nn.Module:
            return HighOrderFactorizedBilinear(x_dim, y_dim, mm_dim, factor, order, dropout, signed_sqrt, l2_normalize)

        super().__init__(
            img_dim,
            txt_dim,
            pooling,
            out_dim=out_dim,
            glimpses=glimpses,
            question_glimpses=question_glimpses,
            attention_hidden=attention_hidden,
            dropout=dropout,
        )


@register_fusion("mutan")
class MutanFusion(BilinearFusion):
    """MUTAN: Tucker fusion with a rank-R core, in MUTAN's attention model (linear glimpse scorer).

    Reference: Ben-younes et al. 2017, "MUTAN: Multimodal Tucker Fusion for Visual Question Answering" (ICCV).
    Paper: t_q = t_v = 310, t_o = 510, R = 5, 2 glimpses.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        mm_dim: width t_o of the merged vector.
        proj_dim: width t_q = t_v of the projected inputs.
        rank: rank R of the core tensor.
        glimpses: question-guided attention maps over the image tokens (0 = no attention).
        question_glimpses: self-attentive pooling heads over the question tokens.
        attention_hidden: hidden width of the attention scorer (0 = linear, as in the paper).
        dropout: dropout on the operator inputs and before the output projection.
        signed_sqrt: power-normalize the merged vectors.
        l2_normalize: L2-normalize the merged vectors.
    """

    reference = "Ben-younes et al. 2017, MUTAN: Multimodal Tucker Fusion for VQA"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        mm_dim: int = 510,
        proj_dim: int = 310,
        rank: int = 5,
        glimpses: int = 2,
        question_glimpses: int = 1,
        attention_hidden: int = 0,
        dropout: float = 0.5,
        signed_sqrt: bool = False,
        l2_normalize: bool = False,
    ) -> None:
        def pooling(x_dim: int, y_dim: int) -> nn.Module:
            return TuckerBilinear(x_dim, y_dim, mm_dim, proj_dim, rank, dropout, signed_sqrt, l2_normalize)

        super().__init__(
            img_dim,
            txt_dim,
            pooling,
            out_dim=out_dim,
            glimpses=glimpses,
            question_glimpses=question_glimpses,
            attention_hidden=attention_hidden,
            dropout=dropout,
        )


@register_fusion("block")
class BlockFusion(BilinearFusion):
    """BLOCK: block-superdiagonal (block-term) bilinear fusion, in the attention model of its VQA experiments
    (BLOCK operators both for the glimpse scores, through a small MLP, and for the final fusion).

    Reference: Ben-younes et al. 2019, "BLOCK: Bilinear Superdiagonal Fusion for Visual Question Answering and
    Visual Relationship Detection" (AAAI). Paper: mm_dim 1600 in 20 chunks, rank 15, signed sqrt + L2 per chunk.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        mm_dim: width of the projected inputs and of the merged vector; divisible by `chunks`.
        chunks: number of blocks.
        rank: rank of each block's core.
        glimpses: question-guided attention maps over the image tokens (0 = no attention).
        question_glimpses: self-attentive pooling heads over the question tokens.
        attention_hidden: hidden width of the attention scorer (0 = linear).
        dropout: dropout on the operator inputs and outputs and before the output projection.
        signed_sqrt: power-normalize each chunk.
        l2_normalize: L2-normalize each chunk.
    """

    reference = "Ben-younes et al. 2019, BLOCK: Bilinear Superdiagonal Fusion"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        mm_dim: int = 1600,
        chunks: int = 20,
        rank: int = 15,
        glimpses: int = 2,
        question_glimpses: int = 1,
        attention_hidden: int = 512,
        dropout: float = 0.1,
        signed_sqrt: bool = True,
        l2_normalize: bool = True,
    ) -> None:
        def pooling(x_dim: int, y_dim: int) -> nn.Module:
            return BlockTermBilinear(x_dim, y_dim, mm_dim, chunks, rank, dropout, signed_sqrt, l2_normalize)

        super().__init__(
            img_dim,
            txt_dim,
            pooling,
            out_dim=out_dim,
            glimpses=glimpses,
            question_glimpses=question_glimpses,
            attention_hidden=attention_hidden,
            dropout=dropout,
        )
