"""Relation Network fusion: a question-conditioned MLP over every pair of image tokens, summed over real pairs.

    joint = f( sum_{i,j real} g([o_i ; o_j ; q]) )

Reference: Santoro et al. 2017, "A simple neural network module for relational reasoning". The paper's g is a
4-layer MLP of 256 units on Sort-of-CLEVR (2000 on CLEVR), f an MLP with dropout before the answer layer.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from fusion.base import Fused, Fusion, register_fusion
from fusion.layers import AttentionPool


def mlp(in_dim: int, dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear + ReLU layers of widths `dims` (dropout after each hidden layer but the last)."""
    layers: list[nn.Module] = []
    for index, width in enumerate(dims):
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        if dropout and index < len(dims) - 1:
            layers.append(nn.Dropout(dropout))
        in_dim = width
    return nn.Sequential(*layers)


@register_fusion("relation_network")
class RelationNetworkFusion(Fusion):
    """Relation Network (RN): every ordered pair of image tokens (i, j), self-pairs included, goes through a
    shared MLP g together with the question vector; g's outputs are summed over the real pairs and an MLP f
    reads the sum.

    The first layer of g is linear in the concatenation [o_i ; o_j ; q], so it splits into W_a o_i + W_b o_j
    + W_q q: the per-token terms are computed once ([B, N, H]) and only their pairwise sums ([B, N, N, H]) are
    formed. Pairs are processed `pair_chunk` anchor tokens at a time, so memory grows with
    B * pair_chunk * N * hidden, not B * N^2 * hidden (100 region tokens fit).

    Padding invariance: a pair counts only when both its tokens are real; padded pairs are multiplied by zero
    before the sum. The question is reduced to one vector by self-attentive pooling over its real tokens.

    Reference: Santoro et al. 2017, "A simple neural network module for relational reasoning".

    Args:
        img_dim: width of the image tokens (objects, regions or grid cells; include their position).
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector.
        dim: width of every layer of g and of f's hidden layer (paper: 256 on Sort-of-CLEVR).
        g_layers: layers of g (paper: 4).
        f_layers: hidden layers of f before its output layer (paper: 1 hidden layer then the answer layer).
        dropout: dropout in f (paper: 0.5).
        pair_chunk: anchor tokens processed at once (memory bound; does not change the result).
        question_glimpses: attention maps pooling the question tokens into the question vector (concatenated).
            One map tends to settle on a single word (the object's colour) and lose the relation word
            ("closest" / "furthest"); the paper's question is one LSTM state.
    """

    # The question joins every pair at g's input, as it joins every image token in `early_concat`: early fusion
    # at the granularity of token pairs.
    family = "early"
    has_image_stream = True
    reference = "Santoro et al. 2017, A simple neural network module for relational reasoning (Relation Network)"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 256,
        dim: int = 256,
        g_layers: int = 4,
        f_layers: int = 1,
        dropout: float = 0.5,
        pair_chunk: int = 32,
        question_glimpses: int = 1,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.stream_dim = dim
        if g_layers < 1 or f_layers < 0 or pair_chunk < 1 or question_glimpses < 1:
            raise ValueError(
                "relation_network needs g_layers >= 1, f_layers >= 0, pair_chunk >= 1, question_glimpses >= 1; "
                f"got {g_layers}, {f_layers}, {pair_chunk}, {question_glimpses}"
            )
        self.pair_chunk = pair_chunk
        self.question_pool = AttentionPool(txt_dim, glimpses=question_glimpses)
        # g's first layer, split by input: anchor token, partner token, question (one bias, on the question term).
        self.g_anchor = nn.Linear(img_dim, dim, bias=False)
        self.g_partner = nn.Linear(img_dim, dim, bias=False)
        self.g_question = nn.Linear(question_glimpses * txt_dim, dim)
        self.g_rest = mlp(dim, [dim] * (g_layers - 1))
        self.f = nn.Sequential(
            mlp(dim, [dim] * f_layers, dropout), nn.Dropout(dropout if f_layers else 0.0), nn.Linear(dim, out_dim)
        )

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        image stream [B, Ni, dim]: each token's relations summed over its real partners."""
        q = self.question_pool(txt, txt_mask)[0]  # (B, glimpses * Dt)
        anchor = self.g_anchor(img)  # (B, Ni, H)
        partner = self.g_partner(img) + self.g_question(q)[:, None, :]  # (B, Ni, H): the question rides along
        real = img_mask.to(img.dtype)  # (B, Ni)
        per_anchor = []  # each (B, c, H): relations of anchor i summed over its real partners j
        for start in range(0, img.shape[1], self.pair_chunk):
            stop = start + self.pair_chunk
            first = torch.relu(anchor[:, start:stop, None, :] + partner[:, None, :, :])  # (B, c, Ni, H)
            relations = self.g_rest(first)  # (B, c, Ni, H)
            pair_mask = real[:, start:stop, None] * real[:, None, :]  # (B, c, Ni): both tokens real
            per_anchor.append(torch.einsum("bcnh,bcn->bch", relations, pair_mask))
        tokens = torch.cat(per_anchor, dim=1)  # (B, Ni, H); zero for padded anchors
        return Fused(self.f(tokens.sum(1)), img=tokens, img_mask=img_mask)
