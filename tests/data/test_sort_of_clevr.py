import numpy as np
import torch

from vqa.data import SortOfClevr
from vqa.data.generators.sort_of_clevr import ANSWERS, COLORS, answer, place_objects, render


def test_generation_is_deterministic_and_cached(tmp_path):
    first = SortOfClevr(num_images=30, test_images=5, val_images=5, cache_dir=str(tmp_path / "a"))
    second = SortOfClevr(num_images=30, test_images=5, val_images=5, cache_dir=str(tmp_path / "b"))
    for split in ("train", "val", "test"):
        a, b = first.read(split), second.read(split)
        assert torch.equal(a.images.pixels, b.images.pixels)
        assert [r.question for r in a.records] == [r.question for r in b.records]
    assert first.cache_file.exists()
    assert not list(first.cache_dir.glob("*.tmp")), "no partial file may be left behind"


def test_split_sizes_and_question_counts(tiny_clevr):
    sizes = {s: len(tiny_clevr.read(s).images) for s in ("train", "val", "test")}
    assert sizes == {"train": 24, "val": 8, "test": 8}
    train = tiny_clevr.read("train").records
    assert len(train) == 24 * 2 * 4
    families = {r.types["family"] for r in train}
    assert families == {"relational", "non-relational"}
    assert {r.answers[0] for r in train} <= set(ANSWERS)


def test_scene_rules():
    rng = np.random.default_rng(1)
    for _ in range(50):
        centres = place_objects(rng)
        assert ((centres >= 5) & (centres < 70)).all()
        distances = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
        assert (distances[~np.eye(6, dtype=bool)] >= 10).all()


def test_rendering_and_answers_agree_with_geometry():
    centres = np.array([[10, 10], [60, 10], [10, 60], [60, 60], [35, 35], [20, 50]])
    shapes = np.array([0, 1, 0, 1, 1, 1])  # 0 square, 1 circle
    image = render(centres, shapes)
    assert tuple(image[10, 10]) == COLORS["red"]
    assert tuple(image[15, 15]) == COLORS["red"]  # a square fills its corner
    assert tuple(image[15, 65]) == (255, 255, 255)  # a circle does not
    assert answer("shape", 0, centres, shapes) == "square"
    assert answer("left", 0, centres, shapes) == "yes" and answer("left", 1, centres, shapes) == "no"
    assert answer("top", 2, centres, shapes) == "no"
    assert answer("closest", 4, centres, shapes) == "circle"  # yellow (20,50) is nearest to gray (35,35)
    assert answer("furthest", 0, centres, shapes) == "circle"  # green (60,60)
    assert answer("count", 0, centres, shapes) == "2"


def test_questions_are_natural_language(tiny_clevr):
    record = tiny_clevr.read("train").records[0]
    assert record.question.endswith("?") and record.meta["color"] in record.question
