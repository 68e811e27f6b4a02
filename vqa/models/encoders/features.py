"""Pre-extracted image features (region features, a frozen backbone's grid, a feature cache) as image tokens."""

from __future__ import annotations

import torch
from torch import Tensor

from vqa.models.encoders.base import IMAGE_ENCODERS, Encoder, ImageEncoder


@IMAGE_ENCODERS.register("features")
class PrecomputedFeatures(ImageEncoder):
    """Uses features computed ahead of time as the image tokens, unchanged, with the data's mask (every token is
    real when the data has none: region features; padded object features come with one).

    The model hands the batch's "images" straight to this encoder (`takes_features`): a float tensor
    [B, Ni, dim], e.g. 100 bottom-up region features of 2048 dims per image (MCAN, BUTD) or the grid tokens of a
    frozen encoder read from a cache. Features stored in half precision are widened to float32 here; autocast
    narrows them again where that pays.

    Args:
        dim: width of the features.
    """

    takes_features = True

    def __init__(self, dim: int = 2048) -> None:
        Encoder.__init__(self)  # features are not pixels: no per-channel mean/std to normalize with
        self.out_dim = dim

    def forward(self, features: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """features [B, Ni, dim] (mask [B, Ni], True = real; None: all real) -> tokens [B, Ni, dim] float32, mask."""
        if features.ndim != 3 or features.shape[-1] != self.out_dim:
            raise ValueError(
                f"the `features` image encoder expects features [batch, tokens, {self.out_dim}], got "
                f"{tuple(features.shape)}; set model.image_encoder.init_args.dim to the width of the data's features"
            )
        if mask is None:
            mask = features.new_ones(features.shape[:2], dtype=torch.bool)
        return features.float(), mask
