"""A CLEVR-style compositional dataset: 2-D scenes and questions built from small functional programs.

Question families (CLEVR's), each answerable only by reasoning over the scene:
- exist:             "Is there a large metal circle above the red object?"                      yes / no
- count:             "How many cyan objects are left of the small square?"                      0 .. max_objects
- compare_integer:   "Are there more red objects than metal triangles?" (more / fewer / same)   yes / no
- query_attribute:   "What color is the large object that is below the rubber triangle?"       an attribute value
- compare_attribute: "Does the small circle have the same color as the metal square?"          yes / no
- compose (opt-in):  "What is left of the small circle?"                                        "large red square"

The compose family is the open-vocabulary test case: its answer is a composition of the object's size, colour and
shape, and a seeded set of compositions is held out of every training answer (they still appear in training
scenes, and as answers in validation and test), so a classifier over training answers cannot produce them while
a decoder that composes words can.

Objects are referred to by the attributes that single them out, optionally through a chain of spatial
relations ("the X that is left of the Y that is above the Z"); `max_hops` bounds the number of relations in a
question, which is the main difficulty knob beside the number of objects. Every record's types carry its
family, its subtype and its number of hops, so accuracy is reported per family and per hop count.

Generated from a seed, never downloaded, cached under `data/clevr_like/` (written atomically).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from vqa.data.generators.base import Generated, GeneratedSource, ImageInput
from vqa.data.generators.scenes import (
    ATTRIBUTES,
    COLORS,
    OBJECT_FEATURES,
    SHAPES,
    SIZES,
    SceneObject,
    object_features,
    render,
    sample_scene,
)
from vqa.data.records import VQARecord
from vqa.data.sources.base import DATASETS

FAMILIES = ("exist", "count", "compare_integer", "query_attribute", "compare_attribute")
RELATIONS = {"left": "left of", "right": "right of", "above": "above", "below": "below"}
PLURAL = {"square": "squares", "circle": "circles", "triangle": "triangles", "object": "objects"}
ATTEMPTS = 50  # a family's generator retries this often before the question slot goes to another family
COMPOSED = ("size", "color", "shape")  # the attributes a compose answer names, in this word order
HELD_OUT_STREAM = 16  # mixed into the seed, so choosing held-out compositions leaves the scene stream untouched

Scene = list[SceneObject]
Description = dict[str, str]  # attribute -> value, e.g. {"color": "red", "shape": "circle"}


# ---- the functional building blocks ------------------------------------------------------------------------


def related(scene: Scene, anchor: int, relation: str) -> list[int]:
    """Objects standing in `relation` to object `anchor` (left of it, ...), by centre position."""
    a = scene[anchor]
    test = {
        "left": lambda o: o.x < a.x,
        "right": lambda o: o.x > a.x,
        "above": lambda o: o.y < a.y,
        "below": lambda o: o.y > a.y,
    }[relation]
    return [i for i, o in enumerate(scene) if i != anchor and test(o)]


def matching(scene: Scene, candidates: list[int], description: Description) -> list[int]:
    """The candidates that have every attribute value of `description`."""
    return [i for i in candidates if all(scene[i].attribute(k) == v for k, v in description.items())]


def single_out(
    scene: Scene, target: int, candidates: list[int], rng: np.random.Generator, exclude: tuple[str, ...] = ()
) -> Description | None:
    """A smallest set of the target's attributes (not those in `exclude`) that no other candidate shares all
    of; smallest sizes are tried first, in random order. None when no such set exists."""
    names = [a for a in ATTRIBUTES if a not in exclude]
    for k in range(len(names) + 1):
        subsets = list(itertools.combinations(names, k))
        for j in rng.permutation(len(subsets)):
            description = {a: scene[target].attribute(a) for a in subsets[j]}
            if matching(scene, candidates, description) == [target]:
                return description
    return None


def noun_phrase(description: Description, plural: bool = False) -> str:
    """ "large red metal circle", "small objects", ... (size, colour, material, then shape or "object")."""
    words = [description[a] for a in ("size", "color", "material") if a in description]
    noun = description.get("shape", "object")
    return " ".join([*words, PLURAL[noun] if plural else noun])


def program_step(function: str, value: str | Description = "") -> str:
    """One program step as text: "filter[large,red]", "relate[left]", "count"."""
    if isinstance(value, dict):
        value = ",".join(value[a] for a in ATTRIBUTES if a in value)
    return f"{function}[{value}]" if value else function


@dataclass
class Reference:
    """A phrase that picks out exactly one object (`target`): "the red circle that is left of the small square"."""

    target: int
    text: str
    program: list[str]


def make_reference(
    scene: Scene, rng: np.random.Generator, hops: int, exclude: tuple[str, ...] = ()
) -> Reference | None:
    """A unique reference through `hops` spatial relations; the final object's description avoids `exclude`."""
    everyone = list(range(len(scene)))
    anchor = int(rng.integers(len(scene)))
    description = single_out(scene, anchor, everyone, rng, exclude if hops == 0 else ())
    if description is None:
        return None
    text = f"the {noun_phrase(description)}"
    program = ["scene", program_step("filter", description), "unique"]
    current = anchor
    for hop in range(hops):
        relations = [r for r in RELATIONS if related(scene, current, r)]
        if not relations:
            return None
        relation = relations[int(rng.integers(len(relations)))]
        candidates = related(scene, current, relation)
        target = candidates[int(rng.integers(len(candidates)))]
        description = single_out(scene, target, candidates, rng, exclude if hop == hops - 1 else ())
        if description is None:
            return None
        text = f"the {noun_phrase(description)} that is {RELATIONS[relation]} {text}"
        program += [program_step("relate", relation), program_step("filter", description), "unique"]
        current = target
    return Reference(current, text, program)


def random_description(scene: Scene, rng: np.random.Generator, sizes: tuple[int, int], like: int | None) -> Description:
    """A random attribute subset of `sizes[0]..sizes[1]` attributes; values copied from object `like` (so the
    set is not empty) or drawn at random when `like` is None."""
    count = int(rng.integers(sizes[0], sizes[1] + 1))
    names = [list(ATTRIBUTES)[i] for i in sorted(rng.choice(len(ATTRIBUTES), size=count, replace=False))]
    if like is not None:
        return {a: scene[like].attribute(a) for a in names}
    return {a: ATTRIBUTES[a][int(rng.integers(len(ATTRIBUTES[a])))] for a in names}


class ObjectSet:
    """A described set of objects: nouns "red circle(s)" and an optional place " left of the large square"."""

    def __init__(self, members: list[int], description: Description, where: str, program: list[str]) -> None:
        self.members = members
        self.singular = noun_phrase(description)
        self.plural = noun_phrase(description, plural=True)
        self.where = where
        self.program = program


def make_set(
    scene: Scene, rng: np.random.Generator, hops: int, min_attributes: int, nonempty: bool
) -> ObjectSet | None:
    """Objects matching a random description, within the objects related to a reference when hops >= 1.

    With `nonempty`, the description copies the attributes of one candidate, so at least that one matches."""
    if hops == 0:
        base, where, program = list(range(len(scene))), "", ["scene"]
    else:
        reference = make_reference(scene, rng, hops - 1)
        if reference is None:
            return None
        relation = list(RELATIONS)[int(rng.integers(len(RELATIONS)))]
        base = related(scene, reference.target, relation)
        where = f" {RELATIONS[relation]} {reference.text}"
        program = [*reference.program, program_step("relate", relation)]
    like = base[int(rng.integers(len(base)))] if nonempty and base else None
    description = random_description(scene, rng, (min_attributes, 3), like)
    members = matching(scene, base, description)
    return ObjectSet(members, description, where, [*program, program_step("filter", description)])


# ---- the question families: each returns (question, answer, subtype, program) or None ----------------------


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def exist_question(scene: Scene, rng: np.random.Generator, hops: int):
    group = make_set(scene, rng, hops, 1, nonempty=bool(rng.integers(2)))
    if group is None:
        return None
    return (
        f"Is there a {group.singular}{group.where}?",
        _yes_no(bool(group.members)),
        "exist",
        [*group.program, "exist"],
    )


def count_question(scene: Scene, rng: np.random.Generator, hops: int):
    group = make_set(scene, rng, hops, 0 if hops else 1, nonempty=bool(rng.integers(2)))
    if group is None:
        return None
    question = f"How many {group.plural} are{group.where}?" if hops else f"How many {group.plural} are there?"
    return question, str(len(group.members)), "count", [*group.program, "count"]


def compare_integer_question(scene: Scene, rng: np.random.Generator, hops: int):
    first = make_set(scene, rng, hops, 1, nonempty=True)
    second = make_set(scene, rng, 0, 1, nonempty=bool(rng.integers(2)))
    if first is None or second is None or first.plural + first.where == second.plural:
        return None
    a, b = len(first.members), len(second.members)
    one, other = f"{first.plural}{first.where}", second.plural
    subtype = ("compare_more", "compare_fewer", "compare_equal")[int(rng.integers(3))]
    if subtype == "compare_more":
        question, answer = f"Are there more {one} than {other}?", a > b
    elif subtype == "compare_fewer":
        question, answer = f"Are there fewer {one} than {other}?", a < b
    else:
        question, answer = f"Are there the same number of {one} and {other}?", a == b
    function = {"compare_more": "greater_than", "compare_fewer": "less_than", "compare_equal": "equal_integer"}[subtype]
    program = [*first.program, "count", *second.program, "count", function]
    return question, _yes_no(answer), subtype, program


def query_attribute_question(scene: Scene, rng: np.random.Generator, hops: int):
    attribute = list(ATTRIBUTES)[int(rng.integers(len(ATTRIBUTES)))]
    reference = make_reference(scene, rng, hops, exclude=(attribute,))
    if reference is None:
        return None
    answer = scene[reference.target].attribute(attribute)
    return (
        f"What {attribute} is {reference.text}?",
        answer,
        f"query_{attribute}",
        [*reference.program, f"query_{attribute}"],
    )


def compare_attribute_question(scene: Scene, rng: np.random.Generator, hops: int):
    attribute = list(ATTRIBUTES)[int(rng.integers(len(ATTRIBUTES)))]
    first_hops = int(rng.integers(hops + 1))
    first = make_reference(scene, rng, first_hops, exclude=(attribute,))
    second = make_reference(scene, rng, hops - first_hops, exclude=(attribute,))
    if first is None or second is None or first.target == second.target:
        return None
    same = scene[first.target].attribute(attribute) == scene[second.target].attribute(attribute)
    question = f"Does {first.text} have the same {attribute} as {second.text}?"
    return question, _yes_no(same), f"same_{attribute}", [*first.program, *second.program, f"equal_{attribute}"]


# ---- the compose family (opt-in): answers are compositions, some held out of training -----------------------


def composition(obj: SceneObject) -> str:
    """The object as a compose answer: "large red square" (size, colour, shape)."""
    return noun_phrase({a: obj.attribute(a) for a in COMPOSED})


def choose_held_out(count: int, seed: int) -> tuple[str, ...]:
    """`count` (size, colour, shape) compositions held out of training answers, seeded, sorted.

    A composition is only held out while each of its three word pairs ("large red", "red square", "large
    square") stays in some seen composition, so every held-out answer is new as a whole but built from words and
    pairs that training answers contain. That allows at most one size per (colour, shape): 24 of the 48.

    Args:
        count: how many compositions to hold out.
        seed: the dataset's seed (drawn on a stream of its own, apart from the scenes').

    Returns:
        The held-out compositions as answers, "large red square", sorted.

    Raises:
        ValueError: when `count` compositions cannot be held out under that rule.
    """
    if count < 0:
        raise ValueError(f"held_out_compositions must be >= 0, got {count}")
    every = list(itertools.product(SIZES, COLORS, SHAPES))
    seen, held = set(every), []
    rng = np.random.default_rng([seed, HELD_OUT_STREAM])
    for i in rng.permutation(len(every)):
        if len(held) == count:
            break
        seen.discard(every[i])
        if _pairs_still_seen(every[i], seen):
            held.append(every[i])
        else:
            seen.add(every[i])
    if len(held) < count:
        raise ValueError(f"cannot hold out {count} compositions with every word pair still seen (at most 24)")
    return tuple(sorted(" ".join(words) for words in held))


def _pairs_still_seen(words: tuple[str, str, str], seen: set[tuple[str, str, str]]) -> bool:
    """Whether each two of `words`' three positions occur together in some composition of `seen`."""
    pairs = itertools.combinations(range(3), 2)
    return all(any(other[i] == words[i] and other[j] == words[j] for other in seen) for i, j in pairs)


def compose_wording(reference: Reference) -> str:
    """The question about `reference`. "What is the object that is left of X?" is shortened to CLEVR's
    "What is left of X?"; a reference that names a material keeps it ("What is the metal object ...?")."""
    return f"What is {reference.text.removeprefix('the object that is ')}?"


def compose_question(
    scene: Scene, rng: np.random.Generator, hops: int, held_out: frozenset[str], allow_held_out: bool
) -> dict | None:
    """One compose question: the target is singled out by relations and material only, never by a word of its
    answer, and its answer is its composition.

    Args:
        scene: the objects.
        rng: the generator's random stream.
        hops: spatial relations in the reference (0: the material alone must single the target out).
        held_out: the compositions held out of training answers.
        allow_held_out: False on a training image: a question whose answer is held out is re-drawn.

    Returns:
        The question dict (as `generate_question`'s), subtype `compose_held_out` or `compose_seen`; None when
        `ATTEMPTS` tries found no unambiguous, allowed question.
    """
    for _ in range(ATTEMPTS):
        reference = make_reference(scene, rng, hops, exclude=COMPOSED)
        if reference is None:
            continue
        answer = composition(scene[reference.target])
        if answer in held_out and not allow_held_out:
            continue
        return {
            "question": compose_wording(reference),
            "answer": answer,
            "family": "compose",
            "subtype": "compose_held_out" if answer in held_out else "compose_seen",
            "hops": hops,
            "program": " ".join([*reference.program, "query_composition"]),
        }
    return None


@dataclass
class ComposePlan:
    """How the compose family enters a generated set.

    Attributes:
        fraction: chance that a question slot is a compose question (a slot whose compose question cannot be
            made goes to the other families).
        held_out: compositions never given as the answer on a training image.
        training: bool [num_images], True where an image ends in the training split.
    """

    fraction: float
    held_out: frozenset[str]
    training: np.ndarray


GENERATORS = {
    "exist": exist_question,
    "count": count_question,
    "compare_integer": compare_integer_question,
    "query_attribute": query_attribute_question,
    "compare_attribute": compare_attribute_question,
}
YES_NO_FAMILIES = ("exist", "compare_integer", "compare_attribute")
BALANCED_COUNTS = 4  # count answers aimed for: 0, 1, 2, 3 equally often


def wanted_answer(family: str, rng: np.random.Generator) -> str | None:
    """The answer to aim for, so that answers are balanced: yes or no; a count of 0-3 (small counts would
    otherwise dominate); None (any) for query_attribute, whose answers are balanced by the scenes."""
    if family in YES_NO_FAMILIES:
        return _yes_no(bool(rng.integers(2)))
    if family == "count":
        return str(int(rng.integers(BALANCED_COUNTS)))
    return None


def generate_question(scene: Scene, rng: np.random.Generator, family: str, hops: int) -> dict | None:
    """One question of `family` with exactly `hops` relations. The wanted answer is drawn first and the
    question retried until it has that answer (`wanted_answer`); after `ATTEMPTS` tries the first question
    made is kept. None if the scene allows no question of this kind (e.g. no relation chain that long)."""
    wanted = wanted_answer(family, rng)
    fallback = None
    for _ in range(ATTEMPTS):
        made = GENERATORS[family](scene, rng, hops)
        if made is None:
            continue
        question, answer, subtype, program = made
        entry = {
            "question": question,
            "answer": answer,
            "family": family,
            "subtype": subtype,
            "hops": hops,
            "program": " ".join(program),
        }
        if wanted is None or answer == wanted:
            return entry
        fallback = fallback or entry
    return fallback


def generate(
    num_images: int,
    questions_per_image: int,
    image_size: int,
    min_objects: int,
    max_objects: int,
    max_hops: int,
    families: tuple[str, ...],
    seed: int,
    compose: ComposePlan | None = None,
) -> Generated:
    """Images uint8 [N, S, S, 3], object features [N, max_objects, OBJECT_FEATURES] with their mask, and question
    dicts (image, question, answer, family, subtype, hops, program). Without `compose` the random stream, and so
    the output, is exactly that of the generator before the compose family existed."""
    rng = np.random.default_rng(seed)
    images = np.empty((num_images, image_size, image_size, 3), dtype=np.uint8)
    objects = np.zeros((num_images, max_objects, OBJECT_FEATURES), dtype=np.float32)
    object_mask = np.zeros((num_images, max_objects), dtype=bool)
    questions: list[dict] = []
    for index in range(num_images):
        scene = sample_scene(rng, image_size, min_objects, max_objects)
        images[index] = render(scene, image_size)
        objects[index, : len(scene)] = object_features(scene, image_size)
        object_mask[index, : len(scene)] = True
        made = 0
        while made < questions_per_image:
            entry = None
            if compose is not None and rng.random() < compose.fraction:
                hops = int(rng.integers(max_hops + 1))
                entry = compose_question(scene, rng, hops, compose.held_out, not compose.training[index])
            if entry is None:
                family = families[int(rng.integers(len(families)))]
                entry = generate_question(scene, rng, family, int(rng.integers(max_hops + 1)))
            if entry is not None:
                questions.append({"image": index, **entry})
                made += 1
    return Generated(images, objects, object_mask, questions)


@DATASETS.register("clevr_like")
class ClevrLike(GeneratedSource):
    """CLEVR-style 2-D scenes with exist / count / compare_integer / query_attribute / compare_attribute
    questions over chains of spatial relations; generated from a seed and cached.

    The last `test_images` images form the test split; `val_images` are carved from the rest by image.
    Breakdown types per record: family, subtype (e.g. query_color, compare_fewer) and hops. With
    `input="objects"` each image is its objects' state descriptions [max_objects, 17] (one-hot size, colour,
    material, shape; x and y in [0, 1]), padded and masked, instead of pixels.

    With `compose_questions` > 0 the open-vocabulary compose family joins in ("What is left of the small
    circle?" -> "large red square"); its subtypes `compose_seen` and `compose_held_out` split the answers a
    training set contains from the `held_out` compositions, which no training question has as its answer.

    Args:
        num_images: images generated in all.
        test_images: images of the test split.
        val_images: training images moved to the validation split.
        questions_per_image: questions asked about each image.
        image_size: side of the square images in pixels.
        min_objects: fewest objects in a scene.
        max_objects: most objects in a scene (also the largest count answer).
        max_hops: most spatial relations chained in one question (0 = none; 2-3 is CLEVR-like).
        families: the question families to generate (default: all five).
        seed: generator seed; the same settings always give the same dataset.
        cache_dir: where the generated dataset is cached.
        input: "pixels" (rendered images) or "objects" (state descriptions, for the `features` image encoder).
        compose_questions: chance that a question is of the compose family, 0 to 1 (0 = off: the data and the
            cache file are exactly those of a generator without the family).
        held_out_compositions: how many (size, colour, shape) compositions, chosen from `seed`, are never the
            answer of a training question (0 to 24; used only with compose questions).
    """

    title = "the CLEVR-style set"
    version = "v3"  # v3: the cache also holds the object features

    def __init__(
        self,
        num_images: int = 10000,
        test_images: int = 1000,
        val_images: int = 1000,
        questions_per_image: int = 10,
        image_size: int = 64,
        min_objects: int = 3,
        max_objects: int = 6,
        max_hops: int = 2,
        families: tuple[str, ...] = FAMILIES,
        seed: int = 0,
        cache_dir: str = "data/clevr_like",
        input: ImageInput = "pixels",
        compose_questions: float = 0.0,
        held_out_compositions: int = 8,
    ) -> None:
        super().__init__(num_images, test_images, val_images, seed, cache_dir, input)
        if not 2 <= min_objects <= max_objects:
            raise ValueError(f"need 2 <= min_objects <= max_objects, got {min_objects} and {max_objects}")
        unknown = [f for f in families if f not in GENERATORS]
        if unknown or not families:
            raise ValueError(f"unknown question families {unknown}; choose from {list(FAMILIES)}")
        if max_hops < 0:
            raise ValueError(f"max_hops must be >= 0, got {max_hops}")
        if image_size < 24:
            raise ValueError(f"image_size must be at least 24 pixels, got {image_size}")
        if not 0.0 <= compose_questions <= 1.0:
            raise ValueError(f"compose_questions must be between 0 and 1, got {compose_questions}")
        self.questions_per_image = questions_per_image
        self.image_size = image_size
        self.min_objects = min_objects
        self.max_objects = max_objects
        self.max_hops = max_hops
        self.families = tuple(families)
        self.compose_questions = compose_questions
        self.held_out_compositions = held_out_compositions
        self.held_out = choose_held_out(held_out_compositions, seed)

    def settings(self) -> list:
        settings = [
            self.questions_per_image,
            self.image_size,
            self.min_objects,
            self.max_objects,
            self.max_hops,
            list(self.families),
        ]
        if not self.compose_questions:  # off: the cache key of the generator before the compose family
            return settings
        # which images are training images decides which answers they may have, so the split sizes count too
        compose = [self.compose_questions, self.held_out_compositions, self.test_images, self.val_images]
        return [*settings, {"compose": compose}]

    def compose_plan(self) -> ComposePlan | None:
        """The compose family's settings for `generate`; None when it is off."""
        if not self.compose_questions:
            return None
        return ComposePlan(self.compose_questions, frozenset(self.held_out), self.training_images())

    def generate(self) -> Generated:
        return generate(
            self.num_images,
            self.questions_per_image,
            self.image_size,
            self.min_objects,
            self.max_objects,
            self.max_hops,
            self.families,
            self.seed,
            self.compose_plan(),
        )

    def record(self, index: int, question: dict) -> VQARecord:
        return VQARecord(
            image=question["image"],
            question=question["question"],
            answers=[question["answer"]],
            types={"family": question["family"], "subtype": question["subtype"], "hops": str(question["hops"])},
            meta={"question_id": index, "program": question["program"]},
        )
