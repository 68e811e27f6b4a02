"""From-scratch convolutional grid encoder: one visual token per feature-map cell."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from vqa.models.encoders.base import IMAGE_ENCODERS, ImageEncoder


def grid_positions(height: int, width: int, dim: int, device: torch.device) -> Tensor:
    """2-D sine/cosine position codes [height * width, dim]: half the channels code the row, half the column."""
    if dim % 4:
        raise ValueError(f"2-D position codes need a width divisible by 4, got {dim}")
    quarter = dim // 4
    frequency = torch.exp(torch.arange(quarter, device=device, dtype=torch.float32) * (-math.log(10000.0) / quarter))
    rows = torch.arange(height, device=device, dtype=torch.float32)[:, None] * frequency  # (H, dim/4)
    cols = torch.arange(width, device=device, dtype=torch.float32)[:, None] * frequency  # (W, dim/4)
    row_code = torch.cat([rows.sin(), rows.cos()], dim=-1)[:, None, :].expand(height, width, dim // 2)
    col_code = torch.cat([cols.sin(), cols.cos()], dim=-1)[None, :, :].expand(height, width, dim // 2)
    return torch.cat([row_code, col_code], dim=-1).reshape(height * width, dim)


def coordinate_channels(images: Tensor) -> Tensor:
    """Two channels [B, 2, H, W] of each pixel's x and y, from -1 (left / top) to 1 (right / bottom)."""
    b, _, height, width = images.shape
    ys = torch.linspace(-1.0, 1.0, height, device=images.device, dtype=images.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=images.device, dtype=images.dtype)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # (2, H, W): x then y
    return grid.unsqueeze(0).expand(b, -1, -1, -1).contiguous(memory_format=torch.channels_last)


def cell_centres(h: int, w: int, device: torch.device) -> Tensor:
    """(x, y) in [0, 1] of the centre of each cell of an h x w grid, row-major: [h*w, 2]."""
    ys, xs = torch.meshgrid(
        (torch.arange(h, device=device) + 0.5) / h, (torch.arange(w, device=device) + 0.5) / w, indexing="ij"
    )
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)


@IMAGE_ENCODERS.register("conv_grid")
class ConvGridEncoder(ImageEncoder):
    """A small CNN whose last feature map becomes a grid of tokens with 2-D position codes.

    Each stage is Conv3x3(stride) -> BatchNorm -> ReLU. A 64x64 image through four stride-2 stages gives a
    4x4 grid (16 tokens); a 75x75 Sort-of-CLEVR image gives 5x5.

    Args:
        out_dim: token width (divisible by 4 for the position codes).
        channels: output channels of each stage.
        strides: stride of each stage (same length as `channels`; default 2 everywhere).
        position_codes: add 2-D sine/cosine position codes to the tokens.
        coord_channels: append two input channels holding each pixel's x and y in [-1, 1] (CoordConv, Liu et al.
            2018), so the convolutions can locate objects more finely than the grid cell they fall in: "is it on
            the left?" for an object in the middle column of a 5x5 grid depends on where inside the cell it is.
        cell_positions: append each token's cell centre (x, y) in [0, 1] as its last two columns (the tokens
            are then out_dim + 2 wide), the layout that position-aware fusions read (`relation_network` with
            `pair_geometry`, `early` with `distance_bias`).
        mean: per-channel mean used to normalize [0, 1] input.
        std: per-channel standard deviation used to normalize [0, 1] input.
    """

    def __init__(
        self,
        out_dim: int = 128,
        channels: tuple[int, ...] = (32, 64, 128, 128),
        strides: tuple[int, ...] | None = None,
        position_codes: bool = True,
        coord_channels: bool = False,
        cell_positions: bool = False,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.25, 0.25, 0.25),
    ) -> None:
        super().__init__(mean, std)
        strides = strides or (2,) * len(channels)
        if len(strides) != len(channels):
            raise ValueError(f"strides {strides} and channels {channels} must have the same length")
        layers: list[nn.Module] = []
        in_channels = 5 if coord_channels else 3
        for width, stride in zip(channels, strides):
            layers += [
                nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        layers.append(nn.Conv2d(in_channels, out_dim, 1))
        self.features = nn.Sequential(*layers)
        self.strides = tuple(strides)
        self.position_codes = position_codes
        self.coord_channels = coord_channels
        self.cell_positions = cell_positions
        self.out_dim = out_dim + 2 if cell_positions else out_dim

    def grid_shape(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) of the feature map for images of (height, width): each 3x3, padding-1 conv of stride s maps a
        side n to floor((n - 1) / s) + 1."""
        height, width = image_size
        for stride in self.strides:
            height, width = (height - 1) // stride + 1, (width - 1) // stride + 1
        return height, width

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images [B,3,H,W] in [0, 1] -> tokens [B, h*w, out_dim], mask [B, h*w] (all True)."""
        pixels = self.normalize(images)
        if self.coord_channels:
            pixels = torch.cat([pixels, coordinate_channels(pixels)], dim=1)  # (B, 5, H, W)
        fmap = self.features(pixels)  # (B, D, h, w)
        b, d, h, w = fmap.shape
        tokens = fmap.flatten(2).transpose(1, 2)  # (B, h*w, D)
        if self.position_codes:
            tokens = tokens + grid_positions(h, w, d, tokens.device).to(tokens.dtype)
        if self.cell_positions:
            centres = cell_centres(h, w, tokens.device).to(tokens.dtype)  # (h*w, 2)
            tokens = torch.cat([tokens, centres.expand(b, -1, -1)], dim=-1)  # (B, h*w, D + 2): (x, y) last
        mask = torch.ones(b, h * w, dtype=torch.bool, device=tokens.device)
        return tokens, mask
