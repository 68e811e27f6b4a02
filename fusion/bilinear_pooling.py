"""Bilinear pooling operators: cheap approximations of a full bilinear map z_k = x^T W_k y.

A full bilinear map from x [Dx] and y [Dy] to z [Dz] needs Dx * Dy * Dz weights (2048 * 2400 * 3000 for VQA,
far too many). Each operator below constrains the weight tensor W in one way from the literature:

* `LowRankBilinear` (MLB): rank-1 terms, z = tanh(U x) * tanh(V y).
* `FactorizedBilinear` (MFB): rank-k per output, z = SumPool_k(U x * V y).
* `HighOrderFactorizedBilinear` (MFH): a cascade of MFB blocks, each multiplying into the previous one.
* `TuckerBilinear` (MUTAN): a Tucker decomposition whose core tensor is itself rank-R.
* `BlockTermBilinear` (BLOCK): a block-superdiagonal core, one small rank-R Tucker product per chunk.

Every operator maps `x [..., Dx]` and `y [..., Dy]` to `z [..., out_dim]`; the leading dimensions only need to
broadcast, so a question vector `[B, 1, Dx]` meets every image token `[B, Ni, Dy]` without being copied. The
projection to the fusion's output width is left to the caller (a fusion or an attention scorer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Keeps the derivative of sqrt finite next to 0 (it is 1 / (2 sqrt(eps)) there, not infinite).
SQRT_EPS = 1e-8


def signed_sqrt(z: Tensor) -> Tensor:
    """Power normalization sign(z) * sqrt(|z|), elementwise; 0 stays 0."""
    return z.sign() * (z.abs() + SQRT_EPS).sqrt()


class PowerL2Norm(nn.Module):
    """Optional signed square root, then optional L2 normalization over the last dimension.

    Bilinear products have heavy-tailed values; MCB, MFB, MFH and BLOCK damp them this way before the
    classifier.

    Args:
        signed_sqrt: apply sign(z) * sqrt(|z|).
        l2_normalize: divide by the L2 norm over the last dimension.
    """

    def __init__(self, signed_sqrt: bool, l2_normalize: bool) -> None:
        super().__init__()
        self.signed_sqrt = signed_sqrt
        self.l2_normalize = l2_normalize

    def forward(self, z: Tensor) -> Tensor:
        if self.signed_sqrt:
            z = signed_sqrt(z)
        if self.l2_normalize:
            z = F.normalize(z, dim=-1)
        return z


class LowRankBilinear(nn.Module):
    """MLB: Hadamard product of two tanh projections, z = tanh(U x) * tanh(V y).

    Reference: Kim et al. 2017, "Hadamard Product for Low-rank Bilinear Pooling" (ICLR).

    Args:
        x_dim: width of x.
        y_dim: width of y.
        rank: width of the joint space (the paper uses 1200); this is `out_dim`.
        dropout: dropout on the inputs.
        signed_sqrt: power-normalize the product.
        l2_normalize: L2-normalize the product.
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        rank: int,
        dropout: float = 0.0,
        signed_sqrt: bool = False,
        l2_normalize: bool = False,
    ) -> None:
        super().__init__()
        self.x_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(x_dim, rank), nn.Tanh())
        self.y_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(y_dim, rank), nn.Tanh())
        self.norm = PowerL2Norm(signed_sqrt, l2_normalize)
        self.out_dim = rank

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x [..., x_dim], y [..., y_dim] (broadcastable) -> [..., rank]."""
        return self.norm(self.x_proj(x) * self.y_proj(y))


class FactorizedBilinear(nn.Module):
    """MFB: project both inputs to `out_dim * factor`, multiply, sum-pool each window of `factor` values.

    Each output unit is a rank-`factor` bilinear form of x and y. Dropout follows the product, and the pooled
    vector is power- and L2-normalized (the paper found both essential).

    Reference: Yu et al. 2017, "Multi-modal Factorized Bilinear Pooling with Co-Attention Learning for Visual
    Question Answering" (ICCV).

    Args:
        x_dim: width of x.
        y_dim: width of y.
        out_dim: width of the pooled vector (paper: o = 1000).
        factor: rank of each output unit (paper: k = 5).
        dropout: dropout on the expanded product.
        signed_sqrt: power-normalize the pooled vector.
        l2_normalize: L2-normalize the pooled vector.
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        out_dim: int,
        factor: int = 5,
        dropout: float = 0.0,
        signed_sqrt: bool = True,
        l2_normalize: bool = True,
    ) -> None:
        super().__init__()
        self.x_proj = nn.Linear(x_dim, out_dim * factor)
        self.y_proj = nn.Linear(y_dim, out_dim * factor)
        self.drop = nn.Dropout(dropout)
        self.norm = PowerL2Norm(signed_sqrt, l2_normalize)
        self.factor = factor
        self.out_dim = out_dim

    def expand(self, x: Tensor, y: Tensor) -> Tensor:
        """The expanded product before pooling: [..., out_dim * factor]."""
        return self.drop(self.x_proj(x) * self.y_proj(y))

    def pool(self, expanded: Tensor) -> Tensor:
        """Sum-pool non-overlapping windows of `factor` values and normalize: [..., out_dim * factor] -> [..., out_dim]."""
        pooled = expanded.unflatten(-1, (self.out_dim, self.factor)).sum(-1)
        return self.norm(pooled)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x [..., x_dim], y [..., y_dim] (broadcastable) -> [..., out_dim]."""
        return self.pool(self.expand(x, y))


class HighOrderFactorizedBilinear(nn.Module):
    """MFH: `order` MFB blocks in cascade; block i multiplies its expanded product into block i-1's.

    z_exp_i = z_exp_(i-1) * Dropout(U_i x * V_i y); each z_exp_i is sum-pooled and normalized on its own,
    and the `order` pooled vectors are concatenated.

    Reference: Yu et al. 2018, "Beyond Bilinear: Generalized Multimodal Factorized High-order Pooling for
    Visual Question Answering" (IEEE TNNLS).

    Args:
        x_dim: width of x.
        y_dim: width of y.
        block_dim: pooled width of each block (paper: o = 1000); the output is `order * block_dim` wide.
        factor: rank of each output unit (paper: k = 5).
        order: number of cascaded blocks (paper: p = 2).
        dropout: dropout on each block's product.
        signed_sqrt: power-normalize each pooled block.
        l2_normalize: L2-normalize each pooled block.
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        block_dim: int,
        factor: int = 5,
        order: int = 2,
        dropout: float = 0.0,
        signed_sqrt: bool = True,
        l2_normalize: bool = True,
    ) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"MFH order must be at least 1, got {order}")
        self.blocks = nn.ModuleList(
            FactorizedBilinear(x_dim, y_dim, block_dim, factor, dropout, signed_sqrt, l2_normalize)
            for _ in range(order)
        )
        self.out_dim = order * block_dim

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x [..., x_dim], y [..., y_dim] (broadcastable) -> [..., order * block_dim]."""
        pooled = []
        expanded: Tensor | float = 1.0
        for block in self.blocks:
            expanded = expanded * block.expand(x, y)
            pooled.append(block.pool(expanded))
        return torch.cat(pooled, dim=-1)


class TuckerBilinear(nn.Module):
    """MUTAN: Tucker decomposition with a rank-R core.

    Both inputs are projected to `proj_dim` (tanh); the core tensor, constrained to rank R, becomes R pairs of
    projections to `out_dim` (each followed by tanh) whose products are summed:
    z = sum_r tanh(W_x^r x~) * tanh(W_y^r y~).

    Reference: Ben-younes et al. 2017, "MUTAN: Multimodal Tucker Fusion for Visual Question Answering" (ICCV).

    Args:
        x_dim: width of x.
        y_dim: width of y.
        out_dim: width of the merged vector (paper: t_o = 510).
        proj_dim: width of the projected inputs (paper: t_q = t_v = 310).
        rank: rank R of the core tensor (paper: 5).
        dropout: dropout on the inputs and on the projected inputs.
        signed_sqrt: power-normalize the merged vector.
        l2_normalize: L2-normalize the merged vector.
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        out_dim: int,
        proj_dim: int = 310,
        rank: int = 5,
        dropout: float = 0.0,
        signed_sqrt: bool = False,
        l2_normalize: bool = False,
    ) -> None:
        super().__init__()
        self.x_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(x_dim, proj_dim), nn.Tanh(), nn.Dropout(dropout))
        self.y_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(y_dim, proj_dim), nn.Tanh(), nn.Dropout(dropout))
        # All R rank-one factors of one modality in a single matrix: proj_dim -> rank * out_dim.
        self.x_factors = nn.Sequential(nn.Linear(proj_dim, rank * out_dim), nn.Tanh())
        self.y_factors = nn.Sequential(nn.Linear(proj_dim, rank * out_dim), nn.Tanh())
        self.norm = PowerL2Norm(signed_sqrt, l2_normalize)
        self.rank = rank
        self.out_dim = out_dim

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x [..., x_dim], y [..., y_dim] (broadcastable) -> [..., out_dim]."""
        x_factors = self.x_factors(self.x_proj(x)).unflatten(-1, (self.rank, self.out_dim))  # (..., R, out)
        y_factors = self.y_factors(self.y_proj(y)).unflatten(-1, (self.rank, self.out_dim))
        return self.norm((x_factors * y_factors).sum(-2))


class BlockTermBilinear(nn.Module):
    """BLOCK: block-superdiagonal tensor decomposition.

    Both inputs are projected to `mm_dim` and cut into `chunks` chunks. Chunk c of x only meets chunk c of y,
    through its own rank-R Tucker product (R pairs of projections, products summed); each chunk's result is
    power- and L2-normalized, and the chunks are concatenated.

    Reference: Ben-younes et al. 2019, "BLOCK: Bilinear Superdiagonal Fusion for Visual Question Answering and
    Visual Relationship Detection" (AAAI).

    Args:
        x_dim: width of x.
        y_dim: width of y.
        mm_dim: width of the projected inputs and of the output (paper: 1600); divisible by `chunks`.
        chunks: number of blocks (paper: 20).
        rank: rank of each block's core (paper: 15).
        dropout: dropout on the inputs and on the merged vector.
        signed_sqrt: power-normalize each chunk.
        l2_normalize: L2-normalize each chunk.
    """

    def __init__(
        self,
        x_dim: int,
        y_dim: int,
        mm_dim: int = 1600,
        chunks: int = 20,
        rank: int = 15,
        dropout: float = 0.0,
        signed_sqrt: bool = True,
        l2_normalize: bool = True,
    ) -> None:
        super().__init__()
        if mm_dim % chunks:
            raise ValueError(f"BLOCK mm_dim={mm_dim} must be divisible by chunks={chunks}")
        size = mm_dim // chunks
        self.x_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(x_dim, mm_dim))
        self.y_proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(y_dim, mm_dim))
        # One (size -> size * rank) projection per chunk and modality, stored as batched weights.
        self.x_factors = nn.Parameter(torch.empty(chunks, size, size * rank))
        self.y_factors = nn.Parameter(torch.empty(chunks, size, size * rank))
        self.x_bias = nn.Parameter(torch.zeros(chunks, size * rank))
        self.y_bias = nn.Parameter(torch.zeros(chunks, size * rank))
        bound = size**-0.5  # nn.Linear's default uniform bound for fan-in `size`
        nn.init.uniform_(self.x_factors, -bound, bound)
        nn.init.uniform_(self.y_factors, -bound, bound)
        self.norm = PowerL2Norm(signed_sqrt, l2_normalize)
        self.drop = nn.Dropout(dropout)
        self.chunks, self.size, self.rank = chunks, size, rank
        self.out_dim = mm_dim

    def _chunk_factors(self, z: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        """[..., mm_dim] -> per-chunk rank factors [..., chunks, size, rank]."""
        chunked = z.unflatten(-1, (self.chunks, self.size))  # (..., C, s)
        factors = torch.einsum("...cs,csk->...ck", chunked, weight) + bias  # (..., C, s * R)
        return factors.unflatten(-1, (self.size, self.rank))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x [..., x_dim], y [..., y_dim] (broadcastable) -> [..., mm_dim]."""
        x_factors = self._chunk_factors(self.x_proj(x), self.x_factors, self.x_bias)  # (..., C, s, R)
        y_factors = self._chunk_factors(self.y_proj(y), self.y_factors, self.y_bias)
        chunks = self.norm((x_factors * y_factors).sum(-1))  # (..., C, s), normalized per chunk
        return self.drop(chunks.flatten(-2))
