"""Hugging Face vision backbones as image encoders (tiny random models from a temporary folder)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vqa.models.encoders import IMAGE_ENCODERS, HFImageEncoder
from vqa.models.encoders.finetune import FinetuneError
from vqa.models.encoders.paths import PretrainedNotFoundError
from vqa.registry import part_config


def test_vit_patch_tokens_with_preprocessing_from_the_processor(tiny_vit_dir):
    encoder = HFImageEncoder(tiny_vit_dir)
    assert encoder.image_size == (32, 32) and encoder.out_dim == 32
    torch.testing.assert_close(encoder.mean.flatten(), torch.tensor([0.4, 0.5, 0.6]))
    torch.testing.assert_close(encoder.std.flatten(), torch.tensor([0.2, 0.25, 0.3]))
    images = torch.rand(3, 3, 64, 48)  # any size: resized on the device to 32x32
    tokens, mask = encoder(images)
    assert tokens.shape == (3, 16, 32) and mask.shape == (3, 16) and mask.dtype == torch.bool and mask.all()
    # the same as running the backbone by hand: resize, standardize, drop the CLS token
    resized = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1), torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    pixels = (resized - mean) / std
    expected = encoder.backbone(pixel_values=pixels).last_hidden_state[:, 1:]
    torch.testing.assert_close(tokens, expected)


def test_keep_cls_keeps_the_leading_token(tiny_vit_dir):
    encoder = HFImageEncoder(tiny_vit_dir, keep_cls=True)
    tokens, mask = encoder(torch.rand(2, 3, 32, 32))
    assert tokens.shape == (2, 17, 32) and mask.all()


def test_clip_vision_tower_of_a_two_tower_model_with_center_crop_size(tiny_clip_dir):
    encoder = HFImageEncoder(tiny_clip_dir)
    assert type(encoder.backbone).__name__.startswith("CLIPVision")
    assert encoder.image_size == (32, 32)  # the crop size, not the shortest-edge resize
    assert encoder.num_prefix_tokens == 1
    tokens, mask = encoder(torch.rand(2, 3, 50, 50))
    assert tokens.shape == (2, 16, 32) and mask.all()


def test_explicit_preprocessing_overrides_and_config_round_trip(tiny_vit_dir):
    encoder = HFImageEncoder(tiny_vit_dir, image_size=(48, 48), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    tokens, _ = encoder(torch.rand(1, 3, 32, 32))
    assert tokens.shape == (1, 36, 32)  # 48 / 8 = 6x6 patches, position embeddings interpolated
    config = part_config(encoder)
    rebuilt = IMAGE_ENCODERS.create(config["name"], **config["init_args"])
    rebuilt.load_state_dict(encoder.state_dict())
    images = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(rebuilt.eval()(images)[0], encoder.eval()(images)[0])


def test_frozen_by_default_stays_in_eval_mode(tiny_vit_dir):
    encoder = HFImageEncoder(tiny_vit_dir)
    assert encoder.is_frozen and not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not any(m.training for m in encoder.backbone.modules())


def test_last_layer_trainable_rest_frozen(tiny_vit_dir):
    encoder = HFImageEncoder(tiny_vit_dir, trainable_layers=1)
    assert not encoder.is_frozen
    trainable = {n for n, p in encoder.backbone.named_parameters() if p.requires_grad}
    assert trainable and all(".1." in n or not n.startswith(("layers", "encoder", "embeddings")) for n in trainable)
    assert not any("embeddings" in n or ".0." in n for n in trainable)
    encoder.train()
    layers = [m for n, m in encoder.backbone.named_modules() if n.endswith(("layer", "layers"))][0]
    assert not layers[0].training and layers[1].training
    assert not encoder.backbone.embeddings.training


def test_too_many_trainable_layers_is_a_clear_error(tiny_vit_dir):
    with pytest.raises(FinetuneError, match="trainable_layers=5 but .* has only 2 layers"):
        HFImageEncoder(tiny_vit_dir, trainable_layers=5)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(PretrainedNotFoundError, match="pass mean, std and image_size"):
        HFImageEncoder(str(tmp_path / "nowhere"))
