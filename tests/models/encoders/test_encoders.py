import pytest
import torch

from vqa.models.encoders import IMAGE_ENCODERS, TEXT_ENCODERS, ConvGridEncoder
from vqa.models.encoders.text import reverse_within_length

FROM_SCRATCH = ["gru", "lstm", "transformer"]  # pretrained ones are tested with tiny saved models


@pytest.mark.parametrize("size,grid", [((64, 64), 16), ((75, 75), 25), ((40, 90), 3 * 6)])
def test_conv_grid_gives_one_token_per_cell_for_any_size(size, grid):
    encoder = ConvGridEncoder(out_dim=32, channels=(8, 16, 16, 32))
    tokens, mask = encoder(torch.rand(2, 3, *size))
    assert tokens.shape == (2, grid, 32) and mask.shape == (2, grid) and mask.all()


def test_conv_grid_position_codes_distinguish_cells():
    encoder = ConvGridEncoder(out_dim=32, channels=(8, 32)).eval()
    tokens, _ = encoder(torch.full((1, 3, 16, 16), 0.5))  # a flat image: only position codes differ
    assert torch.unique(tokens[0], dim=0).shape[0] == tokens.shape[1]


def test_reverse_within_length_keeps_padding_in_place():
    x = torch.arange(8.0).view(2, 4, 1)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert reverse_within_length(x, mask).squeeze(-1).tolist() == [[2, 1, 0, 3], [5, 4, 6, 7]]


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_text_encoders_are_padding_invariant(name):
    encoder = TEXT_ENCODERS.create(name, 50).eval()
    ids = torch.randint(2, 50, (3, 6))
    mask = torch.ones(3, 6, dtype=torch.bool)
    mask[1, 4:] = False
    ids[~mask] = 0
    out, out_mask = encoder(ids, mask)
    assert out.shape == (3, 6, encoder.out_dim) and torch.equal(out_mask, mask)
    padded_ids = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], dim=1)
    padded, _ = encoder(padded_ids, padded_mask)
    torch.testing.assert_close(padded[:, :6][mask], out[mask], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", FROM_SCRATCH)
def test_text_encoders_train(name):
    encoder = TEXT_ENCODERS.create(name, 30)
    ids = torch.randint(2, 30, (4, 5))
    out, _ = encoder(ids, torch.ones(4, 5, dtype=torch.bool))
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in encoder.parameters())


def test_transformer_text_encoder_rejects_too_long_questions():
    encoder = TEXT_ENCODERS.create("transformer", 10, max_length=4)
    with pytest.raises(ValueError, match="max_length=4"):
        encoder(torch.ones(1, 5, dtype=torch.long), torch.ones(1, 5, dtype=torch.bool))


def test_registered_encoders_rebuild_from_init_args():
    encoder = ConvGridEncoder(out_dim=16, channels=(4, 16))
    rebuilt = IMAGE_ENCODERS.create("conv_grid", **encoder.init_args)
    assert rebuilt.init_args == encoder.init_args
    rebuilt.load_state_dict(encoder.state_dict())


def test_conv_grid_cell_positions_end_each_token_and_feed_a_position_aware_fusion():
    from fusion import create_fusion
    from vqa.models.encoders import ConvGridEncoder

    encoder = ConvGridEncoder(out_dim=16, channels=(8, 16), cell_positions=True, coord_channels=True).eval()
    images = torch.rand(2, 3, 12, 16)  # a 3 x 4 grid after two stride-2 stages
    tokens, mask = encoder(images)
    assert encoder.out_dim == 18 and tokens.shape == (2, 12, 18) and mask.all()
    xs, ys = tokens[0, :, -2], tokens[0, :, -1]
    torch.testing.assert_close(xs[:4], torch.tensor([0.125, 0.375, 0.625, 0.875]))
    torch.testing.assert_close(ys[::4], torch.tensor([1 / 6, 0.5, 5 / 6]))
    fusion = create_fusion(
        "relation_network",
        encoder.out_dim,
        8,
        dim=16,
        out_dim=8,
        pair_geometry=True,
        partner_pooling="attention",
        attention_heads=4,
    )
    assert fusion(tokens, mask, torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.bool)).shape == (2, 8)
