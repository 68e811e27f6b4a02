"""Image encoders, text encoders and tokenizers, each behind one contract and selectable by name."""

from __future__ import annotations

from vqa.encoders.base import ImageEncoder, TextEncoder, Tokenizer
from vqa.registry import Registry

IMAGE_ENCODERS: Registry[ImageEncoder] = Registry("image encoder", ImageEncoder)
TEXT_ENCODERS: Registry[TextEncoder] = Registry("text encoder", TextEncoder)
TOKENIZERS: Registry[Tokenizer] = Registry("tokenizer", Tokenizer)

# Importing the implementations registers them.
from vqa.encoders.image import ConvGridEncoder  # noqa: E402
from vqa.encoders.text import GRUTextEncoder, LSTMTextEncoder, TransformerTextEncoder  # noqa: E402
from vqa.encoders.tokenizer import WordTokenizer  # noqa: E402
from vqa.encoders.hf_text import HFTextEncoder, HFTokenizer  # noqa: E402
from vqa.encoders.hf_vision import HFImageEncoder  # noqa: E402
from vqa.encoders.torchvision_grid import TorchvisionEncoder  # noqa: E402
from vqa.encoders.efficientnet_lite import EfficientNetLiteEncoder  # noqa: E402
from vqa.encoders.features import PrecomputedFeatures  # noqa: E402
from vqa.encoders.patch import PatchEmbedEncoder  # noqa: E402

__all__ = [
    "IMAGE_ENCODERS",
    "TEXT_ENCODERS",
    "TOKENIZERS",
    "ImageEncoder",
    "TextEncoder",
    "Tokenizer",
    "ConvGridEncoder",
    "GRUTextEncoder",
    "LSTMTextEncoder",
    "TransformerTextEncoder",
    "WordTokenizer",
    "HFTextEncoder",
    "HFTokenizer",
    "HFImageEncoder",
    "TorchvisionEncoder",
    "EfficientNetLiteEncoder",
    "PrecomputedFeatures",
    "PatchEmbedEncoder",
]
