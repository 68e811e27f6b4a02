"""From-scratch text encoders over learned word embeddings: recurrent (GRU/LSTM) and Transformer."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from fusion.layers import TransformerLayer
from vqa.models.encoders.base import TEXT_ENCODERS, TextEncoder


def reverse_within_length(x: Tensor, mask: Tensor) -> Tensor:
    """Reverse the real (right-padded) tokens of each row, leaving padding in place.

    x [B, N, D], mask [B, N] -> [B, N, D]. Lets a backward RNN read each question from its own last word
    without packing (which would need the lengths on the host, a device sync every step).
    """
    n = x.shape[1]
    lengths = mask.sum(1, keepdim=True)  # (B, 1)
    positions = torch.arange(n, device=x.device).expand(x.shape[0], n)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, N)
    return x.gather(1, source.unsqueeze(-1).expand_as(x))


class RecurrentTextEncoder(TextEncoder):
    """Learned embeddings followed by a (bi)directional recurrent network; padding never leaks into real
    tokens because each direction reads only the real tokens first.

    Args:
        vocab_size: number of token ids.
        embed_dim: word embedding width.
        hidden_dim: output width per token (split across the two directions when bidirectional).
        num_layers: stacked recurrent layers.
        bidirectional: read the question in both directions.
        dropout: dropout on embeddings and between layers.
        padding_idx: id of the padding token (its embedding stays zero).
    """

    rnn_class: ClassVar[type[nn.RNNBase]]

    def __init__(
        self,
        vocab_size: int,
        *,
        embed_dim: int = 128,
        hidden_dim: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.1,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        directions = 2 if bidirectional else 1
        if hidden_dim % directions:
            raise ValueError(f"hidden_dim={hidden_dim} must be even for a bidirectional encoder")
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.drop = nn.Dropout(dropout)
        width = hidden_dim // directions
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        for layer in range(num_layers):
            in_dim = embed_dim if layer == 0 else hidden_dim
            self.forward_layers.append(self.rnn_class(in_dim, width, batch_first=True))
            if bidirectional:
                self.backward_layers.append(self.rnn_class(in_dim, width, batch_first=True))
        self.out_dim = hidden_dim

    def forward(self, token_ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """token_ids [B, Nt], mask [B, Nt] -> tokens [B, Nt, hidden_dim], mask."""
        x = self.drop(self.embed(token_ids))  # (B, Nt, E)
        for i, forward_rnn in enumerate(self.forward_layers):
            if i:
                x = self.drop(x)
            outputs = [forward_rnn(x)[0]]
            if self.backward_layers:
                backward = self.backward_layers[i](reverse_within_length(x, mask))[0]
                outputs.append(reverse_within_length(backward, mask))
            x = torch.cat(outputs, dim=-1)  # (B, Nt, hidden_dim)
        return x, mask


@TEXT_ENCODERS.register("gru")
class GRUTextEncoder(RecurrentTextEncoder):
    """Word embeddings + (bi)GRU."""

    rnn_class = nn.GRU


@TEXT_ENCODERS.register("lstm")
class LSTMTextEncoder(RecurrentTextEncoder):
    """Word embeddings + (bi)LSTM."""

    rnn_class = nn.LSTM


@TEXT_ENCODERS.register("transformer")
class TransformerTextEncoder(TextEncoder):
    """Word + learned position embeddings followed by a small pre-norm Transformer.

    Args:
        vocab_size: number of token ids.
        dim: token width.
        num_layers: Transformer layers.
        num_heads: attention heads.
        ffn_dim: feed-forward hidden width (default 4 * dim).
        max_length: longest question (in tokens) it has positions for.
        dropout: dropout in the layers.
        padding_idx: id of the padding token.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        dim: int = 256,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        max_length: int = 64,
        dropout: float = 0.1,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
        self.positions = nn.Parameter(torch.zeros(max_length, dim))
        nn.init.normal_(self.positions, std=0.02)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, num_heads, ffn_dim or 4 * dim, dropout) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.max_length = max_length
        self.out_dim = dim

    def forward(self, token_ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """token_ids [B, Nt], mask [B, Nt] -> tokens [B, Nt, dim], mask."""
        n = token_ids.shape[1]
        if n > self.max_length:
            raise ValueError(
                f"questions of {n} tokens exceed the text encoder's max_length={self.max_length}; "
                "raise model.text_encoder.init_args.max_length or lower data.tokenizer.init_args.max_length"
            )
        x = self.drop(self.embed(token_ids) + self.positions[:n])  # (B, Nt, dim)
        for layer in self.layers:
            x, _ = layer(x, mask)
        return self.norm(x), mask
