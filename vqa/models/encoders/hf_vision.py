"""Any `transformers` vision backbone (ViT, DeiT, CLIP/SigLIP vision, DINOv2, Swin, ConvNeXt, ...) as an
image encoder: its patch (or feature-map) tokens become the image tokens."""

from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vqa.errors import VQAError
from vqa.models.encoders.base import IMAGE_ENCODERS, ImageEncoder
from vqa.models.encoders.finetune import TrainableLayers, backbone_depths, find_layer_list, set_trainable
from vqa.models.encoders.hf_backbone import hidden_width, load_hf_model
from vqa.models.encoders.paths import PretrainedNotFoundError, resolve_pretrained

# Parameters that each add one token in front of the patch tokens (ViT/DINOv2 CLS, CLIP CLS, DeiT distillation).
ONE_PREFIX_TOKEN = ("cls_token", "class_embedding", "distillation_token")


def count_prefix_tokens(backbone: torch.nn.Module) -> int:
    """How many non-patch tokens (CLS, distillation, register tokens) lead the backbone's output sequence."""
    count = 0
    for name, parameter in backbone.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ONE_PREFIX_TOKEN:
            count += 1
        elif leaf == "register_tokens":  # DINOv2 with registers: [1, R, D]
            count += parameter.shape[-2]
    return count


def _size_field(size: Any, key: str) -> int | None:
    """Read `key` from an image processor's size (a dict in transformers 4, a `SizeDict` in 5)."""
    value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
    return int(value) if value else None


def processor_preprocessing(location: str) -> tuple[list[float], list[float], tuple[int, int]]:
    """(mean, std, (height, width)) from the model's image processor config.

    The size is the one the model sees: the center-crop size when the processor crops, otherwise its resize
    target (a square of `shortest_edge` when only that is given).

    Raises:
        PretrainedNotFoundError: no image processor config is found (then pass mean, std and image_size).
    """
    from transformers import AutoImageProcessor

    try:
        processor = AutoImageProcessor.from_pretrained(resolve_pretrained(location))
    except (OSError, ValueError) as error:
        raise PretrainedNotFoundError(
            f"no image processor config (preprocessor_config.json) for {location!r}; pass mean, std and "
            f"image_size to the image encoder instead: {error}"
        ) from error
    crops = getattr(processor, "do_center_crop", False) and getattr(processor, "crop_size", None)
    size = processor.crop_size if crops else processor.size
    height, width = _size_field(size, "height"), _size_field(size, "width")
    if not (height and width):
        edge = _size_field(size, "shortest_edge")
        if edge is None:
            raise PretrainedNotFoundError(f"the image processor of {location!r} gives no usable size ({size})")
        height = width = edge
    return list(processor.image_mean), list(processor.image_std), (height, width)


def resize_to(images: Tensor, size: tuple[int, int] | None) -> Tensor:
    """images [B,3,H,W] -> [B,3,*size] on their device (bilinear, antialiased when shrinking); None keeps them."""
    if size is None or tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


@IMAGE_ENCODERS.register("hf_vision")
class HFImageEncoder(ImageEncoder):
    """A pretrained `transformers` vision model; one token per patch (or feature-map cell), all real.

    Preprocessing comes from the model's image processor config: images in [0, 1] are resized on the device
    to the size the model was trained at and standardized with its mean/std.

    Args:
        model: hub name, local folder (`save_pretrained` output) or `package:<module>/<folder>`.
        trainable_layers: 0 = frozen, N = the last N layers (and the norms after them) learn, "all" = all.
        keep_cls: keep the leading CLS/distillation/register tokens (default: patch tokens only).
        image_size: (height, width) fed to the model (default: from the image processor config).
        mean: per-channel mean for normalization (default: from the image processor config).
        std: per-channel standard deviation (default: from the image processor config).
    """

    def __init__(
        self,
        model: str,
        trainable_layers: TrainableLayers = 0,
        keep_cls: bool = False,
        image_size: tuple[int, int] | None = None,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
    ) -> None:
        if mean is None or std is None or image_size is None:
            auto_mean, auto_std, auto_size = processor_preprocessing(model)
            mean, std, image_size = mean or auto_mean, std or auto_std, image_size or auto_size
        super().__init__(mean, std)
        self.backbone = load_hf_model(model, tower="vision_model")
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.out_dim = hidden_width(self.backbone)
        self.keep_cls = keep_cls
        self.num_prefix_tokens = count_prefix_tokens(self.backbone)
        # ViT-style models accept other sizes only when asked to interpolate their position embeddings.
        self._forward_kwargs = (
            {"interpolate_pos_encoding": True}
            if "interpolate_pos_encoding" in inspect.signature(self.backbone.forward).parameters
            else {}
        )
        layers = find_layer_list(self.backbone) if trainable_layers not in (0, "all") else []
        set_trainable(self.backbone, layers, trainable_layers)
        self.train()  # a new module is in training mode; this also puts its frozen parts in eval mode

    def parameter_depths(self) -> tuple[dict[str, int], int]:
        return backbone_depths(self.backbone, "backbone")

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images [B,3,H,W] in [0, 1] -> tokens [B, Ni, out_dim], mask [B, Ni] (all True).

        Ni = number of patches (or feature-map cells) at `image_size`, plus the prefix tokens with `keep_cls`.
        """
        pixels = self.normalize(resize_to(images, self.image_size))
        hidden = self.backbone(pixel_values=pixels, **self._forward_kwargs).last_hidden_state
        if hidden.ndim == 4:  # convolutional backbones give a feature map (B, D, h, w)
            tokens = hidden.flatten(2).transpose(1, 2)  # (B, h*w, D)
        elif self.keep_cls:
            tokens = hidden  # (B, prefix + patches, D)
        else:
            tokens = hidden[:, self.num_prefix_tokens :]  # (B, patches, D)
        if tokens.shape[1] == 0:
            raise VQAError(f"the vision model gives no patch tokens for images of size {self.image_size}")
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return tokens, mask
