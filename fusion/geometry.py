"""Attention biased by where the image tokens are: a learned per-head function of the distance between tokens.

Questions such as "what is the shape of the object closest to the red one?" ask for an argmin over distances.
Dot-product attention between object tokens can only reach it through their features, and learns it slowly;
a bias on the attention logits that falls (or rises) with the distance between two tokens gives each head the
argmin (or argmax) directly, and the softmax makes it as sharp as the head needs. This is the geometric term of
the object-relation attention of Hu et al. 2018 ("Relation Networks for Object Detection"), reduced to one
learned slope per head, in the spirit of the distance-linear biases of ALiBi (Press et al. 2022).

Measured on Sort-of-CLEVR scenes with one-hot questions (a two-layer joint Transformer over the question and
the object tokens, 128 questions per step, fresh scenes every step, Adam at 1e-3): running training accuracy
on "closest" / "furthest" after 1,500 steps was 94 / 98% with this bias, 72 / 92% without it, and 77 / 88% for
a Relation Network (4 x 256 g) on the same features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# The slopes and self terms are stored divided by this factor. Adam moves a parameter by about the learning rate
# per step whatever its gradient, so a slope stored as is would take ~10,000 steps at lr 1e-3 to reach the ~10
# logits per unit of distance that separate a closest object from the next one; stored / 8, it takes ~1,000.
PARAMETER_SCALE = 8.0


class DistanceBias(nn.Module):
    """Per-head attention bias between tokens with positions: bias[h, i, j] = -slope_h * |p_i - p_j| + self_h [i = j].

    A head with a positive slope prefers near tokens (its argmax is the nearest), one with a negative slope far
    tokens. The slopes start spread over [-max_slope, max_slope] so that both kinds exist from the first step.
    The self term starts negative: otherwise every token would be its own nearest neighbour (distance 0) and a
    near-preferring head could not find the closest *other* token. A token keeps its own content through the
    residual connection either way.

    The defaults are sharp on purpose. Two nearest candidates are often only 0.05 apart (positions in [0, 1]),
    so telling them apart takes slopes of tens of logits per unit. Measured on the toy of the module docstring
    with `early` and the question as two word tokens (colour, relation): with slopes up to 24 and the self term
    at -8, "closest" stayed at 67% after 1,250 steps; with slopes up to 48 and the self term at -24 it reached
    97% ("furthest" 99%). With the self term at zero "closest" stayed at 68% whatever the slopes.

    In a joint sequence the image tokens also attend to other tokens ([CLS], words); those logits get a learned
    per-head constant instead (`outside`), starting low so that the distance terms are not drowned out from the
    start: with it at zero, a near-preferring head's logits (-slope * distance < 0) lose to a dozen word tokens
    and "closest" was not learned (66% after 1,500 steps on Sort-of-CLEVR objects).

    Args:
        num_heads: attention heads of the layer the bias is added to.
        max_slope: initial slopes are spread evenly over [-max_slope, max_slope] logits per unit of distance.
        self_bias: initial logit added to a token's attention to itself.
        outside_bias: initial logit of an image token's attention to a token without a position.
    """

    def __init__(
        self, num_heads: int, max_slope: float = 48.0, self_bias: float = -24.0, outside_bias: float = -24.0
    ) -> None:
        super().__init__()
        self.slope = nn.Parameter(torch.linspace(-max_slope, max_slope, num_heads) / PARAMETER_SCALE)
        self.self_term = nn.Parameter(torch.full((num_heads,), self_bias / PARAMETER_SCALE))
        self.outside_term = nn.Parameter(torch.full((num_heads,), outside_bias / PARAMETER_SCALE))

    def outside(self) -> Tensor:
        """The logit added to an image token's attention to a token without a position, per head: [heads]."""
        return PARAMETER_SCALE * self.outside_term

    def forward(self, positions: Tensor) -> Tensor:
        """positions [B, N, 2] -> bias [B, heads, N, N] (the caller masks padded tokens)."""
        distance = torch.cdist(positions, positions)  # (B, N, N)
        eye = torch.eye(positions.shape[1], device=positions.device, dtype=positions.dtype)  # (N, N)
        slope = (PARAMETER_SCALE * self.slope)[None, :, None, None]  # (1, H, 1, 1)
        self_term = (PARAMETER_SCALE * self.self_term)[None, :, None, None]
        return -slope * distance[:, None] + self_term * eye  # (B, H, N, N)


def token_positions(img: Tensor, img_mask: Tensor, fusion_name: str) -> Tensor:
    """The (x, y) positions that image tokens carry in their last two columns, checked to lie in [0, 1].

    Args:
        img: image tokens [B, Ni, Di] whose last two columns are (x, y) in [0, 1] (object tokens of the generated
            sets; region features with their box centres appended).
        img_mask: [B, Ni], True = real token (padded tokens are not checked).
        fusion_name: named in the error.

    Returns:
        positions [B, Ni, 2].
    """
    positions = img[..., -2:]
    real = positions[img_mask]
    if real.numel() and (real.min() < 0 or real.max() > 1):
        raise ValueError(
            f"{fusion_name} with distance_bias reads each image token's position (x, y) in [0, 1] from its last "
            f"two columns, but they range over [{real.min().item():.3g}, {real.max().item():.3g}]: use image "
            "tokens that end with their position (object tokens, `features` with positions) or turn distance_bias off"
        )
    return positions
