"""The bilinear pooling operators against hand-written formulas, and the bilinear fusions' glimpses."""

from __future__ import annotations

import inspect

import pytest
import torch

from fusion import FUSIONS, create_fusion
from fusion.bilinear_pooling import (
    BlockTermBilinear,
    FactorizedBilinear,
    HighOrderFactorizedBilinear,
    LowRankBilinear,
    PowerL2Norm,
    TuckerBilinear,
    signed_sqrt,
)


def test_signed_sqrt_and_l2_by_hand():
    torch.testing.assert_close(signed_sqrt(torch.tensor([-4.0, 0.0, 9.0])), torch.tensor([-2.0, 0.0, 3.0]))
    z = PowerL2Norm(signed_sqrt=True, l2_normalize=True)(torch.tensor([[-4.0, 0.0, 9.0]]))
    torch.testing.assert_close(z, torch.tensor([[-2.0, 0.0, 3.0]]) / 13**0.5)
    x = torch.zeros(3, requires_grad=True)
    PowerL2Norm(True, True)(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_mlb_is_a_hadamard_product_of_tanh_projections():
    op = LowRankBilinear(5, 4, rank=6)
    x, y = torch.randn(2, 5), torch.randn(2, 4)
    expected = torch.tanh(x @ op.x_proj[1].weight.T + op.x_proj[1].bias) * torch.tanh(
        y @ op.y_proj[1].weight.T + op.y_proj[1].bias
    )
    torch.testing.assert_close(op(x, y), expected)


def test_mfb_output_unit_is_a_rank_k_bilinear_form():
    op = FactorizedBilinear(5, 4, out_dim=3, factor=2, signed_sqrt=False, l2_normalize=False)
    x, y = torch.randn(5), torch.randn(4)
    u, v = op.x_proj(x), op.y_proj(y)  # (out * k,)
    expected = torch.stack([sum(u[j * 2 + k] * v[j * 2 + k] for k in range(2)) for j in range(3)])
    torch.testing.assert_close(op(x, y), expected)


def test_mfh_cascades_mfb_blocks():
    op = HighOrderFactorizedBilinear(5, 4, block_dim=3, factor=2, order=2)
    x, y = torch.randn(2, 5), torch.randn(2, 4)
    first, second = op.blocks
    e1 = first.expand(x, y)
    e2 = e1 * second.expand(x, y)  # the second block multiplies into the first one's expansion
    torch.testing.assert_close(op(x, y), torch.cat([first.pool(e1), second.pool(e2)], -1))
    assert op.out_dim == 6
    torch.testing.assert_close(op(x, y)[:, :3].norm(dim=-1), torch.ones(2))  # each block L2-normalized


def test_mutan_sums_rank_one_tucker_terms():
    op = TuckerBilinear(5, 4, out_dim=3, proj_dim=6, rank=2)
    x, y = torch.randn(5), torch.randn(4)
    xt, yt = op.x_proj(x), op.y_proj(y)
    wx, bx = op.x_factors[0].weight.view(2, 3, 6), op.x_factors[0].bias.view(2, 3)
    wy, by = op.y_factors[0].weight.view(2, 3, 6), op.y_factors[0].bias.view(2, 3)
    expected = sum(torch.tanh(wx[r] @ xt + bx[r]) * torch.tanh(wy[r] @ yt + by[r]) for r in range(2))
    torch.testing.assert_close(op(x, y), expected)


def test_block_chunks_only_meet_their_own_chunk():
    op = BlockTermBilinear(8, 8, mm_dim=8, chunks=4, rank=3)
    with torch.no_grad():  # make the input projections identities so chunks of x are chunks of the input
        for proj in (op.x_proj[1], op.y_proj[1]):
            proj.weight.copy_(torch.eye(8))
            proj.bias.zero_()
    x, y = torch.randn(8), torch.randn(8)
    x2 = x.clone()
    x2[2:4] += 1.0  # change chunk 1 only
    changed = (op(x2, y) - op(x, y)).abs().view(4, 2).sum(-1)
    assert changed[1] > 1e-4 and torch.all(changed[[0, 2, 3]] == 0)
    torch.testing.assert_close(op(x, y).view(4, 2).norm(dim=-1), torch.ones(4))  # normalized per chunk


def test_block_rejects_indivisible_chunks():
    with pytest.raises(ValueError, match="divisible by chunks"):
        BlockTermBilinear(4, 4, mm_dim=10, chunks=3)


@pytest.mark.parametrize("name", ["mlb", "mfb", "mfh", "mutan", "block"])
def test_glimpses_are_question_guided_and_optional(name):
    small = {"mm_dim": 16, "chunks": 4, "rank": 2, "factor": 2, "proj_dim": 8, "attention_hidden": 8}
    kwargs = {k: v for k, v in small.items() if k in inspect.signature(FUSIONS.get(name)).parameters}
    f = create_fusion(name, 6, 5, out_dim=4, glimpses=3, dropout=0.0, **kwargs).eval()
    img, txt = torch.randn(2, 7, 6), torch.randn(2, 4, 5)
    img_mask, txt_mask = torch.ones(2, 7, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)
    with f.recording_attention() as attention:
        f(img, img_mask, txt, txt_mask)
        first = attention["glimpses"].clone()
        f(img, img_mask, txt.flip(0), txt_mask)  # same images, swapped questions
    assert first.shape == (2, 3, 7)
    torch.testing.assert_close(first.sum(-1), torch.ones(2, 3))
    assert not torch.allclose(attention["glimpses"], first), "the glimpses must depend on the question"
    plain = create_fusion(name, 6, 5, out_dim=4, glimpses=0, **kwargs)
    assert not plain.exposes_attention and not hasattr(plain, "attention_pooling")
    assert plain(img, img_mask, txt, txt_mask).shape == (2, 4)
