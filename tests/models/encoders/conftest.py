"""Tiny random-initialized Hugging Face models saved to a temporary folder: no network, seconds to build."""

from __future__ import annotations

import pytest
import torch

WORDS = ["what", "color", "is", "the", "shape", "?", "red", "blue", "circle", "square", "there", "a", "in", "image"]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A 3-layer BERT (width 32) and its WordPiece tokenizer, saved with `save_pretrained`."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast.from_pretrained(folder)  # reads vocab.txt (works in transformers 4 and 5)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory):
    """A 2-layer ViT for 32x32 images (patch 8: 16 patches + CLS), with its image processor config."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = tmp_path_factory.mktemp("tiny_vit")
    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    ViTModel(config).save_pretrained(folder)
    processor = ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3]
    )
    processor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A two-tower CLIP (vision 32x32, patch 8) whose processor resizes the short side and center-crops."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("tiny_clip")
    torch.manual_seed(0)
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    config = CLIPConfig(
        text_config=dict(small, vocab_size=64, max_position_embeddings=16, bos_token_id=0, eos_token_id=1),
        vision_config=dict(small, image_size=32, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)
