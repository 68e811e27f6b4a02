"""How much of a pretrained backbone learns: frozen, the last N layers, or all of it.

A backbone is seen as three regions in parameter order: what comes before its stack of layers (embeddings,
stem), the layers themselves, and what comes after them (final norm, pooler). "Last N layers trainable"
means the last N layers plus everything after them; the input side stays frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import nn

from vqa.errors import VQAError

# 0 = frozen, N = the last N layers (and what follows them), "all" = fully trainable.
TrainableLayers = int | Literal["all"]

# Names under which Hugging Face models keep their stack of blocks (BERT/ViT `layer`, CLIP/Swin `layers`,
# T5 `block`, ConvNeXt `stages`, ...).
LAYER_LIST_NAMES = ("layer", "layers", "block", "blocks", "stages")


class FinetuneError(VQAError, ValueError):
    """A fine-tuning setting that does not fit the backbone (e.g. more trainable layers than it has)."""


def find_layer_list(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's stack of layers: its first `nn.ModuleList` named like a layer list (outermost first).

    Raises:
        FinetuneError: no such list (the backbone can then only be frozen or fully trained).
    """
    for name, module in backbone.named_modules():
        if isinstance(module, nn.ModuleList) and name.rsplit(".", 1)[-1] in LAYER_LIST_NAMES:
            return list(module)
    raise FinetuneError(
        f"cannot find the layers of {type(backbone).__name__} (no ModuleList named one of {LAYER_LIST_NAMES}); "
        'use trainable_layers=0 (frozen) or "all"'
    )


def parameter_regions(backbone: nn.Module, layers: Sequence[nn.Module]) -> dict[str, int]:
    """Depth of every parameter of `backbone`: 0 before the layers, i + 1 inside layer i, len(layers) + 1 after.

    Parameters shared between regions (tied weights) keep the depth of their first appearance.
    """
    owner = {id(p): i + 1 for i, layer in enumerate(layers) for p in layer.parameters()}
    depths: dict[str, int] = {}
    seen_layers = False
    for name, parameter in backbone.named_parameters():
        if id(parameter) in owner:
            depths[name] = owner[id(parameter)]
            seen_layers = True
        else:
            depths[name] = len(layers) + 1 if seen_layers else 0
    return depths


def set_trainable(backbone: nn.Module, layers: Sequence[nn.Module], trainable_layers: TrainableLayers) -> None:
    """Set `requires_grad` on the backbone's parameters.

    Args:
        backbone: the pretrained module.
        layers: its stack of layers, input side first (see `find_layer_list`).
        trainable_layers: 0 = frozen, N = the last N layers and everything after them, "all" = everything.

    Raises:
        FinetuneError: N is negative or larger than the number of layers.
    """
    if trainable_layers == "all":
        backbone.requires_grad_(True)
        return
    if not isinstance(trainable_layers, int) or isinstance(trainable_layers, bool) or trainable_layers < 0:
        raise FinetuneError(f'trainable_layers must be "all" or an integer >= 0, got {trainable_layers!r}')
    if trainable_layers > len(layers):
        raise FinetuneError(
            f"trainable_layers={trainable_layers} but {type(backbone).__name__} has only {len(layers)} layers; "
            'use "all" to train everything'
        )
    backbone.requires_grad_(False)
    if trainable_layers == 0:
        return
    first_trainable = len(layers) - trainable_layers + 1  # depth of the first trainable layer
    named = dict(backbone.named_parameters())
    for name, depth in parameter_regions(backbone, layers).items():
        if depth >= first_trainable:
            named[name].requires_grad_(True)


def backbone_depths(backbone: nn.Module, prefix: str) -> tuple[dict[str, int], int]:
    """`Encoder.parameter_depths()` for an encoder holding `backbone` under the attribute `prefix`.

    Returns ({}, 0) (one learning rate for all) when the backbone has no recognizable layer list.
    """
    try:
        layers = find_layer_list(backbone)
    except FinetuneError:
        return {}, 0
    depths = parameter_regions(backbone, layers)
    return {f"{prefix}.{name}": depth for name, depth in depths.items()}, len(layers) + 1
