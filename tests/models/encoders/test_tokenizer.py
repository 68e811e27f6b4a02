import pytest
import torch

from vqa.models.encoders import TOKENIZERS, WordTokenizer
from vqa.models.encoders.tokenizer import EmptyQuestionError


def fitted(**kwargs) -> WordTokenizer:
    tokenizer = WordTokenizer(**kwargs)
    tokenizer.fit(["What color is the shape?", "Is there a red shape?", "what is it"])
    return tokenizer


def test_lowercases_and_splits_punctuation():
    assert fitted().split("What's the Shape, now?") == ["what", "'", "s", "the", "shape", ",", "now", "?"]


def test_vocabulary_starts_with_pad_and_unk_and_orders_by_frequency():
    tokenizer = fitted()
    assert tokenizer.words[:2] == ["<pad>", "<unk>"]
    assert tokenizer.words[2:6] == ["is", "?", "shape", "what"]  # 3, then 2 each (ties alphabetical)
    assert tokenizer.vocab_size == len(set(tokenizer.words))


def test_encode_pads_right_and_maps_unknown_words_to_unk():
    tokenizer = fitted()
    ids, mask = tokenizer.encode(["what is it", "zebra ?"])
    assert ids.shape == mask.shape == (2, 3)
    assert mask.tolist() == [[True, True, True], [True, True, False]]
    assert ids[1, 0] == 1 and ids[1, 2] == 0  # <unk>, then <pad>
    assert ids[0].tolist() == [tokenizer._index[w] for w in ["what", "is", "it"]]


def test_non_ascii_words_are_kept_whole():
    tokenizer = WordTokenizer()
    tokenizer.fit(["Welche Farbe hat die Straße?"])
    ids, _ = tokenizer.encode(["die Straße"])
    assert 1 not in ids.tolist()[0]


def test_long_questions_are_truncated_with_a_warning():
    tokenizer = fitted(max_length=4)
    with pytest.warns(UserWarning, match="1 of 2 questions are longer than max_length=4"):
        ids, mask = tokenizer.encode(["what is it", "what color is the shape ?"])
    assert ids.shape == (2, 4)


def test_empty_question_is_a_clear_error():
    with pytest.raises(EmptyQuestionError, match="question #1 is empty"):
        fitted().encode(["what", "   "])


def test_min_count_and_max_vocab():
    assert "color" not in fitted(min_count=2).words
    assert fitted(max_vocab=4).vocab_size == 4


def test_state_round_trip_through_the_registry():
    tokenizer = fitted()
    rebuilt = TOKENIZERS.create("word", **tokenizer.init_args)
    rebuilt.load_state_dict(tokenizer.state_dict())
    questions = ["is there a red shape?", "unseen words here"]
    for a, b in zip(tokenizer.encode(questions), rebuilt.encode(questions)):
        assert torch.equal(a, b)
