"""The CLEVR-style generator: answers re-derived by an independent program interpreter, determinism, caching."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from vqa.data import ClevrLike
from vqa.data.generators.clevr_like import FAMILIES, generate, generate_question
from vqa.data.generators.scenes import ATTRIBUTES, BACKGROUND, COLORS, render, sample_scene

VALUE_TO_ATTRIBUTE = {value: name for name, values in ATTRIBUTES.items() for value in values}


def run_program(program: str, scene) -> str:
    """Execute a question's program on its scene with a value stack (written apart from the generator).

    `unique` fails unless exactly one object remains, so this also proves every reference is unambiguous."""
    stack: list = []
    for step in program.split(" "):
        function, _, argument = step.partition("[")
        argument = argument.rstrip("]")
        if function == "scene":
            stack.append(set(range(len(scene))))
        elif function == "filter":
            wanted = [(VALUE_TO_ATTRIBUTE[v], v) for v in argument.split(",") if v]
            stack.append({i for i in stack.pop() if all(getattr(scene[i], a) == v for a, v in wanted)})
        elif function == "unique":
            objects = stack.pop()
            assert len(objects) == 1, f"ambiguous reference in {program!r}: {objects}"
            stack.append(next(iter(objects)))
        elif function == "relate":
            anchor = scene[stack.pop()]
            side = {
                "left": lambda o, a=anchor: o.x < a.x,
                "right": lambda o, a=anchor: o.x > a.x,
                "above": lambda o, a=anchor: o.y < a.y,
                "below": lambda o, a=anchor: o.y > a.y,
            }[argument]
            stack.append({i for i, o in enumerate(scene) if o is not anchor and side(o)})
        elif function == "count":
            stack.append(len(stack.pop()))
        elif function == "exist":
            stack.append("yes" if stack.pop() else "no")
        elif function == "query_composition":  # the compose family: size, colour and shape, in that order
            obj = scene[stack.pop()]
            stack.append(f"{obj.size} {obj.color} {obj.shape}")
        elif function.startswith("query_"):
            stack.append(getattr(scene[stack.pop()], function[len("query_") :]))
        elif function.startswith("equal_") and function != "equal_integer":
            b, a = stack.pop(), stack.pop()
            attribute = function[len("equal_") :]
            stack.append("yes" if getattr(scene[a], attribute) == getattr(scene[b], attribute) else "no")
        else:
            b, a = stack.pop(), stack.pop()
            result = {"greater_than": a > b, "less_than": a < b, "equal_integer": a == b}[function]
            stack.append("yes" if result else "no")
    (answer,) = stack
    return str(answer)


def test_every_answer_follows_from_the_scene():
    rng = np.random.default_rng(7)
    seen = Counter()
    for _ in range(60):
        scene = sample_scene(rng, 64, 3, 7)
        for family in FAMILIES:
            for hops in range(4):
                entry = generate_question(scene, rng, family, hops)
                if entry is None:
                    continue
                assert run_program(entry["program"], scene) == entry["answer"], entry
                assert entry["program"].count("relate") == hops, entry
                seen[family] += 1
                if family == "query_attribute":
                    # the queried attribute is never part of the final object's description
                    steps = entry["program"].split(" ")
                    queried = steps[-1][len("query_") :]
                    values = steps[-3].partition("[")[2].rstrip("]").split(",")
                    assert steps[-3].startswith("filter") and queried not in {VALUE_TO_ATTRIBUTE.get(v) for v in values}
    assert all(seen[f] >= 150 for f in FAMILIES), seen  # every family can be built with up to 3 hops


def test_scenes_respect_layout_rules():
    rng = np.random.default_rng(0)
    for _ in range(50):
        scene = sample_scene(rng, 64, 3, 7)
        assert 3 <= len(scene) <= 7
        for i, a in enumerate(scene):
            for b in scene[i + 1 :]:
                assert abs(a.x - b.x) >= 2 and abs(a.y - b.y) >= 2  # relations are never ambiguous
        image = render(scene, 64)
        for obj in scene:  # each object's centre has its colour (rubber) or a lighter stripe of it (metal)
            assert tuple(image[obj.y, obj.x]) != BACKGROUND
            if obj.material == "rubber":
                assert tuple(image[obj.y, obj.x]) == COLORS[obj.color]


def test_generation_is_seeded_and_balanced():
    data = generate(40, 10, 48, 3, 6, 2, FAMILIES, seed=3)
    again = generate(40, 10, 48, 3, 6, 2, FAMILIES, seed=3)
    other = generate(40, 10, 48, 3, 6, 2, FAMILIES, seed=4)
    images, questions = data.images, data.questions
    assert np.array_equal(images, again.images) and questions == again.questions
    assert np.array_equal(data.objects, again.objects) and np.array_equal(data.object_mask, again.object_mask)
    assert not np.array_equal(images, other.images)
    assert images.shape == (40, 48, 48, 3) and len(questions) == 400
    yes_no = [q["answer"] for q in questions if q["family"] in ("exist", "compare_integer", "compare_attribute")]
    assert 0.35 < yes_no.count("yes") / len(yes_no) < 0.65
    counts = Counter(q["answer"] for q in questions if q["family"] == "count")
    assert all(counts[str(n)] >= 0.1 * sum(counts.values()) for n in range(4)), counts  # not mostly 0 and 1
    assert {q["hops"] for q in questions} == {0, 1, 2}


def test_families_and_hops_are_configurable():
    questions = generate(10, 6, 48, 3, 5, 0, ("count", "exist"), seed=0).questions
    assert {q["family"] for q in questions} == {"count", "exist"}
    assert all(q["hops"] == 0 for q in questions)
    with pytest.raises(ValueError, match="unknown question families"):
        ClevrLike(families=("count", "riddles"))


def test_source_splits_types_and_cache(tmp_path):
    source = ClevrLike(
        num_images=30, test_images=5, val_images=5, questions_per_image=4, image_size=40, cache_dir=str(tmp_path)
    )
    train, val, test = (source.read(s) for s in ("train", "val", "test"))
    assert (len(train.images), len(val.images), len(test.images)) == (20, 5, 5)
    assert len(train.records) + len(val.records) + len(test.records) == 120
    record = train.records[0]
    assert set(record.types) == {"family", "subtype", "hops"} and record.types["family"] in FAMILIES
    assert train.images.get(torch.tensor([0])).shape == (1, 3, 40, 40)
    cached = source.cache_file
    stamp = cached.stat().st_mtime_ns
    again = ClevrLike(
        num_images=30, test_images=5, val_images=5, questions_per_image=4, image_size=40, cache_dir=str(tmp_path)
    )
    assert again.generate_to_cache() == cached and cached.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert [r.question for r in again.read("test").records] == [r.question for r in test.records]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
