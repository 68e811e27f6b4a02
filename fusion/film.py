"""Interactive fusion: the question modulates the visual features channel by channel (FiLM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusion.base import Fused, Fusion, masked_max, register_fusion
from fusion.layers import AttentionPool, MultiHeadAttention


class FiLMBlock(nn.Module):
    """One FiLM residual block over image tokens.

        x = ReLU(W1 x)                          the paper's 1x1 convolution
        h = mix(x)                              the paper's 3x3 convolution (see `FiLMFusion`)
        h = ReLU(gamma * Norm(h) + beta)        normalization without its own affine parameters, then FiLM
        return x + h

    Args:
        dim: token width.
        num_heads: heads of the token-mixing self-attention.
        token_mixing: mix tokens with self-attention (True) or transform each token alone (False).
    """

    def __init__(self, dim: int, num_heads: int, token_mixing: bool) -> None:
        super().__init__()
        self.inner = nn.Linear(dim, dim)
        self.mix = MultiHeadAttention(dim, num_heads) if token_mixing else nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)  # FiLM supplies the affine parameters

    def forward(
        self, x: Tensor, mask: Tensor, gamma: Tensor, beta: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """x [B, N, dim], mask [B, N], gamma/beta [B, dim] -> x [B, N, dim], self-attention weights or None."""
        x = F.relu(self.inner(x))
        weights = None
        if isinstance(self.mix, MultiHeadAttention):
            h, weights = self.mix(x, x, mask, need_weights)
        else:
            h = self.mix(x)
        h = F.relu(gamma[:, None, :] * self.norm(h) + beta[:, None, :])
        return x + h, weights


@register_fusion("film")
class FiLMFusion(Fusion):
    """FiLM: a question-conditioned feature-wise affine transform (gamma * h + beta) in every residual block
    of a small network over the image, then a projection and a global max pool.

    The question tokens are pooled (self-attentive pooling; the paper uses the last GRU state) and one linear
    generator predicts a (gamma, beta) pair per block; gamma is predicted as 1 + delta so that an untrained
    generator starts from the identity modulation.

    FiLM was designed for convolutional feature maps; the fusion contract gives a set of image tokens of any
    length, with no guaranteed grid, so three things change, and only these:

    * 1x1 convolutions become per-token linear layers (the same operation on a grid);
    * the 3x3 convolution, the only part that mixes neighbouring positions, becomes a self-attention over the
      real image tokens (`token_mixing=True`; `False` keeps every token separate, i.e. 1x1 only);
    * batch normalization without affine parameters becomes per-token layer normalization without affine
      parameters (batch statistics would mix padding and examples). The paper also appends coordinate maps
      at each block; the image encoders here already add position codes to the tokens.

    Attention exposed while recording: `question_to_image` [B, Ni] is, per image token, the share of the
    pooled channels whose global max it supplies (the FiLM paper visualizes these max-pool locations);
    `block{i}.self_attention` [B, heads, Ni, Ni] when tokens are mixed.

    Reference: Perez et al. 2018, "FiLM: Visual Reasoning with a General Conditioning Layer" (AAAI). Paper:
    4 residual blocks of 128 channels, classifier 1x1 conv to 512 channels, global max pool, FC 1024.

    Args:
        img_dim: width of the image tokens.
        txt_dim: width of the question tokens.
        out_dim: width of the joint vector (the paper's 512-channel classifier projection).
        dim: width of the residual blocks.
        num_blocks: FiLM-ed residual blocks.
        num_heads: heads of the token-mixing self-attention.
        token_mixing: replace the 3x3 convolution by self-attention over the image tokens.
    """

    family = "interactive"
    has_image_stream = True
    reference = "Perez et al. 2018, FiLM: Visual Reasoning with a General Conditioning Layer"

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        out_dim: int = 512,
        dim: int = 128,
        num_blocks: int = 4,
        num_heads: int = 4,
        token_mixing: bool = True,
    ) -> None:
        super().__init__(img_dim, txt_dim, out_dim=out_dim)
        self.stream_dim = dim
        self.dim = dim
        self.num_blocks = num_blocks
        self.stem = nn.Sequential(nn.Linear(img_dim, dim), nn.ReLU())
        self.question_pool = AttentionPool(txt_dim)
        self.film_generator = nn.Linear(txt_dim, num_blocks * 2 * dim)
        self.blocks = nn.ModuleList(FiLMBlock(dim, num_heads, token_mixing) for _ in range(num_blocks))
        self.classifier = nn.Sequential(nn.Linear(dim, out_dim), nn.ReLU())

    def fuse(self, img: Tensor, img_mask: Tensor, txt: Tensor, txt_mask: Tensor) -> Fused:
        """img [B,Ni,Di], img_mask [B,Ni], txt [B,Nt,Dt], txt_mask [B,Nt] -> Fused: joint [B, out_dim];
        image stream [B, Ni, dim]: the tokens after the last FiLM block."""
        record = self.record_attention
        q = self.question_pool(txt, txt_mask)[0]  # (B, Dt)
        film = self.film_generator(q).view(-1, self.num_blocks, 2, self.dim)  # (B, blocks, gamma|beta, dim)
        x = self.stem(img)  # (B, Ni, dim)
        for i, block in enumerate(self.blocks):
            x, weights = block(x, img_mask, 1.0 + film[:, i, 0], film[:, i, 1], need_weights=record)
            if record and weights is not None:
                self.last_attention[f"block{i}.self_attention"] = weights.detach()  # (B, H, Ni, Ni)
        features = self.classifier(x)  # (B, Ni, out_dim)
        pooled = masked_max(features, img_mask)  # (B, out_dim)
        if record:
            self.last_attention["question_to_image"] = max_pool_share(features, img_mask).detach()
        return Fused(pooled, img=x, img_mask=img_mask)


def max_pool_share(features: Tensor, mask: Tensor) -> Tensor:
    """For each token, the fraction of channels whose masked global max it holds: [B, N, C] -> [B, N]."""
    winners = features.masked_fill(~mask.unsqueeze(-1), float("-inf")).argmax(dim=1)  # (B, C)
    counts = torch.zeros(mask.shape, dtype=features.dtype, device=features.device)
    counts.scatter_add_(1, winners, torch.ones_like(winners, dtype=features.dtype))
    return counts / features.shape[-1]
