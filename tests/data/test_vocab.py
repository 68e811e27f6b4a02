import pytest
import torch

from vqa.data.vocab import AnswerVocab, Vocabulary, soft_score
from vqa.models.encoders import WordTokenizer


@pytest.mark.parametrize("matches,expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (7, 1.0), (10, 1.0)])
def test_soft_score_is_the_official_closed_form_for_ten_annotators(matches, expected):
    assert soft_score(matches, 10) == pytest.approx(expected)


def test_soft_score_is_not_min_one_n_over_three():
    assert soft_score(1, 10) != pytest.approx(1 / 3)


def test_single_annotator_scores_by_exact_match():
    assert soft_score(1, 1) == 1.0 and soft_score(0, 1) == 0.0


def test_build_counts_every_human_answer_and_orders_by_frequency():
    vocab = AnswerVocab.build([["yes"] * 9 + ["no"], ["no"] * 3, ["2"]], min_count=2)
    assert vocab.answers == ["yes", "no"]
    with pytest.raises(ValueError, match="min_count=50"):
        AnswerVocab.build([["a"]], min_count=50)


def test_encode_gives_sparse_official_scores_and_ignores_unknown_answers():
    vocab = AnswerVocab(["yes", "no", "2"])
    ids, scores = vocab.encode([["yes"] * 3 + ["no"] * 7, ["maybe"] * 10, ["2"]])
    assert ids.shape == scores.shape == (3, 2)
    dense = torch.zeros(3, 3).scatter_add_(1, ids, scores)
    torch.testing.assert_close(dense, torch.tensor([[0.9, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert vocab.coverage([["yes"] * 3 + ["x"] * 7, ["x"]]) == pytest.approx(0.45)


def test_vocabulary_round_trips_through_json_data():
    tokenizer = WordTokenizer()
    tokenizer.fit(["what colour is it?"])
    vocab = Vocabulary(tokenizer, AnswerVocab(["red", "blue"]), ["type/color"])
    again = Vocabulary.from_dict(vocab.to_dict())
    assert again.answers.answers == ["red", "blue"] and again.groups == ["type/color"]
    assert torch.equal(again.tokenizer.encode(["what is it"])[0], tokenizer.encode(["what is it"])[0])
    with pytest.raises(ValueError, match="malformed vocabulary"):
        Vocabulary.from_dict({"answers": []})
