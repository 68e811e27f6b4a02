"""Relation Network fusion: a question-conditioned MLP over every pair of image tokens, summed over real pairs.

    joint = f( sum_{i,j real} g([o_i ; o_j ; q]) )

With `partner_pooling: attention` each anchor i pools its partners j by a softmax instead of a sum (per head,
logits read from g's output and, with `pair_geometry`, from the pair's offset and distance), so "the object
closest to / furthest from i" is an arg-min / arg-max the softmax can make sharp, not a sum to approximate.

Reference: Santoro et al. 2017, "A simple neural network module for relational reasoning". The paper's g is a
4-layer MLP of 256 units on Sort-of-CLEVR (2000 on CLEVR), f an MLP with dropout before the answer layer.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from fusion.base import Fused, Fusion, register_fusion
from fusion.geometry import token_positions
from fusion.layers import AttentionPool

# Pair-geometry features: (dx, dy, distance, same token).
GEOMETRY_FEATURES = 4


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
        pair_geometry: g's first layer also reads each pair's (dx, dy, distance, same token), from the (x, y) in
            [0, 1] that the image tokens carry in their last two columns (object tokens; regions with box
            centres).
        partner_pooling: `sum` (the paper) or `attention`: each anchor pools its partners by a per-head softmax
            whose logits are a linear read of g's output (plus, with pair_geometry, a linear function of the
            pair geometry that starts with slopes spread over [-20, 20] per unit of distance and -20 on the
            token itself, so that near- and far-preferring heads exist from the first step).
        attention_heads: heads of `partner_pooling: attention` (each pools dim / heads channels); must divide dim.
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
        pair_geometry: bool = False,
        partner_pooling: Literal["sum", "attention"] = "sum",
        attention_heads: int = 8,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.stream_dim = dim
        if partner_pooling not in ("sum", "attention"):
            raise ValueError(f"relation_network partner_pooling must be 'sum' or 'attention', got {partner_pooling!r}")
        if partner_pooling == "attention" and (attention_heads < 1 or dim % attention_heads):
            raise ValueError(f"relation_network attention_heads={attention_heads} must divide dim={dim}")
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
        self.g_geometry = nn.Linear(GEOMETRY_FEATURES, dim, bias=False) if pair_geometry else None
        self.attention_heads = attention_heads if partner_pooling == "attention" else 0
        if self.attention_heads:
            self.partner_score = nn.Linear(dim, attention_heads)
            self.geometry_score = nn.Linear(GEOMETRY_FEATURES, attention_heads, bias=False) if pair_geometry else None
            if self.geometry_score is not None:
                with torch.no_grad():  # columns: dx, dy, distance, same token
                    start = torch.zeros(attention_heads, GEOMETRY_FEATURES)
                    start[:, 2] = torch.linspace(-20.0, 20.0, attention_heads)
                    start[:, 3] = -20.0
                    self.geometry_score.weight.copy_(start)
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
        # Geometry is a fixed function of the data's positions: no gradient flows into them (and none through the
        # distance of a token to itself, whose norm has no derivative at 0).
        positions = token_positions(img, img_mask, "relation_network").detach() if self.g_geometry is not None else None
        per_anchor = []  # each (B, c, H): relations of anchor i pooled over its real partners j
        for start in range(0, img.shape[1], self.pair_chunk):
            stop = start + self.pair_chunk
            first = anchor[:, start:stop, None, :] + partner[:, None, :, :]  # (B, c, Ni, H)
            geometry = None if positions is None else pair_geometry(positions, start, stop)  # (B, c, Ni, 4)
            if geometry is not None:
                first = first + self.g_geometry(geometry)
            relations = self.g_rest(torch.relu(first))  # (B, c, Ni, H)
            if self.attention_heads:
                per_anchor.append(self._attend_partners(relations, geometry, img_mask) * real[:, start:stop, None])
            else:
                pair_mask = real[:, start:stop, None] * real[:, None, :]  # (B, c, Ni): both tokens real
                per_anchor.append(torch.einsum("bcnh,bcn->bch", relations, pair_mask))
        tokens = torch.cat(per_anchor, dim=1)  # (B, Ni, H); zero for padded anchors
        return Fused(self.f(tokens.sum(1)), img=tokens, img_mask=img_mask)

    def _attend_partners(self, relations: Tensor, geometry: Tensor | None, img_mask: Tensor) -> Tensor:
        """Per-head softmax over each anchor's real partners: relations [B, c, Ni, H] -> pooled [B, c, H]."""
        logits = self.partner_score(relations)  # (B, c, Ni, heads)
        if self.geometry_score is not None:
            logits = logits + self.geometry_score(geometry)
        logits = logits.masked_fill(~img_mask[:, None, :, None], float("-inf"))  # padded partners
        weights = logits.softmax(dim=2)
        b, c, n, h = relations.shape
        heads = relations.view(b, c, n, self.attention_heads, h // self.attention_heads)
        return torch.einsum("bcnk,bcnkd->bckd", weights, heads).reshape(b, c, h)


def pair_geometry(positions: Tensor, start: int, stop: int) -> Tensor:
    """(dx, dy, distance, same token) of anchors start:stop against every token: positions [B, N, 2] ->
    [B, c, N, 4] (offset = partner - anchor)."""
    anchors = positions[:, start:stop]  # (B, c, 2)
    offset = positions[:, None, :, :] - anchors[:, :, None, :]  # (B, c, N, 2)
    n = positions.shape[1]
    same = torch.eye(n, device=positions.device, dtype=positions.dtype)[start:stop]  # (c, N)
    same = same.expand(positions.shape[0], -1, -1)[..., None]  # (B, c, N, 1)
    return torch.cat([offset, offset.norm(dim=-1, keepdim=True), same], dim=-1)
