"""Pre-extracted image features (region features, a frozen backbone's grid, a feature cache) as image tokens."""

from __future__ import annotations

import torch
from torch import Tensor

from vqa.models.encoders.base import IMAGE_ENCODERS, Encoder, ImageEncoder


def sinusoidal_position_features(position: Tensor, frequencies: Tensor) -> Tensor:
    """Sinusoidal encodings of 2-D positions, as DETR and NeRF encode coordinates.

    Args:
        position: [..., 2] (x, y), e.g. in [0, 1].
        frequencies: [F] angular frequencies (radians per unit of position).

    Returns:
        [..., 4F]: per frequency w, cos(w x), cos(w y), sin(w x), sin(w y).
    """
    angles = position[..., None, :] * frequencies[:, None]  # (..., F, 2)
    return torch.cat([angles.cos(), angles.sin()], dim=-1).flatten(-2)  # (..., F * 4)


@IMAGE_ENCODERS.register("features")
class PrecomputedFeatures(ImageEncoder):
    """Uses features computed ahead of time as the image tokens, unchanged, with the data's mask (every token is
    real when the data has none: region features; padded object features come with one).

    The model hands the batch's "images" straight to this encoder (`takes_features`): a float tensor
    [B, Ni, dim], e.g. 100 bottom-up region features of 2048 dims per image (MCAN, BUTD) or the grid tokens of a
    frozen encoder read from a cache. Features stored in half precision are widened to float32 here; autocast
    narrows them again where that pays.

    Position encoding (`position_frequencies`): when the last two columns of each token are its position (x, y)
    in [0, 1] (the generated sets' object tokens; box centres appended to region features), the encoder can
    add their sinusoidal encodings. They go in before the position, so that (x, y) stays in the last two
    columns for the fusions that read it (`early` with `distance_bias`). The product of two such encodings is a function of the offset between
    the tokens (cos(w x_i) cos(w x_j) + sin(w x_i) sin(w x_j) = cos(w (x_i - x_j))), which is what questions
    about the closest or furthest object compare. Measured with a Relation Network on Sort-of-CLEVR scenes with
    the paper's one-hot questions: closest/furthest training accuracy after 2,500 steps of 128 rose from 69/71%
    (x, y alone) to 90/95% with frequencies (1, 2, 3). The token width becomes `dim + 4 * len(frequencies)`.

    Args:
        dim: width of the features.
        position_frequencies: angular frequencies (radians per unit of position) of the sinusoidal encodings
            appended for each token's (x, y) (its last two columns); empty (default): no encoding.
    """

    takes_features = True

    def __init__(self, dim: int = 2048, position_frequencies: tuple[float, ...] = ()) -> None:
        Encoder.__init__(self)  # features are not pixels: no per-channel mean/std to normalize with
        if position_frequencies and dim < 2:
            raise ValueError(f"position_frequencies need (x, y) in the last two feature columns; dim={dim}")
        self.dim = dim
        self.register_buffer(
            "position_frequencies", torch.tensor(position_frequencies, dtype=torch.float32), persistent=False
        )
        self.out_dim = dim + 4 * len(position_frequencies)

    def forward(self, features: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """features [B, Ni, dim] (mask [B, Ni], True = real; None: all real) -> tokens [B, Ni, out_dim] float32,
        mask. With position frequencies a token is [features without (x, y) ; 4F encodings ; x, y]
        (out_dim = dim + 4F); padded tokens get zero encodings."""
        if features.ndim != 3 or features.shape[-1] != self.dim:
            raise ValueError(
                f"the `features` image encoder expects features [batch, tokens, {self.dim}], got "
                f"{tuple(features.shape)}; set model.image_encoder.init_args.dim to the width of the data's features"
            )
        if mask is None:
            mask = features.new_ones(features.shape[:2], dtype=torch.bool)
        features = features.float()
        if len(self.position_frequencies):
            encoding = sinusoidal_position_features(features[..., -2:], self.position_frequencies)  # (B, Ni, 4F)
            features = torch.cat([features[..., :-2], encoding * mask[..., None], features[..., -2:]], dim=-1)
        return features, mask
