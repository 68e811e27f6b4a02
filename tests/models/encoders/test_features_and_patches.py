"""The pre-extracted-features encoder and the from-scratch patch embedding."""

import pytest
import torch

import fusion
from vqa.models.encoders import IMAGE_ENCODERS, GRUTextEncoder, PatchEmbedEncoder, PrecomputedFeatures
from vqa.models.model import VQAModel
from vqa.training.module import soft_targets


def test_features_pass_through_as_float32_with_every_token_real():
    encoder = PrecomputedFeatures(dim=6)
    features = torch.randn(2, 5, 6).half()
    tokens, mask = encoder(features)
    assert tokens.dtype == torch.float32 and torch.equal(tokens, features.float())
    assert mask.shape == (2, 5) and mask.dtype == torch.bool and mask.all()


def test_features_of_the_wrong_width_are_refused_with_the_setting_to_change():
    with pytest.raises(ValueError, match=r"\[batch, tokens, 8\].*init_args.dim"):
        PrecomputedFeatures(dim=8)(torch.randn(2, 5, 6))
    with pytest.raises(ValueError, match="expects features"):
        PrecomputedFeatures(dim=3)(torch.rand(2, 3, 16, 16))  # pixels are not features


def test_model_hands_features_to_the_encoder_untouched():
    model = VQAModel(
        PrecomputedFeatures(dim=12),
        GRUTextEncoder(20, embed_dim=8, hidden_dim=16),
        fusion.LateFusion(12, 16, out_dim=8),
        num_answers=5,
        head_hidden=8,
    )
    seen = []
    model.image_encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    features = torch.randn(3, 7, 12)
    logits = model(features, torch.randint(1, 20, (3, 4)), torch.ones(3, 4, dtype=torch.bool))
    assert seen[0] is features and logits.shape == (3, 5)


def test_pixels_reach_a_cnn_encoder_channels_last_in_unit_range():
    seen = []
    encoder = PatchEmbedEncoder(dim=16, patch_size=8, image_size=(32, 32))
    encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    model = VQAModel(
        encoder,
        GRUTextEncoder(20, embed_dim=8, hidden_dim=16),
        fusion.LateFusion(16, 16, out_dim=8),
        num_answers=5,
        head_hidden=8,
    )
    model(
        torch.full((2, 3, 32, 32), 255, dtype=torch.uint8),
        torch.ones(2, 3, dtype=torch.long),
        torch.ones(2, 3, dtype=torch.bool),
    )
    assert seen[0].is_contiguous(memory_format=torch.channels_last) and seen[0].shape[1] == 3
    assert seen[0].dtype == torch.float32 and float(seen[0].max()) == 1.0


@pytest.mark.parametrize("learned", [True, False])
def test_patch_embedding_gives_one_token_per_patch(learned):
    encoder = PatchEmbedEncoder(dim=16, patch_size=8, image_size=(32, 48), learned_positions=learned)
    tokens, mask = encoder(torch.rand(2, 3, 32, 48))
    assert tokens.shape == (2, 4 * 6, 16) and mask.shape == (2, 24) and mask.all()
    resized, _ = encoder(torch.rand(2, 3, 64, 64))  # other sizes are resized to image_size on the device
    assert resized.shape == (2, 24, 16)


def test_patch_embedding_without_a_fixed_size_uses_sine_codes_for_any_grid():
    encoder = PatchEmbedEncoder(dim=16, patch_size=8, image_size=None, learned_positions=False).eval()
    tokens, _ = encoder(torch.full((1, 3, 16, 24), 0.5))  # a flat image: only the position codes differ
    assert tokens.shape == (1, 6, 16) and torch.unique(tokens[0], dim=0).shape[0] == 6


def test_patch_embedding_settings_are_checked():
    with pytest.raises(ValueError, match="multiple of patch_size=32"):
        PatchEmbedEncoder(patch_size=32, image_size=(100, 96))
    with pytest.raises(ValueError, match="need a fixed image_size"):
        PatchEmbedEncoder(image_size=None, learned_positions=True)


def test_patch_embedding_rebuilds_from_its_registry_entry():
    encoder = PatchEmbedEncoder(dim=16, patch_size=8, image_size=(16, 16))
    rebuilt = IMAGE_ENCODERS.create("patch_embed", **encoder.init_args)
    rebuilt.load_state_dict(encoder.state_dict())
    images = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(rebuilt(images)[0], encoder(images)[0])
    assert IMAGE_ENCODERS.get("features") is PrecomputedFeatures


def test_a_model_on_features_learns():
    torch.manual_seed(0)
    model = VQAModel(
        PrecomputedFeatures(dim=12),
        GRUTextEncoder(20, embed_dim=8, hidden_dim=16),
        fusion.CrossAttentionFusion(12, 16, out_dim=16, dim=16, num_heads=2, num_layers=1),
        num_answers=4,
        head_hidden=16,
        head_dropout=0.0,
    )
    features, ids = torch.randn(16, 5, 12), torch.randint(1, 20, (16, 3))
    mask = torch.ones(16, 3, dtype=torch.bool)
    targets = soft_targets(torch.randint(0, 4, (16, 1)), torch.ones(16, 1), 4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(features, ids, mask), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses
