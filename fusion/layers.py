"""Attention building blocks shared by the fusions and the Transformer text encoder.

All masks are `bool` with True = a real token. Attention runs through `scaled_dot_product_attention`
(flash / memory-efficient kernels where available); when a caller asks for the weights, they are computed
explicitly for that call only, so the fast path pays nothing for visualization.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    """Multi-head attention from queries `x` to keys/values `context`.

    Args:
        dim: width of the queries and of the output.
        num_heads: number of heads; must divide `dim`.
        context_dim: width of the keys/values (defaults to `dim`).
        dropout: dropout on the attention weights during training.
    """

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention width {dim} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        context: Tensor,
        context_mask: Tensor,
        need_weights: bool = False,
        bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend.

        Args:
            x: queries [B, Nq, dim].
            context: keys/values [B, Nk, context_dim].
            context_mask: [B, Nk] bool, True = real token; each row needs at least one True.
            need_weights: also return the attention weights.
            bias: added to the attention logits before the softmax, [B, heads, Nq, Nk] or broadcastable to it
                (e.g. a `DistanceBias`); None: plain dot-product attention.

        Returns:
            output [B, Nq, dim] and the weights [B, heads, Nq, Nk] (or None).
        """
        b, nq, _ = x.shape
        nk = context.shape[1]
        q = self.q(x).view(b, nq, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, Nq, hd)
        k, v = self.kv(context).view(b, nk, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        attn_mask = context_mask[:, None, None, :]  # (B, 1, 1, Nk) broadcast over heads and queries
        if bias is not None:  # a float mask is added to the logits: padding becomes -inf in it
            attn_mask = bias.to(q.dtype).masked_fill(~attn_mask, float("-inf"))
        dropout = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            if bias is None:
                weights = scores.masked_fill(~attn_mask, float("-inf")).softmax(dim=-1)
            else:
                weights = (scores + attn_mask).softmax(dim=-1)
            out = F.dropout(weights, dropout, self.training) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        out = out.transpose(1, 2).reshape(b, nq, -1)  # (B, Nq, dim)
        return self.out(out), weights


class FeedForward(nn.Sequential):
    """Position-wise MLP: Linear -> GELU -> Dropout -> Linear."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim))


class TransformerLayer(nn.Module):
    """Pre-norm Transformer layer: self-attention, optional cross-attention, feed-forward.

    Args:
        dim: token width.
        num_heads: attention heads.
        ffn_dim: hidden width of the feed-forward block.
        dropout: dropout on residual branches and attention weights.
        context_dim: if given, a cross-attention sub-layer to a second sequence of this width is added.
        self_attention: include the self-attention sub-layer.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float = 0.0,
        context_dim: int | None = None,
        self_attention: bool = True,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout=dropout) if self_attention else None
        self.norm_self = nn.LayerNorm(dim) if self_attention else None
        self.cross_attn = MultiHeadAttention(dim, num_heads, context_dim, dropout) if context_dim else None
        self.norm_cross = nn.LayerNorm(dim) if context_dim else None
        self.norm_context = nn.LayerNorm(context_dim) if context_dim else None
        self.ffn = FeedForward(dim, ffn_dim, dropout)
        self.norm_ffn = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
        need_weights: bool = False,
        self_bias: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Update `x` [B, N, dim] (mask [B, N]); returns it and the cross-attention weights if asked.
        `self_bias` [B, heads, N, N] (or broadcastable) is added to the self-attention logits."""
        if self.self_attn is not None:
            h = self.norm_self(x)
            x = x + self.drop(self.self_attn(h, h, mask, bias=self_bias)[0])
        weights = None
        if self.cross_attn is not None:
            if context is None or context_mask is None:
                raise ValueError("this layer has cross-attention: pass context and context_mask")
            attended, weights = self.cross_attn(
                self.norm_cross(x), self.norm_context(context), context_mask, need_weights
            )
            x = x + self.drop(attended)
        x = x + self.drop(self.ffn(self.norm_ffn(x)))
        return x, weights


class AttentionPool(nn.Module):
    """Self-attentive pooling: a learned score per token, softmax over real tokens, weighted sum.

    The score depends on the token alone, so pooling one modality never looks at the other.

    Args:
        dim: token width.
        hidden_dim: width of the scoring MLP.
        glimpses: number of independent pooled vectors, concatenated (output width `glimpses * dim`).
    """

    def __init__(self, dim: int, hidden_dim: int = 256, glimpses: int = 1) -> None:
        super().__init__()
        self.glimpses = glimpses
        self.score = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, glimpses))

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Pool tokens [B, N, dim] (mask [B, N]) to [B, glimpses * dim]; also returns weights [B, glimpses, N]."""
        scores = self.score(tokens).transpose(1, 2)  # (B, G, N)
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(dim=-1)
        pooled = weights @ tokens  # (B, G, dim)
        return pooled.flatten(1), weights
