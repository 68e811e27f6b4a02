"""The official VQA answer normalization, reproducing the official evaluator (vqaEval.py of GT-Vision-Lab/VQA).

The VQA evaluator compares strings after three steps:

1. whitespace: newlines and tabs become spaces and the ends are stripped (always);
2. punctuation: each of ``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !`` is deleted when it stands next to a
   space in the original text or when the original text holds a digit,comma,digit pattern (so "1,000" becomes
   "1000"), and is otherwise replaced by a space; then periods not followed by a digit are deleted (so "3.5"
   keeps its period), at most 32 of them. Apostrophes and colons are kept;
3. words: lower-case, split on whitespace, map the number words none/zero..ten to digits, drop the articles
   a/an/the, then replace each word found in the evaluator's contraction table by its entry, join with spaces.

The evaluator applies steps 2-3 only to questions whose human answers are not all identical (see
`vqa.evaluation.metrics.vqa_accuracy`); training targets are normalized always, as is common practice.

The tables below are data, not rules: they hold exactly what the official evaluator holds, quirks included,
because scores are only comparable to published ones when every spelling is treated the same way. Deriving
them ("every contraction with its apostrophes left out") maps spellings the evaluator leaves alone.
"""

from __future__ import annotations

import functools
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

# This table reproduces the official evaluator's contraction map entry for entry (same keys, same values, same
# order). It is not a regular rule, and the irregularities are kept on purpose because they change scores:
# - the "I" forms are keyed capitalized ("Im", "Ive", "Id've", "I'dve") while words are looked up after
#   lower-casing, so they never match and "im", "ive" stay as typed;
# - "somebody'd" maps to "somebodyd" (the reverse of every other entry), and "let's", "she's" map to themselves;
# - only some spellings are listed: "couldntve", "shes", "yallll", "somebodyd", "hedve", ... are not keys and
#   stay as typed, while "ow's'at", "'ows'at", "'ow'sat" all become "'ow's'at".
# A value is never looked up again (one pass per word).
CONTRACTIONS: dict[str, str] = {
    "aint": "ain't",
    "arent": "aren't",
    "cant": "can't",
    "couldve": "could've",
    "couldnt": "couldn't",
    "couldn'tve": "couldn't've",
    "couldnt've": "couldn't've",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "dont": "don't",
    "hadnt": "hadn't",
    "hadnt've": "hadn't've",
    "hadn'tve": "hadn't've",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hed": "he'd",
    "hed've": "he'd've",
    "he'dve": "he'd've",
    "hes": "he's",
    "howd": "how'd",
    "howll": "how'll",
    "hows": "how's",
    "Id've": "I'd've",
    "I'dve": "I'd've",
    "Im": "I'm",
    "Ive": "I've",
    "isnt": "isn't",
    "itd": "it'd",
    "itd've": "it'd've",
    "it'dve": "it'd've",
    "itll": "it'll",
    "let's": "let's",
    "maam": "ma'am",
    "mightnt": "mightn't",
    "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've",
    "mightve": "might've",
    "mustnt": "mustn't",
    "mustve": "must've",
    "neednt": "needn't",
    "notve": "not've",
    "oclock": "o'clock",
    "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at",
    "shant": "shan't",
    "shed've": "she'd've",
    "she'dve": "she'd've",
    "she's": "she's",
    "shouldve": "should've",
    "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've",
    "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've",
    "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll",
    "somebodys": "somebody's",
    "someoned": "someone'd",
    "someoned've": "someone'd've",
    "someone'dve": "someone'd've",
    "someonell": "someone'll",
    "someones": "someone's",
    "somethingd": "something'd",
    "somethingd've": "something'd've",
    "something'dve": "something'd've",
    "somethingll": "something'll",
    "thats": "that's",
    "thered": "there'd",
    "thered've": "there'd've",
    "there'dve": "there'd've",
    "therere": "there're",
    "theres": "there's",
    "theyd": "they'd",
    "theyd've": "they'd've",
    "they'dve": "they'd've",
    "theyll": "they'll",
    "theyre": "they're",
    "theyve": "they've",
    "twas": "'twas",
    "wasnt": "wasn't",
    "wed've": "we'd've",
    "we'dve": "we'd've",
    "weve": "we've",
    "werent": "weren't",
    "whatll": "what'll",
    "whatre": "what're",
    "whats": "what's",
    "whatve": "what've",
    "whens": "when's",
    "whered": "where'd",
    "wheres": "where's",
    "whereve": "where've",
    "whod": "who'd",
    "whod've": "who'd've",
    "who'dve": "who'd've",
    "wholl": "who'll",
    "whos": "who's",
    "whove": "who've",
    "whyll": "why'll",
    "whyre": "why're",
    "whys": "why's",
    "wont": "won't",
    "wouldve": "would've",
    "wouldnt": "wouldn't",
    "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've",
    "yall": "y'all",
    "yall'll": "y'all'll",
    "y'allll": "y'all'll",
    "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've",
    "y'all'dve": "y'all'd've",
    "youd": "you'd",
    "youd've": "you'd've",
    "you'dve": "you'd've",
    "youll": "you'll",
    "youre": "you're",
    "youve": "you've",
}

# Digits are ASCII digits only: the evaluator ran under Python 2, whose `re` gives \d that meaning unless
# re.UNICODE is set, and it is not set there.
_DIGIT_COMMA_DIGIT = re.compile(r"\d,\d", re.ASCII)
_PERIOD_NOT_BEFORE_DIGIT = re.compile(r"\.(?!\d)", re.ASCII)
# The evaluator passes re.UNICODE (== 32) where `Pattern.sub` takes its replacement count, so it deletes at most
# the first 32 such periods of an answer; the rest stay.
_MAX_PERIODS_DELETED = 32
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
    return _PERIOD_NOT_BEFORE_DIGIT.sub("", out, count=_MAX_PERIODS_DELETED)


def normalize_words(text: str) -> str:
    """Step 3: lower-case; number words to digits; drop articles; look each word up in the contraction table.

    The order matters and is the evaluator's: number words and articles are checked before contractions, and a
    word the contraction table produced is not looked up again.
    """
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES)


@functools.lru_cache(maxsize=1 << 18)  # answers repeat a lot: VQA v2 train has 4.4M human answers, few distinct
def normalize_answer(text: str) -> str:
    """The full official normalization of one answer: whitespace, punctuation, words."""
    return normalize_words(strip_punctuation(clean_whitespace(text)))
