"""Every registered fusion honours the contract (parametrized over the whole registry)."""

from __future__ import annotations

import inspect

import pytest
import torch

import fusion
from fusion import FUSIONS, create_fusion, list_fusions
from vqa.registry import UnknownNameError

IMG_DIM, TXT_DIM, OUT_DIM = 24, 20, 16
# Small widths so every fusion builds fast; each fusion takes the arguments it has from these.
SMALL = {
    "dim": 32,
    "num_heads": 4,
    "num_layers": 2,
    "num_blocks": 2,
    "ffn_dim": 64,
    "hidden_dim": 32,
    "flat_hidden": 16,
    "mm_dim": 48,  # divisible by `chunks`
    "proj_dim": 24,
    "factor": 3,
    "rank": 3,
    "chunks": 4,
    "attention_hidden": 16,
}


def build(name: str, **overrides):
    """Fusion `name` at the SMALL sizes (and `overrides`), taking only the arguments it has."""
    params = inspect.signature(FUSIONS.get(name)).parameters
    kwargs = {k: v for k, v in {**SMALL, **overrides}.items() if k in params}
    return create_fusion(name, IMG_DIM, TXT_DIM, out_dim=OUT_DIM, **kwargs)


def inputs(b: int, ni: int, nt: int, generator: torch.Generator | None = None):
    img = torch.randn(b, ni, IMG_DIM, generator=generator)
    txt = torch.randn(b, nt, TXT_DIM, generator=generator)
    img_mask = torch.ones(b, ni, dtype=torch.bool)
    txt_mask = torch.ones(b, nt, dtype=torch.bool)
    return img, img_mask, txt, txt_mask


NAMES = list_fusions()


def test_registry_lists_the_three_families():
    assert {"early", "late", "cross_attention"} <= set(NAMES)
    assert {FUSIONS.get(n).family for n in NAMES} >= {"early", "late", "interactive"}


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="unknown fusion 'nope'.*cross_attention"):
        create_fusion("nope", 4, 4, out_dim=4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ni,nt", [(1, 1), (5, 3), (16, 12)])
def test_forward_shape(name, ni, nt):
    f = build(name)
    out = f(*inputs(3, ni, nt))
    assert out.shape == (3, OUT_DIM)
    assert f.out_dim == OUT_DIM and f.name == name
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_every_parameter(name):
    f = build(name)
    img, img_mask, txt, txt_mask = inputs(4, 6, 5)
    img.requires_grad_(True)
    txt.requires_grad_(True)
    with f.recording_attention() if f.exposes_attention else torch.enable_grad():
        f(img, img_mask, txt, txt_mask).pow(2).sum().backward()
    missing = [n for n, p in f.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing}"
    assert img.grad.abs().sum() > 0 and txt.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_padding_invariance(name):
    f = build(name).eval()
    img, img_mask, txt, txt_mask = inputs(3, 6, 5)
    txt_mask[0, 3:] = False  # some rows already padded
    img_mask[1, 4:] = False
    reference = f(img, img_mask, txt, txt_mask)
    pad_img = torch.cat([img, torch.randn(3, 4, IMG_DIM) * 50], dim=1)
    pad_txt = torch.cat([txt, torch.randn(3, 7, TXT_DIM) * 50], dim=1)
    pad_img_mask = torch.cat([img_mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    pad_txt_mask = torch.cat([txt_mask, torch.zeros(3, 7, dtype=torch.bool)], dim=1)
    padded = f(pad_img, pad_img_mask, pad_txt, pad_txt_mask)
    torch.testing.assert_close(padded, reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_all_but_one_token_masked_is_finite(name):
    f = build(name)
    img, img_mask, txt, txt_mask = inputs(2, 7, 6)
    img_mask[:, 1:] = False
    txt_mask[:, 1:] = False
    out = f(img, img_mask, txt, txt_mask)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in f.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", NAMES)
def test_batch_size_independence_and_eval_determinism(name):
    f = build(name).eval()
    img, img_mask, txt, txt_mask = inputs(5, 6, 4)
    full = f(img, img_mask, txt, txt_mask)
    single = torch.cat([f(img[i : i + 1], img_mask[i : i + 1], txt[i : i + 1], txt_mask[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(single, full, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(f(img, img_mask, txt, txt_mask), full, atol=0, rtol=0)


def test_every_fusion_declares_family_and_reference():
    for name in NAMES:
        cls = FUSIONS.get(name)
        assert cls.family in {"early", "late", "interactive"}, name
        assert cls.reference and cls.__doc__ and "Reference" in cls.__doc__, name


def test_every_interactive_fusion_exposes_attention():
    assert all(build(n).exposes_attention for n in NAMES if FUSIONS.get(n).family == "interactive")


@pytest.mark.parametrize("name", [n for n in NAMES if build(n).exposes_attention])
def test_fusions_expose_question_to_image_attention(name):
    f = build(name).eval()
    img, img_mask, txt, txt_mask = inputs(2, 6, 4)
    img_mask[1, 4:] = False
    assert not f.last_attention
    with f.recording_attention() as attention:
        out = f(img, img_mask, txt, txt_mask)
    q2i = attention["question_to_image"]
    assert q2i.shape == (2, 6)
    torch.testing.assert_close(q2i.sum(-1), torch.ones(2))
    assert (q2i[1, 4:] == 0).all(), "masked image tokens must get no attention"
    torch.testing.assert_close(f(img, img_mask, txt, txt_mask), out)  # recording changes nothing


@pytest.mark.parametrize("name", NAMES)
def test_init_args_rebuild_the_same_architecture(name):
    f = build(name)
    rebuilt = FUSIONS.create(name, **f.init_args)
    rebuilt.load_state_dict(f.state_dict())
    f.eval(), rebuilt.eval()
    args = inputs(2, 3, 3)
    torch.testing.assert_close(rebuilt(*args), f(*args))


def test_fusion_modules_are_importable_by_class_path():
    for name in NAMES:
        cls = FUSIONS.get(name)
        assert getattr(fusion, cls.__name__) is cls, f"export {cls.__name__} from fusion/__init__.py"
