"""From-scratch ViT-style patch embedding: one linear token per image patch (ViT, ViLT)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vqa.models.encoders.base import IMAGE_ENCODERS, ImageEncoder
from vqa.models.encoders.hf_vision import resize_to
from vqa.models.encoders.image import grid_positions


@IMAGE_ENCODERS.register("patch_embed")
class PatchEmbedEncoder(ImageEncoder):
    """Cuts the image into non-overlapping `patch_size` squares and projects each linearly to one token.

    The projection is a convolution with kernel = stride = `patch_size` (the same linear map on every patch).
    Position codes are either learned, one per patch of the `image_size` grid (ViT, ViLT), or fixed 2-D
    sine/cosine codes that fit any grid. Images of another size are resized to `image_size` on the device.
    ViLT-B/32: `dim=768, patch_size=32, image_size=(384, 384)` gives 12 x 12 = 144 tokens.

    Args:
        dim: token width.
        patch_size: side of the square patches, in pixels.
        image_size: (height, width) images are resized to, multiples of `patch_size`; None keeps every image's
            own size (then `learned_positions` must be False).
        learned_positions: learned position embeddings; False for fixed 2-D sine/cosine codes.
        mean: per-channel mean used to normalize [0, 1] input.
        std: per-channel standard deviation used to normalize [0, 1] input.
    """

    def __init__(
        self,
        dim: int = 768,
        patch_size: int = 32,
        image_size: tuple[int, int] | None = (384, 384),
        learned_positions: bool = True,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
    ) -> None:
        super().__init__(mean, std)
        if image_size is not None and (image_size[0] % patch_size or image_size[1] % patch_size):
            raise ValueError(f"image_size {tuple(image_size)} must be a multiple of patch_size={patch_size}")
        if image_size is None and learned_positions:
            raise ValueError("learned position embeddings need a fixed image_size; set it or learned_positions=False")
        self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
        self.image_size = (int(image_size[0]), int(image_size[1])) if image_size is not None else None
        self.positions = None
        if learned_positions:
            grid = (self.image_size[0] // patch_size) * (self.image_size[1] // patch_size)
            self.positions = nn.Parameter(torch.zeros(grid, dim))
            nn.init.normal_(self.positions, std=0.02)
        self.out_dim = dim

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images [B,3,H,W] in [0, 1] -> tokens [B, (H/p)*(W/p), dim], mask [B, (H/p)*(W/p)] (all True)."""
        fmap = self.proj(self.normalize(resize_to(images, self.image_size)))  # (B, dim, h, w)
        b, d, h, w = fmap.shape
        tokens = fmap.flatten(2).transpose(1, 2)  # (B, h*w, dim)
        positions = self.positions if self.positions is not None else grid_positions(h, w, d, tokens.device)
        tokens = tokens + positions.to(tokens.dtype)
        return tokens, torch.ones(b, h * w, dtype=torch.bool, device=tokens.device)
