"""torchvision classification backbones (ResNet, ConvNeXt, EfficientNet, RegNet, MobileNet, ...) as grid
encoders: the last feature map, before global pooling, becomes one token per cell."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from vqa.errors import VQAError
from vqa.models.encoders.base import IMAGE_ENCODERS, ImageEncoder
from vqa.models.encoders.finetune import TrainableLayers, parameter_regions, set_trainable
from vqa.models.encoders.hf_vision import resize_to
from vqa.models.encoders.image import grid_positions
from vqa.models.encoders.paths import PretrainedNotFoundError
from vqa.models.encoders.weights import load_weights, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def feature_map_tokens(fmap: Tensor, position_codes: bool) -> tuple[Tensor, Tensor]:
    """fmap [B, D, h, w] -> tokens [B, h*w, D] (plus 2-D sine/cosine position codes), mask [B, h*w] all True."""
    b, d, h, w = fmap.shape
    tokens = fmap.flatten(2).transpose(1, 2)  # (B, h*w, D)
    if position_codes:
        tokens = tokens + grid_positions(h, w, d, tokens.device).to(tokens.dtype)
    return tokens, torch.ones(b, h * w, dtype=torch.bool, device=tokens.device)


def feature_stages(model: nn.Module) -> list[nn.Module]:
    """The convolutional body of a torchvision classifier, as its stages (input side first).

    The body is `model.features` where the model has one (EfficientNet, ConvNeXt, MobileNet, VGG, ...),
    otherwise the model's children up to its global pooling (ResNet: conv1, bn1, relu, maxpool, layer1-4).
    """
    features = getattr(model, "features", None)
    children = list(features.children()) if isinstance(features, nn.Module) else list(model.children())
    stages = []
    for child in children:
        if isinstance(child, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Linear)):
            break
        stages.append(child)
    return stages


def torchvision_weights(model: str, weights: str | None) -> Any:
    """The torchvision weights enum member named `weights` for `model` (None stays None).

    Raises:
        VQAError: unknown model or weights name (the message lists the valid ones).
    """
    from torchvision.models import get_model_weights, list_models

    if model not in list_models():
        raise VQAError(f"unknown torchvision model {model!r}; e.g. resnet18, resnet50, convnext_tiny, efficientnet_b0")
    if weights is None:
        return None
    enum = get_model_weights(model)
    try:
        return enum.verify(weights)
    except (KeyError, ValueError) as error:
        names = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise VQAError(f"torchvision has no weights {weights!r} for {model}; expected one of: {names}") from error


@IMAGE_ENCODERS.register("torchvision")
class TorchvisionEncoder(ImageEncoder):
    """A torchvision classifier's last feature map as a grid of tokens (stride 32: 7x7 tokens at 224x224).

    With `weights`, preprocessing follows the weights' own transforms: images are resized on the device to
    their crop size and standardized with their mean/std. With random weights images keep their size.

    Args:
        model: torchvision model name (`torchvision.models.list_models()`), e.g. "resnet18", "convnext_tiny".
        weights: weights as torchvision names them ("IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1");
            None for random initialization. torchvision downloads them once into its cache
            (~/.cache/torch/hub/checkpoints); offline, put the file there or use `weights_file`.
        weights_file: a state_dict file (.pth/.pt read without unpickling code, or .safetensors; a
            `package:<module>/<file>` path works) for the whole torchvision model; its classifier is ignored.
        trainable_layers: 0 = frozen, N = the last N stages learn, "all" = all.
        position_codes: add 2-D sine/cosine position codes to the tokens.
        image_size: (height, width) fed to the network (default: the weights' crop size; none for random).
        mean: per-channel mean for normalization (default: the weights' own, else ImageNet's).
        std: per-channel standard deviation (default: the weights' own, else ImageNet's).
    """

    def __init__(
        self,
        model: str = "resnet18",
        weights: str | None = None,
        weights_file: str | None = None,
        trainable_layers: TrainableLayers = 0,
        position_codes: bool = True,
        image_size: tuple[int, int] | None = None,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
    ) -> None:
        from torchvision.models import get_model

        if weights is not None and weights_file is not None:
            raise VQAError("give torchvision weights or a weights_file, not both")
        enum = torchvision_weights(model, weights)
        if enum is not None:
            preset = enum.transforms()
            mean, std = mean or tuple(preset.mean), std or tuple(preset.std)
            image_size = image_size or (preset.crop_size[0], preset.crop_size[0])
        super().__init__(mean or IMAGENET_MEAN, std or IMAGENET_STD)
        try:
            network = get_model(model, weights=enum)
        except (OSError, RuntimeError) as error:  # no network and nothing cached
            raise PretrainedNotFoundError(
                f"cannot get torchvision weights {weights!r} for {model} ({error}); offline, copy the weights file "
                "into torchvision's cache (~/.cache/torch/hub/checkpoints) or pass weights_file"
            ) from error
        if weights_file is not None:
            load_weights(network, read_state_dict(weights_file), weights_file)
        self.body = nn.Sequential(*feature_stages(network))
        self.image_size = (int(image_size[0]), int(image_size[1])) if image_size else None
        self.position_codes = position_codes
        with torch.no_grad():
            self.out_dim = int(self.body.eval()(torch.zeros(1, 3, 64, 64)).shape[1])
        set_trainable(self.body, self._stages(), trainable_layers)
        self.train()  # a new module is in training mode; this also puts its frozen parts in eval mode

    def _stages(self) -> list[nn.Module]:
        """The body's stages that hold parameters (a ReLU or pooling is no stage to unfreeze)."""
        return [stage for stage in self.body if any(True for _ in stage.parameters())]

    def parameter_depths(self) -> tuple[dict[str, int], int]:
        stages = self._stages()
        depths = parameter_regions(self.body, stages)
        return {f"body.{name}": depth for name, depth in depths.items()}, len(stages) + 1

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images [B,3,H,W] in [0, 1] -> tokens [B, h*w, out_dim], mask [B, h*w] (all True); h, w = size / 32."""
        fmap = self.body(self.normalize(resize_to(images, self.image_size)))  # (B, D, h, w)
        return feature_map_tokens(fmap, self.position_codes)
