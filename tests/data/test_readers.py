"""Each real format's fixture reads correctly; each kind of malformed file raises one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.data.fixture_sources import FIXTURES, SIZE, SOURCES, clevr_source, gqa_source, jsonl_source, vqa_v2_source
from vqa.data import DATASETS, DatasetError, ImageFiles
from vqa.data.images import load_image
from vqa.data.sources.vqa_v2 import coco_file_name


def test_every_format_is_registered():
    assert {"vqa_v2", "gqa", "clevr", "jsonl", "clevr_like"} <= set(DATASETS.names())


@pytest.mark.parametrize("name", SOURCES)
def test_fixture_images_decode_lazily_to_one_size(name):
    split = SOURCES[name]().read("train")
    assert isinstance(split.images, ImageFiles)
    pixels = split.images.get(torch.arange(len(split.images)))
    assert pixels.dtype == torch.uint8 and pixels.shape == (len(split.images), 3, *SIZE)
    assert all(0 <= r.image < len(split.images) for r in split.records)


def test_vqa_v2_fixture():
    source = vqa_v2_source()
    train, val, test = (source.read(s) for s in ("train", "val", "test"))
    assert (len(train.records), len(train.images), len(val.records), len(test.records)) == (11, 4, 4, 3)
    bowl = next(r for r in train.records if r.meta["question_id"] == 9001)
    assert bowl.question == "What color is the bowl?"
    # training targets: official normalization of each human answer; the raw ones are kept for evaluation
    assert bowl.answers == ["red", "red", "red", "red", "dark red", "red", "red", "orange", "red", "red"]
    assert bowl.meta["raw_answers"][2:4] == ["red.", "Red"]
    assert bowl.types == {"answer_type": "other", "question_type": "what color is the"}
    trees = next(r for r in train.records if r.meta["question_id"] == 25002)
    assert trees.answers.count("trees") == 6 and trees.answers.count("tree") == 2  # "the trees", "a tree" lose articles
    # images are COCO_<subtype>_<12 digits>.jpg; the one of question 9001 is image 9
    assert train.images.paths[bowl.image].endswith("train2014/COCO_train2014_000000000009.jpg")
    # test split without annotations: questions only, for `vqa predict`
    assert all(r.answers == [] and r.types == {} for r in test.records)
    assert {r.meta["question_id"] for r in test.records} == {1000, 1001, 19000}


def test_coco_file_names():
    assert coco_file_name("val2014", 42) == "COCO_val2014_000000000042.jpg"
    assert coco_file_name("test-dev2015", 1) == "COCO_test2015_000000000001.jpg"  # test-dev uses test2015 images


def test_gqa_fixture():
    source = gqa_source()
    train = source.read("train")
    assert len(train.records) == 9 and len(train.images) == 3
    sky = next(r for r in train.records if r.meta["question_id"] == "02930160")
    assert sky.answers == ["dark"]
    assert sky.types == {"structural": "query", "semantic": "attr", "detailed": "chooseAttr"}
    assert sky.meta["entailed"] == ["02930152"] and sky.meta["global_group"] == "color"
    assert sky.meta["steps"] == 2
    assert train.images.paths[sky.image].endswith("images/2354786.jpg")
    assert len(source.read("test").records) == 2


def test_gqa_balanced_only_skips_unbalanced(fixture_copy):
    root = fixture_copy("gqa")
    path = root / "train_balanced_questions.json"
    data = json.loads(path.read_text())
    data["02930161"]["isBalanced"] = False
    path.write_text(json.dumps(data))
    assert len(gqa_source(root).read("train").records) == 8
    assert len(gqa_source(root, balanced_only=False).read("train").records) == 9


def test_clevr_fixture():
    source = clevr_source()
    train = source.read("train")
    assert len(train.records) == 9 and len(train.images) == 3
    types = [r.types["type"] for r in train.records]
    assert types == [
        "count",
        "exist",
        "query_attribute",
        "compare_number",
        "query_attribute",
        "compare_attribute",
        "count",
        "compare_number",
        "query_attribute",
    ]
    assert train.records[5].types["function"] == "equal_size"
    # CLEVR's PNGs are RGBA: the alpha channel is composited away, the floor colour stays
    pixel = train.images.get(torch.tensor([0]))[0, :, 0, 0]
    assert pixel.tolist() == [128, 128, 124]
    assert len(source.read("test").records) == 0  # no test file configured


def test_jsonl_fixture():
    source = jsonl_source()
    train, val, test = (source.read(s) for s in ("train", "val", "test"))
    assert (len(train.records), len(train.images), len(val.records), len(test.records)) == (8, 3, 3, 2)
    first = train.records[0]
    assert first.answers == ["kettle", "kettle", "teapot"] and first.types == {"type": "object"}
    assert train.records[2].meta["question_id"] == "k-3"  # "id" given
    assert train.records[3].meta["question_id"] == 4  # default: the line number
    assert train.records[5].meta["weather"] == "clear"  # extra keys are kept
    assert val.records[2].types == {}  # "type" is optional
    assert test.records[0].answers == [] and test.records[0].meta["question_id"] == 101
    # palette and grayscale PNGs become RGB
    gray = train.images.get(torch.tensor([2]))[0]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])


def test_jsonl_carves_validation_by_image():
    source = jsonl_source(val=None, val_images=1)
    train, val = source.read("train"), source.read("val")
    assert len(train.images) == 2 and len(val.images) == 1
    assert len(train.records) + len(val.records) == 8
    train_paths = set(train.images.paths)
    assert not train_paths & set(val.images.paths)


def test_jsonl_normalize_answers_option(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes((FIXTURES / "jsonl" / "images" / "garden.png").read_bytes())
    line = {"image": "images/a.png", "question": "How many?", "answers": ["Two", "2."]}
    (tmp_path / "train.jsonl").write_text(json.dumps(line) + "\n")
    source = jsonl_source(tmp_path, val=None, test=None, normalize_answers=True)
    assert source.read("train").records[0].answers == ["2", "2"]


# ---- malformed files: one DatasetError naming the file and the entry ----------------------------------------


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1))


def _expect_error(source, split: str, *fragments: str) -> str:
    with pytest.raises(DatasetError) as info:
        source.read(split)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message
    return message


def test_vqa_v2_missing_key(fixture_copy):
    root = fixture_copy("vqa_v2")
    _edit_json(root / "v2_OpenEnded_mscoco_train2014_questions.json", lambda d: d["questions"][1].pop("question"))
    _expect_error(
        vqa_v2_source(root),
        "train",
        "v2_OpenEnded_mscoco_train2014_questions.json",
        "questions[1]",
        "missing key 'question'",
    )


def test_vqa_v2_wrong_type(fixture_copy):
    root = fixture_copy("vqa_v2")

    def change(d):
        d["annotations"][2]["answers"][4]["answer"] = 7

    _edit_json(root / "v2_mscoco_train2014_annotations.json", change)
    _expect_error(
        vqa_v2_source(root),
        "train",
        "v2_mscoco_train2014_annotations.json",
        "annotations[2].answers[4].answer",
        "expected a string, got 7",
    )


def test_vqa_v2_question_id_must_be_integer(fixture_copy):
    root = fixture_copy("vqa_v2")
    _edit_json(root / "v2_mscoco_val2014_annotations.json", lambda d: d["annotations"][0].update(question_id="42000"))
    _expect_error(vqa_v2_source(root), "val", "annotations[0].question_id", "expected an integer")


def test_vqa_v2_missing_annotation(fixture_copy):
    root = fixture_copy("vqa_v2")
    _edit_json(root / "v2_mscoco_val2014_annotations.json", lambda d: d["annotations"].pop(1))
    _expect_error(vqa_v2_source(root), "val", "no annotation for question_id 42001", "questions[1]")


def test_vqa_v2_missing_image(fixture_copy):
    root = fixture_copy("vqa_v2")
    (root / "train2014" / "COCO_train2014_000000000030.jpg").unlink()
    _expect_error(vqa_v2_source(root), "train", "COCO_train2014_000000000030.jpg", "image_id 30", "question_id 30000")


def test_vqa_v2_truncated_json(fixture_copy):
    root = fixture_copy("vqa_v2")
    path = root / "v2_mscoco_train2014_annotations.json"
    path.write_text(path.read_text()[:500])
    message = _expect_error(
        vqa_v2_source(root), "train", "v2_mscoco_train2014_annotations.json", "not valid JSON (line"
    )
    assert "column" in message


def test_gqa_missing_key_wrong_type_missing_image(fixture_copy):
    root = fixture_copy("gqa")
    path = root / "train_balanced_questions.json"
    original = path.read_text()
    _edit_json(path, lambda d: d["07333409"].pop("imageId"))
    _expect_error(
        gqa_source(root), "train", "train_balanced_questions.json", "question '07333409'", "missing key 'imageId'"
    )
    path.write_text(original)
    _edit_json(path, lambda d: d["13151560"]["types"].update(structural=["query"]))
    _expect_error(gqa_source(root), "train", "question '13151560'.types.structural", "expected a string")
    path.write_text(original)
    (root / "images" / "n161313.jpg").unlink()
    _expect_error(gqa_source(root), "train", "n161313.jpg", "imageId 'n161313'")


def test_gqa_test_file_may_lack_answers(fixture_copy):
    root = fixture_copy("gqa")
    _edit_json(
        root / "testdev_balanced_questions.json", lambda d: [q.pop("answer") or q.pop("types") for q in d.values()]
    )
    test = gqa_source(root).read("test")
    assert all(r.answers == [] for r in test.records)
    _edit_json(root / "val_balanced_questions.json", lambda d: d["201307252"].pop("answer"))
    _expect_error(gqa_source(root), "val", "question '201307252'", "missing key 'answer'")


def test_clevr_malformed(fixture_copy):
    root = fixture_copy("clevr")
    path = root / "questions" / "CLEVR_train_questions.json"
    original = path.read_text()
    _edit_json(path, lambda d: d["questions"][3].pop("program"))
    _expect_error(clevr_source(root), "train", "CLEVR_train_questions.json", "questions[3]", "missing key 'program'")
    path.write_text(original)
    _edit_json(path, lambda d: d["questions"][0]["program"][-1].update(function="frobnicate"))
    _expect_error(clevr_source(root), "train", "questions[0].program", "unknown final function 'frobnicate'")
    path.write_text(original)
    _edit_json(path, lambda d: d["questions"][2].update(image_index="0"))
    _expect_error(clevr_source(root), "train", "questions[2].image_index", "expected an integer")
    path.write_text(original)
    (root / "images" / "train" / "CLEVR_train_000002.png").unlink()
    _expect_error(clevr_source(root), "train", "CLEVR_train_000002.png", "questions[6]")


def test_jsonl_malformed(fixture_copy):
    root = fixture_copy("jsonl")
    path = root / "train.jsonl"
    lines = path.read_text().splitlines()

    def write(replaced: dict[int, str]) -> None:
        path.write_text("\n".join(replaced.get(i, line) for i, line in enumerate(lines)) + "\n")

    write({2: '{"image": "images/kitchen.jpg", "question": "Is the light on?", "answers": ["yes"]'})
    _expect_error(jsonl_source(root), "train", "train.jsonl", "line 3", "invalid JSON")
    write({4: json.dumps({"image": "images/garden.png", "answers": ["green"]})})
    _expect_error(jsonl_source(root), "train", "train.jsonl", "line 5", "missing key 'question'")
    write({0: json.dumps({"image": "images/kitchen.jpg", "question": "What?", "answers": "kettle"})})
    _expect_error(jsonl_source(root), "train", "line 1.answers", "expected a list, got 'kettle'")
    write({0: json.dumps({"image": "images/kitchen.jpg", "question": "What?", "answer": "kettle"})})
    _expect_error(jsonl_source(root), "train", "line 1", "missing key 'answers'", "found 'answer'")
    write({})
    (root / "images" / "xray.png").unlink()
    _expect_error(jsonl_source(root), "train", "xray.png", "line 7 of")


def test_missing_questions_file_names_it(tmp_path):
    _expect_error(jsonl_source(tmp_path), "train", "JSONL train file not found", str(tmp_path / "train.jsonl"))


def test_image_files_subset_and_empty():
    store = ImageFiles(
        [FIXTURES / "jsonl" / "images" / "kitchen.jpg", FIXTURES / "jsonl" / "images" / "xray.png"], SIZE
    )
    sub = store.subset(torch.tensor([1]))
    assert len(sub) == 1 and torch.equal(sub.get(torch.tensor([0]))[0], load_image(store.paths[1], SIZE))
    assert store.get(torch.tensor([], dtype=torch.long)).shape == (0, 3, *SIZE)
