"""The pre-extracted-features encoder and the from-scratch patch embedding."""

import math

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


def test_position_encoding_adds_sinusoids_of_the_last_two_columns_and_keeps_them_last():
    encoder = PrecomputedFeatures(dim=4, position_frequencies=(1.0, 3.0))
    assert encoder.out_dim == 4 + 4 * 2
    features = torch.tensor([[[1.0, 0.0, 0.25, 0.5], [0.0, 1.0, 0.75, 0.125]]])  # (1, 2, 4): two objects at (x, y)
    tokens, mask = encoder(features, torch.tensor([[True, True]]))
    assert tokens.shape == (1, 2, 12)
    assert torch.equal(tokens[..., :2], features[..., :2]) and torch.equal(tokens[..., -2:], features[..., -2:])
    x, y = 0.75, 0.125
    expected = [
        *(math.cos(1 * x), math.cos(1 * y), math.sin(1 * x), math.sin(1 * y)),
        *(math.cos(3 * x), math.cos(3 * y), math.sin(3 * x), math.sin(3 * y)),
    ]
    assert torch.allclose(tokens[0, 1, 2:10], torch.tensor(expected), atol=1e-6)


def test_position_encodings_of_two_tokens_multiply_into_a_function_of_their_offset():
    # Why the encoding helps "closest"/"furthest": a dot product of two encodings depends only on the offset.
    encoder = PrecomputedFeatures(dim=2, position_frequencies=(2.0,))
    a = encoder(torch.tensor([[[0.1, 0.2], [0.4, 0.6]]]))[0][0, :, :4]  # offset (0.3, 0.4)
    b = encoder(torch.tensor([[[0.5, 0.1], [0.8, 0.5]]]))[0][0, :, :4]  # the same offset elsewhere
    products_a = (a[0].view(2, 2) * a[1].view(2, 2)).sum(0)  # per axis: cos cos + sin sin
    products_b = (b[0].view(2, 2) * b[1].view(2, 2)).sum(0)
    assert torch.allclose(products_a, torch.cos(2.0 * torch.tensor([0.3, 0.4])), atol=1e-6)
    assert torch.allclose(products_a, products_b, atol=1e-6)


def test_padded_tokens_get_zero_position_encodings():
    encoder = PrecomputedFeatures(dim=3, position_frequencies=(1.0,))
    features = torch.rand(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    tokens, out_mask = encoder(features, mask)
    assert torch.equal(out_mask, mask)
    encodings = tokens[..., 1:5]  # between the one feature column and (x, y)
    assert torch.count_nonzero(encodings[0, 2:]) == 0 and torch.count_nonzero(encodings[1]) > 0
    assert torch.equal(tokens[..., -2:], features[..., -2:])
    with pytest.raises(ValueError, match=r"\[batch, tokens, 3\]"):
        encoder(torch.rand(2, 4, 7))  # the width asked for is that of the data, before encoding


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
