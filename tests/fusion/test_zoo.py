"""Fusion-specific behaviour of the zoo: what makes each strategy what its paper says it is."""

from __future__ import annotations

import contextlib
import importlib
import io
from pathlib import Path

import pytest
import torch
import yaml

from fusion import FUSIONS, create_fusion, list_fusions
from fusion.film import max_pool_share
from fusion.guided_attention import GuidedAttentionFusion
from tests.fusion.test_registry import build, inputs
from vqa.models.encoders import ConvGridEncoder
from vqa.models.model import AnswerHead, VQAModel

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list_fusions())
def test_each_fusion_fits_a_small_batch(name):
    """A fusion plus a linear read-out memorizes 16 random targets: the loss falls by more than half."""
    f = build(name, dropout=0.0)
    readout = torch.nn.Linear(f.out_dim, 3)
    img, img_mask, txt, txt_mask = inputs(16, 5, 4)
    target = torch.randn(16, 3)
    optimizer = torch.optim.Adam([*f.parameters(), *readout.parameters()], lr=3e-3)
    losses = []
    for _ in range(40):
        loss = (readout(f(img, img_mask, txt, txt_mask)) - target).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_late_score_is_additively_separable():
    f = build("late_score").eval()
    (i1, m1, t1, n1), (i2, m2, t2, n2) = inputs(3, 5, 4), inputs(3, 5, 4)
    same = f(i1, m1, t1, n1) + f(i2, m2, t2, n2)
    crossed = f(i1, m1, t2, n2) + f(i2, m2, t1, n1)
    torch.testing.assert_close(same, crossed)
    img_scores, txt_scores = f.modality_scores(i1, m1, t1, n1)
    torch.testing.assert_close(img_scores + txt_scores, f(i1, m1, t1, n1))


def test_late_score_with_a_linear_head_gives_logits_that_add_per_modality():
    """With `head_hidden=0`, a whole VQAModel's logits are image-only + question-only: decision-level fusion."""
    head = AnswerHead(8, 5, hidden_dim=0)
    assert [type(m) for m in head] == [torch.nn.Dropout, torch.nn.Linear]

    class Tokens(torch.nn.Module):  # a stand-in text encoder: token ids -> fixed random vectors
        out_dim = 12

        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(20, 12)

        def forward(self, ids, mask):
            return self.embed(ids), mask

    image = ConvGridEncoder(out_dim=16, channels=(8, 16))
    model = VQAModel(image, Tokens(), create_fusion("late_score", 16, 12, out_dim=8, hidden_dim=8), 5, head_hidden=0)
    model.eval()
    images = torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8)
    ids = torch.randint(1, 20, (2, 4))
    mask = torch.ones(2, 4, dtype=torch.bool)
    same = model(images, ids, mask, torch.tensor([0, 1])).sum(0)
    crossed = model(images, ids.flip(0), mask, torch.tensor([0, 1])).sum(0)
    torch.testing.assert_close(same, crossed)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_guided_attention_defaults_are_mcan_small():
    with torch.device("meta"):
        f = GuidedAttentionFusion(2048, 1024)
    d, ffn, flat, out = 512, 2048, 512, 1024
    attention = 4 * d * d + 4 * d  # q, k, v, merge
    feed_forward = d * ffn + ffn + ffn * d + d
    sa_unit = attention + feed_forward + 2 * 2 * d  # + 2 LayerNorms
    sga_unit = 2 * attention + feed_forward + 3 * 2 * d
    att_flat = d * flat + flat + flat * 1 + 1 + d * out + out
    expected = (2048 * d + d) + (1024 * d + d) + 6 * sa_unit + 6 * sga_unit + 2 * att_flat + 2 * out
    assert len(f.encoder) == len(f.decoder) == 6 and f.decoder[0].self_attn.num_heads == 8
    assert _count(f) == expected and f.out_dim == out


def test_guided_attention_encoder_reads_only_the_question():
    f = build("guided_attention").eval()
    img, img_mask, txt, txt_mask = inputs(2, 6, 4)
    with f.recording_attention() as attention:
        f(img, img_mask, txt, txt_mask)
        reduction, q2i = attention["question_reduction"].clone(), attention["question_to_image"].clone()
        f(torch.randn_like(img), img_mask, txt, txt_mask)
        torch.testing.assert_close(attention["question_reduction"], reduction)  # encoder: question only
        f(img, img_mask, torch.randn_like(txt), txt_mask)
        assert not torch.allclose(attention["question_to_image"], q2i)  # decoder: guided by the question
    assert attention["layer1.image_to_question"].shape == (2, 4, 6, 4)


def test_film_question_acts_only_through_gamma_and_beta():
    f = build("film").eval()
    img, img_mask, txt, txt_mask = inputs(2, 6, 4)
    assert not torch.allclose(f(img, img_mask, txt, txt_mask), f(img, img_mask, torch.randn_like(txt), txt_mask))
    with torch.no_grad():
        f.film_generator.weight.zero_()  # constant gamma and beta: the question can no longer matter
    torch.testing.assert_close(f(img, img_mask, txt, txt_mask), f(img, img_mask, torch.randn_like(txt), txt_mask))


def test_max_pool_share_by_hand():
    features = torch.tensor([[[1.0, 5.0, 0.0, 2.0], [3.0, 1.0, 0.0, 1.0], [9.0, 9.0, 9.0, 9.0]]])  # (1, 3, 4)
    mask = torch.tensor([[True, True, False]])  # the masked token would win every channel
    share = max_pool_share(features, mask)
    torch.testing.assert_close(share, torch.tensor([[0.75, 0.25, 0.0]]))  # token 0 wins channels 1, 2, 3


@pytest.mark.parametrize("name", list_fusions())
def test_each_fusion_has_a_config_that_the_cli_parses(name):
    from vqa.training.cli import build_cli

    path = REPO / "configs" / "fusion" / f"{name}.yaml"
    assert path.exists(), f"add configs/fusion/{name}.yaml"
    class_path = yaml.safe_load(path.read_text())["model"]["fusion"]["class_path"]
    module, _, attribute = class_path.rpartition(".")
    assert getattr(importlib.import_module(module), attribute) is FUSIONS.get(name)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit) as done:
        build_cli(["fit", "-c", str(REPO / "configs" / "sort_of_clevr.yaml"), "-c", str(path), "--print_config"])
    assert done.value.code in (0, None)
    assert f"class_path: {class_path}" in printed.getvalue()


def test_summary_table_counts_parameters_of_every_fusion():
    from fusion.summary import markdown, summarize

    rows = summarize(img_dim=24, txt_dim=20, out_dim=16)
    assert [r["name"] for r in rows] == list_fusions()
    real = {
        name: sum(p.numel() for p in create_fusion(name, 24, 20, out_dim=16).parameters()) for name in ("late", "mlb")
    }
    assert {r["name"]: r["parameters"] for r in rows if r["name"] in real} == real
    table = markdown(rows)
    assert all(f"| `{name}` |" in table for name in list_fusions())


def test_relation_network_question_glimpses_pool_separately_and_ignore_padding():
    """With several glimpses each map pools the question on its own; padded words change nothing."""
    f = build("relation_network", dropout=0.0, question_glimpses=3).eval()
    assert f.question_pool.glimpses == 3 and f.g_question.in_features == 3 * f.question_pool.score[0].in_features
    img, img_mask, txt, txt_mask = inputs(4, 5, 6)
    junk = torch.randn(4, 50, txt.shape[-1]) * 50
    padded_txt = torch.cat([txt, junk], dim=1)
    padded_mask = torch.cat([txt_mask, torch.zeros(4, 50, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(f(img, img_mask, txt, txt_mask), f(img, img_mask, padded_txt, padded_mask))
        _, weights = f.question_pool(txt, txt_mask)
    assert weights.shape == (4, 3, 6) and not torch.allclose(weights[:, 0], weights[:, 1])
    with pytest.raises(ValueError, match="question_glimpses >= 1"):
        build("relation_network", question_glimpses=0)


def _object_tokens(b: int, n: int, seed: int = 0):
    """Random object-like tokens whose last two columns are (x, y) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randn(b, n, 6, generator=generator)
    tokens[..., -2:] = torch.rand(b, n, 2, generator=generator)
    return tokens


def test_relation_network_attention_pooling_ignores_padding_and_chunking():
    kwargs = {"dim": 32, "out_dim": 16, "dropout": 0.0, "pair_geometry": True, "partner_pooling": "attention"}
    f = create_fusion("relation_network", 6, 5, attention_heads=4, **kwargs).eval()
    chunked = create_fusion("relation_network", 6, 5, attention_heads=4, pair_chunk=1, **kwargs).eval()
    chunked.load_state_dict(f.state_dict())
    img, txt = _object_tokens(3, 5), torch.randn(3, 4, 5)
    img_mask, txt_mask = torch.ones(3, 5, dtype=torch.bool), torch.ones(3, 4, dtype=torch.bool)
    img_mask[1, 3:] = False
    reference = f(img, img_mask, txt, txt_mask)
    torch.testing.assert_close(chunked(img, img_mask, txt, txt_mask), reference, atol=1e-5, rtol=1e-4)
    padded_img = torch.cat([img, _object_tokens(3, 3, seed=1)], dim=1)
    padded_mask = torch.cat([img_mask, torch.zeros(3, 3, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(f(padded_img, padded_mask, txt, txt_mask), reference, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="must divide dim"):
        create_fusion("relation_network", 6, 5, attention_heads=5, **kwargs)


def test_relation_network_attention_can_pick_each_tokens_nearest_and_furthest_partner():
    """With the score read from g switched off, a steep distance slope makes a head's softmax an arg-min (or,
    negated, an arg-max) over the other tokens: the pooled relation is the nearest (furthest) partner's."""
    f = create_fusion(
        "relation_network", 6, 5, dim=8, out_dim=4, pair_geometry=True, partner_pooling="attention", attention_heads=2
    )
    positions = torch.tensor([[[0.0, 0.0], [0.1, 0.0], [0.5, 0.5], [1.0, 0.95]]])  # (1, 4, 2), no ties
    relations = torch.arange(4.0)[None, None, :, None].expand(1, 4, 4, 8).clone()  # partner j carries value j
    with torch.no_grad():
        f.partner_score.weight.zero_()
        f.partner_score.bias.zero_()
        f.geometry_score.weight.copy_(torch.tensor([[0, 0, -1000.0, -1000.0], [0, 0, 1000.0, -1000.0]]))
    from fusion.relation_network import pair_geometry

    geometry = pair_geometry(positions, 0, 4)
    pooled = f._attend_partners(relations, geometry, torch.ones(1, 4, dtype=torch.bool))  # (1, 4, 8)
    nearest, furthest = pooled[0, :, 0], pooled[0, :, 4]  # head 0: channels 0-3, head 1: channels 4-7
    torch.testing.assert_close(nearest, torch.tensor([1.0, 0.0, 1.0, 2.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(furthest, torch.tensor([3.0, 3.0, 0.0, 0.0]), atol=1e-6, rtol=0)
