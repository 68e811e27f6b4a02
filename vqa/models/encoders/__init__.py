"""Image encoders, text encoders and tokenizers, each behind one contract and selectable by name."""

from __future__ import annotations

from vqa.models.encoders.base import IMAGE_ENCODERS, TEXT_ENCODERS, TOKENIZERS, ImageEncoder, TextEncoder, Tokenizer
from vqa.models.encoders.efficientnet_lite import EfficientNetLiteEncoder
from vqa.models.encoders.features import PrecomputedFeatures
from vqa.models.encoders.hf_text import HFTextEncoder, HFTokenizer
from vqa.models.encoders.hf_vision import HFImageEncoder
from vqa.models.encoders.image import ConvGridEncoder
from vqa.models.encoders.patch import PatchEmbedEncoder
from vqa.models.encoders.text import GRUTextEncoder, LSTMTextEncoder, TransformerTextEncoder
from vqa.models.encoders.tokenizer import WordTokenizer
from vqa.models.encoders.torchvision_grid import TorchvisionEncoder

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
