"""The official VQA answer normalization, written from its published description (see docs/datasets.md).

The VQA evaluator compares strings after three steps:

1. whitespace: newlines and tabs become spaces and the ends are stripped (always);
2. punctuation: each of ``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !`` is deleted when it stands next to a
   space in the original text or when the original text holds a digit,comma,digit pattern (so "1,000" becomes
   "1000"), and is otherwise replaced by a space; then every period not followed by a digit is deleted
   (so "3.5" keeps its period). Apostrophes and colons are kept;
3. words: lower-case, split on whitespace, map the number words none/zero..ten to digits, drop the articles
   a/an/the, restore the apostrophe of contractions typed without one ("dont" -> "don't"), join with spaces.

The evaluator applies steps 2-3 only to questions whose human answers are not all identical (see
`vqa.evaluation.metrics.vqa_accuracy`); training targets are normalized always, as is common practice.
"""

from __future__ import annotations

import functools
import itertools
import re

PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})

# Contractions in their written form. Every way of typing one with some of its apostrophes left out maps back to
# it ("couldntve", "couldnt've" -> "couldn't've"), except spellings that are ordinary words of their own
# (listed below). Contractions of "I" are absent on purpose: the reference evaluator lists them capitalized and
# compares lower-cased words, so "im", "ive", "id" stay as they are there, and must here too.
_CONTRACTIONS = """
    ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't
    he'd he'd've he's how'd how'll how's isn't it'd it'd've it'll let's ma'am mightn't mightn't've might've
    mustn't must've needn't not've o'clock oughtn't shan't she'd she'd've she'll she's should've shouldn't
    shouldn't've somebody'd somebody'd've somebody'll somebody's someone'd someone'd've someone'll someone's
    something'd something'd've something'll that's there'd there'd've there're there's they'd they'd've
    they'll they're they've 'twas wasn't we'd we'd've we'll we're we've weren't what'll what're what's
    what've when's where'd where's where've who'd who'd've who'll who's who've why'll why're why's won't
    would've wouldn't wouldn't've y'all y'all'll y'all'd've you'd you'd've you'll you're you've
""".split()
_ORDINARY_WORDS = frozenset({"hell", "ill", "its", "lets", "shed", "shell", "wed", "well", "were", "whore"})


def _apostrophe_variants(word: str) -> list[str]:
    """`word` with each non-empty subset of its apostrophes removed."""
    pieces = word.split("'")
    variants = []
    for keep in itertools.product((True, False), repeat=len(pieces) - 1):
        if all(keep):
            continue
        text = pieces[0]
        for kept, piece in zip(keep, pieces[1:]):
            text += ("'" if kept else "") + piece
        variants.append(text)
    return variants


CONTRACTIONS: dict[str, str] = {
    variant: word for word in _CONTRACTIONS for variant in _apostrophe_variants(word) if variant not in _ORDINARY_WORDS
}

_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d")
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)")
_ANY_MARK = re.compile("[" + re.escape("".join(PUNCTUATION)) + ".]")


def clean_whitespace(text: str) -> str:
    """Newlines and tabs to spaces, ends stripped (the step the evaluator applies to every answer)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def strip_punctuation(text: str) -> str:
    """Step 2: delete or space out punctuation, then delete periods not followed by a digit.

    Whether a mark is deleted or replaced by a space is decided on the original `text`, as the evaluator does.
    """
    if not _ANY_MARK.search(text):
        return text
    delete_everywhere = _DIGIT_COMMA_DIGIT.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        if delete_everywhere or f"{mark} " in text or f" {mark}" in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out)


def normalize_words(text: str) -> str:
    """Step 3: lower-case; number words to digits; drop articles; restore contractions' apostrophes."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES)


@functools.lru_cache(maxsize=1 << 18)  # answers repeat a lot: VQA v2 train has 4.4M human answers, few distinct
def normalize_answer(text: str) -> str:
    """The full official normalization of one answer: whitespace, punctuation, words."""
    return normalize_words(strip_punctuation(clean_whitespace(text)))
