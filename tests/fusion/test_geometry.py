"""Distance-biased attention (fusion/geometry.py) and the `early` fusion's `distance_bias` option."""

from __future__ import annotations

import pytest
import torch

from fusion import create_fusion
from fusion.geometry import DistanceBias
from fusion.layers import MultiHeadAttention


def test_distance_bias_by_hand():
    bias_module = DistanceBias(num_heads=2, max_slope=10.0, self_bias=-4.0, outside_bias=-7.0)  # slopes -10, +10
    torch.testing.assert_close(bias_module.outside(), torch.tensor([-7.0, -7.0]))
    positions = torch.tensor([[[0.0, 0.0], [0.3, 0.4], [0.6, 0.8]]])  # distances 0.5 and 1.0 from token 0
    bias = bias_module(positions)
    assert bias.shape == (1, 2, 3, 3)
    far_head, near_head = bias[0, 0], bias[0, 1]
    torch.testing.assert_close(near_head[0], torch.tensor([-4.0, -5.0, -10.0]))  # self term, then -10 * distance
    torch.testing.assert_close(far_head[0], torch.tensor([-4.0, 5.0, 10.0]))
    torch.testing.assert_close(near_head, near_head.T)


def test_a_near_preferring_head_attends_to_the_closest_other_token():
    """With the content logits switched off, attention is softmax(bias): its argmax is the nearest other token
    for a positive slope and the furthest for a negative one, never the token itself."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(dim=8, num_heads=2)
    with torch.no_grad():
        attention.q.weight.zero_()
        attention.q.bias.zero_()
    bias_module = DistanceBias(num_heads=2, max_slope=30.0, self_bias=-30.0)
    positions = torch.rand(4, 6, 2)
    x = torch.randn(4, 6, 8)
    _, weights = attention(x, x, torch.ones(4, 6, dtype=torch.bool), need_weights=True, bias=bias_module(positions))
    distance = torch.cdist(positions, positions)
    eye = torch.eye(6, dtype=torch.bool)
    nearest = distance.masked_fill(eye, float("inf")).argmin(-1)  # (B, N)
    furthest = distance.argmax(-1)
    assert torch.equal(weights[:, 1].argmax(-1), nearest)
    assert torch.equal(weights[:, 0].argmax(-1), furthest)


def test_biased_attention_gives_the_same_output_on_the_fast_and_the_explicit_path():
    torch.manual_seed(0)
    attention = MultiHeadAttention(dim=8, num_heads=2).eval()
    x = torch.randn(3, 5, 8)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False], [True] * 5])
    bias = torch.randn(3, 2, 5, 5)
    fast, _ = attention(x, x, mask, bias=bias)
    explicit, weights = attention(x, x, mask, need_weights=True, bias=bias)
    torch.testing.assert_close(fast, explicit)
    assert torch.count_nonzero(weights[1, :, :, 3:]) == 0  # padded keys get no weight


def early_inputs(b: int = 3, ni: int = 5, nt: int = 4, img_dim: int = 14):
    img = torch.rand(b, ni, img_dim)  # last two columns: (x, y) in [0, 1]
    img_mask = torch.ones(b, ni, dtype=torch.bool)
    img_mask[0, 3:] = False
    txt = torch.randn(b, nt, 16)
    txt_mask = torch.ones(b, nt, dtype=torch.bool)
    txt_mask[1, 2:] = False
    return img, img_mask, txt, txt_mask


def test_early_with_distance_bias_ignores_padded_image_tokens_and_depends_on_positions():
    torch.manual_seed(0)
    f = create_fusion("early", 14, 16, out_dim=8, dim=32, num_heads=4, dropout=0.0, distance_bias=True).eval()
    img, img_mask, txt, txt_mask = early_inputs()
    out = f(img, img_mask, txt, txt_mask)
    assert out.shape == (3, 8)
    padded = img.clone()
    padded[0, 3:] = 1e4  # anything in padded tokens, positions included
    torch.testing.assert_close(f(padded, img_mask, txt, txt_mask), out)
    moved = img.clone()
    moved[:, :, -2:] = torch.rand(3, 5, 2)
    same_content = f(moved, img_mask, txt, txt_mask)
    plain = create_fusion("early", 14, 16, out_dim=8, dim=32, num_heads=4, dropout=0.0).eval()
    plain.load_state_dict(f.state_dict(), strict=False)  # the same weights without the distance terms
    with torch.no_grad():
        for bias_module in f.distance_biases:
            bias_module.slope.zero_()
            bias_module.self_term.zero_()
            bias_module.outside_term.zero_()
    torch.testing.assert_close(f(img, img_mask, txt, txt_mask), plain(img, img_mask, txt, txt_mask))
    assert not torch.allclose(same_content, out)  # positions reach the output through the bias too


def test_every_distance_bias_of_early_gets_a_gradient():
    """The last layer's image-to-image attention cannot reach [CLS]: it has no bias, so none is left unused
    (which distributed training would refuse)."""
    f = create_fusion("early", 14, 16, out_dim=8, dim=32, num_layers=3, num_heads=4, dropout=0.0, distance_bias=True)
    assert len(f.distance_biases) == 2
    img, img_mask, txt, txt_mask = early_inputs()
    f(img, img_mask, txt, txt_mask).pow(2).sum().backward()
    for module in f.distance_biases:
        for parameter in (module.slope, module.self_term, module.outside_term):
            assert parameter.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="num_layers >= 2"):
        create_fusion("early", 14, 16, num_layers=1, distance_bias=True)


def test_early_distance_bias_refuses_tokens_without_positions():
    f = create_fusion("early", 14, 16, out_dim=8, dim=32, num_heads=4, distance_bias=True)
    img, img_mask, txt, txt_mask = early_inputs()
    img[1, 0, -1] = 3.5  # a pixel-grid feature, not a position
    with pytest.raises(ValueError, match=r"early with distance_bias .* last two columns.*3\.5"):
        f(img, img_mask, txt, txt_mask)
