"""The CLEVR-style compose family (issue 16's open-vocabulary case): answers checked by hand and by an independent
interpreter, held-out compositions kept out of every training answer and so out of the answer vocabulary, and the
generator without the family byte for byte what it was before."""

from __future__ import annotations

import hashlib
import itertools
import json

import numpy as np
import pytest

from tests.data.test_clevr_like import run_program
from vqa.data import ClevrLike, VQADataModule
from vqa.data.generators.clevr_like import FAMILIES, choose_held_out, compose_question, generate
from vqa.data.generators.scenes import COLORS, SceneObject, sample_scene

# A scene to work out by hand (y grows downwards):
#   A small blue rubber circle at (10, 30)   left of B, above C
#   B large red metal square at (30, 10)     the top one
#   C small green rubber triangle (50, 50)   the bottom right one
SCENE = [
    SceneObject("small", "blue", "rubber", "circle", 10, 30),
    SceneObject("large", "red", "metal", "square", 30, 10),
    SceneObject("small", "green", "rubber", "triangle", 50, 50),
]
A, B, C = "small blue circle", "large red square", "small green triangle"
# Each object's shortest unique descriptions (the ways a question may name it).
NAMES_A = ("the blue object", "the circle")
NAMES_B = ("the large object", "the red object", "the metal object", "the square")
NAMES_C = ("the green object", "the triangle")


def one_hop_questions() -> dict[str, str]:
    """Every one-relation compose question about SCENE and its answer, by hand. The target may only be singled out
    by its relation and its material; "below B" ({A, C}, both rubber) therefore has no question."""
    expected = {}
    for a in NAMES_A:  # right of A: B (metal) and C (rubber); above A: B only; below A: C only
        expected[f"What is the metal object that is right of {a}?"] = B
        expected[f"What is the rubber object that is right of {a}?"] = C
        expected[f"What is above {a}?"] = B
        expected[f"What is below {a}?"] = C
    for b in NAMES_B:  # left of B: A only; right of B: C only
        expected[f"What is left of {b}?"] = A
        expected[f"What is right of {b}?"] = C
    for c in NAMES_C:  # left of and above C: A (rubber) and B (metal)
        for relation in ("left of", "above"):
            expected[f"What is the rubber object that is {relation} {c}?"] = A
            expected[f"What is the metal object that is {relation} {c}?"] = B
    return expected


def draw(hops: int, held_out: frozenset[str] = frozenset(), allow_held_out: bool = True, times: int = 400):
    rng = np.random.default_rng(0)
    return [compose_question(SCENE, rng, hops, held_out, allow_held_out) for _ in range(times)]


def test_compose_answers_on_a_hand_built_scene():
    made = draw(hops=1)
    assert {e["question"]: e["answer"] for e in made} == one_hop_questions()  # every one of them, nothing else
    assert all(e["subtype"] == "compose_seen" and e["family"] == "compose" and e["hops"] == 1 for e in made)
    # with no relation only the material can single an object out: B is the one metal object
    assert {(e["question"], e["answer"]) for e in draw(hops=0)} == {("What is the metal object?", B)}


def test_held_out_answers_only_where_allowed():
    held_out = frozenset({B})
    training = draw(hops=1, held_out=held_out, allow_held_out=False)
    assert {e["answer"] for e in training} == {A, C}  # B is the answer of no training question
    elsewhere = draw(hops=1, held_out=held_out)
    assert {e["subtype"] for e in elsewhere if e["answer"] == B} == {"compose_held_out"}
    assert {e["subtype"] for e in elsewhere if e["answer"] != B} == {"compose_seen"}
    # the metal object B is the only answer without a relation, so a training image gets no such question
    assert draw(hops=0, held_out=held_out, allow_held_out=False, times=5) == [None] * 5


def test_no_question_when_no_object_can_be_singled_out():
    twins = [
        SceneObject("small", "red", "rubber", "circle", 10, 10),
        SceneObject("large", "blue", "rubber", "square", 40, 40),
    ]
    rng = np.random.default_rng(0)
    assert compose_question(twins, rng, 0, frozenset(), True) is None  # same material: "the rubber object" is two


def test_compose_answers_follow_from_random_scenes():
    """The independent interpreter re-derives every answer; its `unique` step fails on an ambiguous reference."""
    rng = np.random.default_rng(11)
    made = 0
    for _ in range(40):
        scene = sample_scene(rng, 64, 3, 7)
        for hops in range(4):
            entry = compose_question(scene, rng, hops, frozenset(), True)
            if entry is None:
                continue
            assert run_program(entry["program"], scene) == entry["answer"], entry
            final_filter = entry["program"].split(" ")[-3]  # the target's own description names no answer word
            assert final_filter.startswith("filter") and not set(entry["answer"].split()) & set(
                final_filter[7:-1].split(",")
            )
            made += 1
    assert made >= 100


def test_held_out_choice_is_seeded_and_composable():
    held = choose_held_out(8, seed=0)
    assert held == choose_held_out(8, seed=0) and held != choose_held_out(8, seed=1) and len(set(held)) == 8
    every = {" ".join(w) for w in itertools.product(("small", "large"), COLORS, ("square", "circle", "triangle"))}
    seen = [s.split() for s in every - set(choose_held_out(24, seed=0))]
    for composition in choose_held_out(24, seed=0):  # every word pair of a held-out answer is in a seen one
        words = composition.split()
        for i, j in itertools.combinations(range(3), 2):
            assert any(s[i] == words[i] and s[j] == words[j] for s in seen), composition
    with pytest.raises(ValueError, match="cannot hold out 25"):
        choose_held_out(25, seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        ClevrLike(held_out_compositions=-1)


def test_off_by_default_and_byte_identical_to_the_generator_before_it():
    """Golden values computed with the generator as it was before the compose family (commit of issue 16)."""
    data = generate(12, 5, 32, 3, 5, 2, FAMILIES, seed=1)
    digest = hashlib.sha1(data.images.tobytes())
    for part in (data.objects.tobytes(), data.object_mask.tobytes(), json.dumps(data.questions).encode()):
        digest.update(part)
    assert digest.hexdigest() == "40ef6ae00c04cb57f9654d64a161fe1806521457"
    assert ClevrLike().cache_file.name == "clevr_like_ca00b0687063.npz"
    assert ClevrLike(held_out_compositions=3).cache_file == ClevrLike().cache_file  # unused while off


def test_cache_key_follows_the_compose_settings():
    def name(**settings) -> str:
        return ClevrLike(**{"num_images": 100, "test_images": 10, "val_images": 10, **settings}).cache_file.name

    keys = [
        name(),
        name(compose_questions=0.3),
        name(compose_questions=0.4),
        name(compose_questions=0.3, held_out_compositions=4),
        name(compose_questions=0.3, test_images=20),  # which images train decides which answers they may have
        name(compose_questions=0.3, val_images=20),
    ]
    assert len(set(keys)) == len(keys)
    with pytest.raises(ValueError, match="between 0 and 1"):
        ClevrLike(compose_questions=1.5)


def test_held_out_compositions_never_train_and_never_in_the_answer_vocabulary(tmp_path):
    source = ClevrLike(
        num_images=60,
        test_images=15,
        val_images=15,
        questions_per_image=6,
        image_size=32,
        compose_questions=0.5,
        cache_dir=str(tmp_path),
        input="objects",
    )
    splits = {name: source.read(name).records for name in ("train", "val", "test")}
    training = source.training_images()  # known before generating, and the split `read` gives
    assert training.sum() == len(source.read("train").images) == 30 and not training[-15:].any()
    assert sum(len(records) for records in splits.values()) == 60 * 6  # every image still gets its questions
    held_out = set(source.held_out)
    train_answers = {r.answers[0] for r in splits["train"]}
    assert not held_out & train_answers
    assert {r.types["subtype"] for r in splits["train"] if r.types["family"] == "compose"} == {"compose_seen"}
    for name in ("val", "test"):  # held-out answers are asked about, under their own type
        held = [r for r in splits[name] if r.types["subtype"] == "compose_held_out"]
        assert held and all(r.answers[0] in held_out for r in held)
    train_words = {w for a in train_answers for w in a.split()}
    assert all(set(composition.split()) <= train_words for composition in held_out)  # a decoder can compose them
    answers = VQADataModule(source, batch_size=8).vocab.answers.answers
    assert not held_out & set(answers)  # so a classifier scores 0 on compose_held_out by construction
