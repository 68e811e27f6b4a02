import sys

import pytest
import torch

from vqa.data import DatasetError, EasyVQA


def test_reads_the_published_sizes_and_carves_validation_by_image(easy_vqa_source):
    train, val, test = (easy_vqa_source.read(s) for s in ("train", "val", "test"))
    assert len(train.records) + len(val.records) == 38575
    assert len(test.records) == 9673
    assert len(val.images) == 400 and len(train.images) == 3600 and len(test.images) == 1000
    train_ids = {r.meta["image_id"] for r in train.records}
    val_ids = {r.meta["image_id"] for r in val.records}
    assert not train_ids & val_ids
    assert train.images.pixels.dtype == torch.uint8 and train.images.pixels.shape[1:] == (3, 64, 64)
    assert {r.types["type"] for r in test.records} == {"shape", "color", "yes/no"}
    assert len({a for r in train.records for a in r.answers}) == 13


def test_records_point_at_their_images(easy_vqa_source):
    test = easy_vqa_source.read("test")
    record = next(r for r in test.records if r.answers == ["red"] and r.types["type"] == "color")
    pixels = test.images.get(torch.tensor([record.image]))[0].float()
    red = (pixels[0] > 200) & (pixels[1] < 60) & (pixels[2] < 60)
    assert red.sum() > 20, "the image of a 'red' answer must contain red pixels"


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "easy_vqa", None)
    with pytest.raises(DatasetError, match="pip install easy-vqa"):
        EasyVQA().read("train")


def test_malformed_questions_file_names_file_and_entry(tmp_path):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "questions.json").write_text('[["what?", "red", 0], ["no image id", "red"]]')
    with pytest.raises(DatasetError, match=r"questions.json, entry 1: expected \[question"):
        EasyVQA(root=str(tmp_path)).read("test")
    with pytest.raises(DatasetError, match="not found"):
        EasyVQA(root=str(tmp_path / "nowhere")).read("test")
