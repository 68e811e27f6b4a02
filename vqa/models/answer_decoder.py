"""Answer decoder: a small Transformer decoder that writes the answer word by word, cross-attending to what the
fusion made of the image and the question (its joint vector and, where it has them, its fused token streams).

Generative VQA as in BLIP and ALBEF: trained with teacher forcing, each human answer weighted by its VQA score;
decoded greedily, by beam search or by ranking a list of candidate answers (`vqa.models.decoding`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusion.base import Fused
from fusion.layers import FeedForward, MultiHeadAttention


def _split_heads(attn: MultiHeadAttention, x: Tensor) -> Tensor:
    """[B, N, dim] -> [B, heads, N, head_dim]."""
    return x.view(x.shape[0], x.shape[1], attn.num_heads, attn.head_dim).transpose(1, 2)


def _keys_values(attn: MultiHeadAttention, context: Tensor) -> tuple[Tensor, Tensor]:
    """The layer's keys and values of `context` [B, N, dim]: two [B, heads, N, head_dim]."""
    k, v = attn.kv(context).chunk(2, dim=-1)
    return _split_heads(attn, k), _split_heads(attn, v)


def _attend(attn: MultiHeadAttention, x: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    """Queries x [B, Nq, dim] against cached keys/values [B, heads, Nk, head_dim] (mask [B, Nk] or None)."""
    q = _split_heads(attn, attn.q(x))
    attn_mask = None if mask is None else mask[:, None, None, :]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, heads, Nq, head_dim)
    return attn.out(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class DecoderLayer(nn.Module):
    """Pre-norm decoder layer: causal self-attention over the answer so far, cross-attention to the fused
    memory, feed-forward. Runs either on whole sequences (training) or one token at a time with cached keys and
    values (decoding); both give the same numbers.

    Args:
        dim: token width.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden width.
        dropout: dropout on residual branches and attention weights.
    """

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(dim, num_heads, dropout=dropout)
        self.norm_self = nn.LayerNorm(dim)
        self.norm_cross = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, x_mask: Tensor, memory: Tensor, memory_mask: Tensor, causal: Tensor) -> Tensor:
        """x [B, T, dim] (mask [B, T]), memory [B, M, dim] (mask [B, M]), causal [T, T] additive -> [B, T, dim]."""
        h = self.norm_self(x)
        x = x + self.drop(self.self_attn(h, h, x_mask, bias=causal)[0])
        x = x + self.drop(self.cross_attn(self.norm_cross(x), memory, memory_mask)[0])
        return x + self.drop(self.ffn(self.norm_ffn(x)))

    def step(self, x: Tensor, cache: LayerCache, memory_mask: Tensor) -> Tensor:
        """One new token x [B, 1, dim]; appends its keys/values to `cache` (eval mode only) -> [B, 1, dim]."""
        h = self.norm_self(x)
        k, v = _keys_values(self.self_attn, h)
        cache.self_k = k if cache.self_k is None else torch.cat([cache.self_k, k], dim=2)
        cache.self_v = v if cache.self_v is None else torch.cat([cache.self_v, v], dim=2)
        x = x + _attend(self.self_attn, h, cache.self_k, cache.self_v, None)  # every earlier token is real
        x = x + _attend(self.cross_attn, self.norm_cross(x), cache.memory_k, cache.memory_v, memory_mask)
        return x + self.ffn(self.norm_ffn(x))


@dataclass
class LayerCache:
    """Keys and values one decoder layer keeps between decoding steps ([B, heads, N, head_dim] each)."""

    memory_k: Tensor
    memory_v: Tensor
    self_k: Tensor | None = None
    self_v: Tensor | None = None


@dataclass
class DecoderState:
    """Everything `AnswerDecoder.step` needs between steps: per-layer caches, the memory mask, the position."""

    layers: list[LayerCache]
    memory_mask: Tensor
    position: int = 0

    def select(self, rows: Tensor, same_memory: bool = False) -> DecoderState:
        """Keep (and reorder, repeat) batch rows `rows` [B'] of every cached tensor: beam search's reordering.

        Args:
            rows: [B'] row indices.
            same_memory: every row moves to a row with the same memory (beams of one question trade places):
                the memory's keys and values, the largest part of the cache, are kept as they are.
        """
        layers = [
            LayerCache(
                c.memory_k if same_memory else c.memory_k[rows],
                c.memory_v if same_memory else c.memory_v[rows],
                None if c.self_k is None else c.self_k[rows],
                None if c.self_v is None else c.self_v[rows],
            )
            for c in self.layers
        ]
        return DecoderState(layers, self.memory_mask if same_memory else self.memory_mask[rows], self.position)


class AnswerDecoder(nn.Module):
    """Transformer decoder over answer tokens, cross-attending to the fused memory.

    The memory is the fusion's joint vector as one token, followed by its image and question streams when the
    fusion has them (`fusion.base.Fused`); each kind is projected to the decoder width and tagged with a learned
    type embedding. Late fusions give the joint vector only.

    Args:
        vocab_size: answer tokens (`AnswerTokens`), specials included.
        joint_dim: width of the fusion's joint vector.
        stream_dim: width of the fusion's token streams, or None if it has none.
        dim: decoder width.
        num_layers: decoder layers.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden width (default 4 * dim).
        dropout: dropout in the layers.
        max_length: most answer words written (the `<eos>` after them not counted).
    """

    def __init__(
        self,
        vocab_size: int,
        joint_dim: int,
        stream_dim: int | None,
        *,
        dim: int = 256,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
        max_length: int = 10,
    ) -> None:
        super().__init__()
        self._init_args = {
            "vocab_size": vocab_size,
            "joint_dim": joint_dim,
            "stream_dim": stream_dim,
            "dim": dim,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "ffn_dim": ffn_dim,
            "dropout": dropout,
            "max_length": max_length,
        }
        if max_length < 1 or num_layers < 1:
            raise ValueError(
                f"the answer decoder needs max_length >= 1 and num_layers >= 1, got {max_length}, {num_layers}"
            )
        self.max_length = max_length
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.position = nn.Embedding(max_length + 1, dim)  # <bos> + up to max_length words
        self.joint_proj = nn.Linear(joint_dim, dim)
        self.stream_proj = nn.Linear(stream_dim, dim) if stream_dim else None
        self.memory_type = nn.Parameter(torch.zeros(3, dim))  # joint, image stream, question stream
        nn.init.normal_(self.memory_type, std=0.02)
        self.layers = nn.ModuleList(
            DecoderLayer(dim, num_heads, ffn_dim or 4 * dim, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, vocab_size)

    def config(self) -> dict[str, int | float | None]:
        """The constructor arguments (JSON), so a bundle can rebuild this decoder."""
        return dict(self._init_args)

    def memory(self, fused: Fused) -> tuple[Tensor, Tensor]:
        """What the decoder attends to: memory [B, M, dim], mask [B, M] (M = 1 + Ni + Nt for the streams present)."""
        parts = [self.joint_proj(fused.joint)[:, None] + self.memory_type[0]]
        masks = [torch.ones(fused.joint.shape[0], 1, dtype=torch.bool, device=fused.joint.device)]
        for kind, (tokens, mask) in enumerate([(fused.img, fused.img_mask), (fused.txt, fused.txt_mask)], start=1):
            if tokens is None:
                continue
            if self.stream_proj is None:
                raise ValueError("this answer decoder was built without stream_dim but the fusion gives token streams")
            parts.append(self.stream_proj(tokens) + self.memory_type[kind])
            masks.append(mask)
        return torch.cat(parts, dim=1), torch.cat(masks, dim=1)

    def _embed(self, tokens: Tensor, start: int) -> Tensor:
        """tokens [B, T] at positions start.. -> [B, T, dim]."""
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        return self.embed(tokens) + self.position(positions)

    def forward(self, memory: Tensor, memory_mask: Tensor, inputs: Tensor) -> Tensor:
        """Teacher forcing: inputs [B, T] (`<bos>` then answer words, `<pad>` after the end; T <= max_length + 1)
        -> next-token logits [B, T, vocab]."""
        t = inputs.shape[1]
        if t > self.max_length + 1:
            raise ValueError(f"decoder inputs of length {t} exceed max_length + 1 = {self.max_length + 1}")
        causal = torch.full((t, t), float("-inf"), device=inputs.device).triu(1)  # (T, T): no peeking ahead
        x = self._embed(inputs, 0)
        real = inputs != self.embed.padding_idx
        real[:, 0] = True  # the <bos> column
        for layer in self.layers:
            x = layer(x, real, memory, memory_mask, causal)
        return self.out(self.norm(x))

    def start(self, memory: Tensor, memory_mask: Tensor) -> DecoderState:
        """A fresh decoding state for memory [B, M, dim]: each layer's memory keys/values computed once."""
        layers = []
        for layer in self.layers:
            k, v = _keys_values(layer.cross_attn, memory)
            layers.append(LayerCache(k, v))
        return DecoderState(layers, memory_mask)

    def step(self, state: DecoderState, tokens: Tensor) -> Tensor:
        """Feed one token per row, tokens [B] (the first call: `<bos>`) -> next-token logits [B, vocab].

        Advances `state` in place. Call in eval mode: cached decoding has no dropout.
        """
        if state.position > self.max_length:
            raise ValueError(f"the answer decoder writes at most {self.max_length} words")
        x = self._embed(tokens[:, None], state.position)  # (B, 1, dim)
        for layer, cache in zip(self.layers, state.layers):
            x = layer.step(x, cache, state.memory_mask)
        state.position += 1
        return self.out(self.norm(x))[:, 0]
