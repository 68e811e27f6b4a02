"""Generated sets as object tokens (`input="objects"`): the features describe the very scenes the pixels show,
answers follow from the features alone, and padded objects are masked all the way to the fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqa.data import ClevrLike, SortOfClevr, VQADataModule
from vqa.data.generators.scenes import ATTRIBUTES, COLORS, OBJECT_FEATURES
from vqa.data.generators.sort_of_clevr import COLOR_NAMES, SHAPE_NAMES
from vqa.data.generators.sort_of_clevr import COLORS as SOC_COLORS
from vqa.models.encoders import GRUTextEncoder, PrecomputedFeatures
from vqa.training.module import VQALitModule


def soc(tmp_path, input: str) -> SortOfClevr:
    return SortOfClevr(num_images=40, test_images=5, val_images=5, cache_dir=str(tmp_path), input=input)


def test_sort_of_clevr_objects_answer_the_questions_and_match_the_pixels(tmp_path):
    objects, pixels = soc(tmp_path, "objects").read("train"), soc(tmp_path, "pixels").read("train")
    assert objects.images.features.shape == (30, 6, 10) and objects.images.mask.all()
    assert [r.question for r in objects.records] == [r.question for r in pixels.records]
    features, images = objects.images.features.numpy(), pixels.images.pixels.numpy()
    for record in objects.records:
        scene = features[record.image]
        row = scene[COLOR_NAMES.index(record.meta["color"])]
        assert row[:6].argmax() == COLOR_NAMES.index(record.meta["color"])
        x, y = row[-2:] * 75
        centre = images[record.image][:, round(y), round(x)]
        assert tuple(centre) == SOC_COLORS[record.meta["color"]], "the features' position is where the pixels are"
        kind, answer = record.types["type"], record.answers[0]
        if kind == "shape":
            assert answer == SHAPE_NAMES[int(row[6:8].argmax())]
        elif kind == "left":
            assert answer == ("yes" if x < 37.5 else "no")
        elif kind == "top":
            assert answer == ("yes" if y < 37.5 else "no")
        elif kind == "count":
            assert int(answer) == int((scene[:, 6:8].argmax(1) == row[6:8].argmax()).sum())
        else:  # closest / furthest: by distance between centres
            distances = np.hypot(*(scene[:, -2:] - row[-2:]).T)
            distances[COLOR_NAMES.index(record.meta["color"])] = np.inf if kind == "closest" else -np.inf
            other = distances.argmin() if kind == "closest" else distances.argmax()
            assert answer == SHAPE_NAMES[int(scene[other, 6:8].argmax())]


def test_clevr_like_objects_are_padded_masked_and_match_the_pixels(tmp_path):
    settings = dict(num_images=30, test_images=5, val_images=5, questions_per_image=2, image_size=48)
    objects = ClevrLike(**settings, min_objects=3, max_objects=6, cache_dir=str(tmp_path), input="objects")
    pixels = ClevrLike(**settings, min_objects=3, max_objects=6, cache_dir=str(tmp_path))
    store, images = objects.read("train").images, pixels.read("train").images.pixels.numpy()
    assert store.features.shape == (20, 6, OBJECT_FEATURES) and store.mask.shape == (20, 6)
    counts = store.mask.sum(1)
    assert counts.min() >= 3 and counts.max() <= 6 and len(set(counts.tolist())) > 1, "scenes differ in size"
    assert (store.features[~store.mask] == 0).all(), "padding rows are zero"
    colour_block = slice(len(ATTRIBUTES["size"]), len(ATTRIBUTES["size"]) + len(COLORS))
    for index in range(len(store)):
        for row in store.features[index][store.mask[index]].numpy():
            offset = 0
            for values in ATTRIBUTES.values():  # one value per attribute
                assert row[offset : offset + len(values)].sum() == 1
                offset += len(values)
            x, y = (row[-2:] * 48).round().astype(int)
            colour = list(COLORS.values())[int(row[colour_block].argmax())]
            # rubber objects are flat; metal ones are striped with a lighter shade, darker rows keep the colour
            assert tuple(images[index][:, y, x]) == colour or tuple(images[index][:, y - 1, x]) == colour


def test_objects_carry_their_mask_to_the_model(tmp_path):
    source = ClevrLike(
        num_images=30,
        test_images=5,
        val_images=5,
        questions_per_image=2,
        image_size=48,
        cache_dir=str(tmp_path),
        input="objects",
    )
    data = VQADataModule(source=source, batch_size=8)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["images"].shape[1:] == (6, OBJECT_FEATURES) and batch["image_mask"].dtype == torch.bool
    from fusion import RelationNetworkFusion

    module = VQALitModule(
        fusion=lambda i, t: RelationNetworkFusion(i, t, out_dim=16, dim=16, dropout=0.0),
        image_encoder=PrecomputedFeatures(dim=OBJECT_FEATURES),
        text_encoder=lambda v: GRUTextEncoder(v, embed_dim=8, hidden_dim=8),
        vocab=data.vocab_dict,
    ).eval()
    logits = module(batch)
    # junk in the padded object slots changes nothing: the mask reached the fusion
    junk = dict(batch, images=batch["images"].masked_fill(~batch["image_mask"][..., None], 1e3))
    assert (~batch["image_mask"]).any()
    torch.testing.assert_close(module(junk), logits)


def test_unknown_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="input must be 'pixels' or 'objects'"):
        SortOfClevr(num_images=10, test_images=2, val_images=2, cache_dir=str(tmp_path), input="regions")
