"""Every registered fusion's `fuse`: the joint vector is `forward`'s output, and the token streams after fusion
have the promised shapes and masks, ignore padding, and carry the other modality (parametrized over the registry)."""

from __future__ import annotations

import pytest
import torch

from fusion import FUSIONS, Fused
from tests.fusion.test_registry import IMG_DIM, NAMES, TXT_DIM, build, inputs


def streams(fused: Fused) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The streams a Fused holds, by modality: name -> (tokens, mask)."""
    found = {}
    if fused.img is not None:
        found["img"] = (fused.img, fused.img_mask)
    if fused.txt is not None:
        found["txt"] = (fused.txt, fused.txt_mask)
    return found


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ni,nt", [(1, 1), (5, 3)])
def test_fuse_gives_forward_output_and_the_declared_streams(name, ni, nt):
    f = build(name).eval()
    img, img_mask, txt, txt_mask = inputs(3, ni, nt)
    img_mask[0, 1:] = False
    fused = f.fuse(img, img_mask, txt, txt_mask)
    assert isinstance(fused, Fused)
    torch.testing.assert_close(fused.joint, f(img, img_mask, txt, txt_mask), atol=0, rtol=0)
    assert (fused.img is not None) == f.has_image_stream and (fused.img_mask is not None) == f.has_image_stream
    assert (fused.txt is not None) == f.has_text_stream and (fused.txt_mask is not None) == f.has_text_stream
    if f.has_image_stream or f.has_text_stream:
        assert isinstance(f.stream_dim, int) and f.stream_dim > 0
    else:
        assert f.stream_dim is None
    if f.has_image_stream:
        assert fused.img.shape == (3, ni, f.stream_dim)
        assert torch.equal(fused.img_mask, img_mask)
    if f.has_text_stream:
        assert fused.txt.shape == (3, nt, f.stream_dim)
        assert torch.equal(fused.txt_mask, txt_mask)
    for tokens, mask in streams(fused).values():
        assert torch.isfinite(tokens[mask]).all()


def test_late_fusions_have_no_streams_and_the_others_have_an_image_stream():
    for name in NAMES:
        cls = FUSIONS.get(name)
        if cls.family == "late":
            assert not cls.has_image_stream and not cls.has_text_stream, name
        else:
            assert cls.has_image_stream, f"{name} ({cls.family}) joins image tokens and the question: no stream?"


@pytest.mark.parametrize(
    "name", [n for n in NAMES if FUSIONS.get(n).has_image_stream or FUSIONS.get(n).has_text_stream]
)
def test_stream_padding_invariance(name):
    """Junk tokens appended under the mask change no real position of any stream."""
    f = build(name).eval()
    img, img_mask, txt, txt_mask = inputs(3, 6, 5)
    txt_mask[0, 3:] = False
    img_mask[1, 4:] = False
    reference = streams(f.fuse(img, img_mask, txt, txt_mask))
    pad_img = torch.cat([img, torch.randn(3, 4, IMG_DIM) * 50], dim=1)
    pad_txt = torch.cat([txt, torch.randn(3, 7, TXT_DIM) * 50], dim=1)
    pad_img_mask = torch.cat([img_mask, torch.zeros(3, 4, dtype=torch.bool)], dim=1)
    pad_txt_mask = torch.cat([txt_mask, torch.zeros(3, 7, dtype=torch.bool)], dim=1)
    padded = streams(f.fuse(pad_img, pad_img_mask, pad_txt, pad_txt_mask))
    assert padded.keys() == reference.keys()
    for key, (tokens, mask) in reference.items():
        padded_tokens, padded_mask = padded[key]
        assert torch.equal(padded_mask[:, : mask.shape[1]], mask)
        torch.testing.assert_close(padded_tokens[:, : mask.shape[1]][mask], tokens[mask], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "name", [n for n in NAMES if FUSIONS.get(n).has_image_stream or FUSIONS.get(n).has_text_stream]
)
def test_streams_have_seen_the_other_modality(name):
    """An image stream changes when only the question changes; a question stream when only the image changes."""
    f = build(name).eval()
    img, img_mask, txt, txt_mask = inputs(2, 5, 4, torch.Generator().manual_seed(0))
    other_img, _, other_txt, _ = inputs(2, 5, 4, torch.Generator().manual_seed(1))
    base = streams(f.fuse(img, img_mask, txt, txt_mask))
    if "img" in base:
        changed = f.fuse(img, img_mask, other_txt, txt_mask).img
        assert not torch.allclose(changed, base["img"][0], atol=1e-4), f"{name}: image stream ignores the question"
    if "txt" in base:
        changed = f.fuse(other_img, img_mask, txt, txt_mask).txt
        assert not torch.allclose(changed, base["txt"][0], atol=1e-4), f"{name}: question stream ignores the image"
