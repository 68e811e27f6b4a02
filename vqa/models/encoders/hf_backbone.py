"""Loading a `transformers` model (hub name, local folder or `package:` path) as a backbone."""

from __future__ import annotations

from torch import nn

from vqa.models.encoders.paths import PretrainedNotFoundError, resolve_pretrained


def load_hf_model(location: str, tower: str) -> nn.Module:
    """`transformers.AutoModel` from `location`, in float32 and eval mode.

    Args:
        location: a hub name (needs the network or the local Hugging Face cache), a local folder saved with
            `save_pretrained`, or `package:<module>/<folder>` (see `vqa.models.encoders.paths`).
        tower: for two-tower models (CLIP, SigLIP, ...) the attribute holding the wanted tower,
            "vision_model" or "text_model"; single-tower models are returned whole.

    Raises:
        PretrainedNotFoundError: the model cannot be found or read.
    """
    from transformers import AutoModel  # imported here: the from-scratch toolkit never needs transformers

    path = resolve_pretrained(location)
    try:
        model = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise PretrainedNotFoundError(
            f"cannot load the Hugging Face model {location!r} (a hub name needs the network or a cached copy; "
            f"a folder needs config.json and the weights): {error}"
        ) from error
    part = getattr(model, tower, None)
    backbone = part if isinstance(part, nn.Module) else model
    return backbone.float().eval()


def hidden_width(backbone: nn.Module) -> int:
    """Width of the backbone's output tokens, from its config (`hidden_size`, or the last of `hidden_sizes`)."""
    config = backbone.config
    width = getattr(config, "hidden_size", None)
    if width is None and getattr(config, "hidden_sizes", None):
        width = config.hidden_sizes[-1]
    if width is None:
        raise ValueError(f"cannot tell the output width of {type(backbone).__name__} from its config")
    return int(width)
