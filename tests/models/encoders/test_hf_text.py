"""Hugging Face text models and their tokenizers (a tiny random BERT from a temporary folder)."""

from __future__ import annotations

import pytest
import torch

from vqa.data.vocab import AnswerVocab, Vocabulary
from vqa.models.encoders import TEXT_ENCODERS, HFTextEncoder, HFTokenizer, WordTokenizer
from vqa.models.encoders.hf_text import TokenizerMismatchError
from vqa.models.encoders.tokenizer import EmptyQuestionError
from vqa.registry import part_config

QUESTIONS = ["What color is the shape?", "Is there a red circle in the image?", "What shape?"]


def test_tokenizer_pads_right_with_special_tokens(tiny_bert_dir):
    tokenizer = HFTokenizer(tiny_bert_dir)
    ids, mask = tokenizer.encode(QUESTIONS)
    lengths = mask.sum(1).tolist()
    assert lengths == [8, 11, 5]  # [CLS] + words and "?" + [SEP]
    assert ids.shape == (3, 11) and mask.dtype == torch.bool
    assert (ids[:, 0] == 2).all()  # [CLS]
    for row, length in enumerate(lengths):
        assert mask[row, :length].all() and not mask[row, length:].any()
        assert ids[row, length - 1] == 3 and (ids[row, length:] == tokenizer.pad_id).all()  # [SEP], then padding
    assert tokenizer.vocab_size == 19 and tokenizer.pad_id == 0


def test_tokenizer_warns_when_it_truncates(tiny_bert_dir):
    tokenizer = HFTokenizer(tiny_bert_dir, max_length=5)
    with pytest.warns(UserWarning, match="2 of 3 questions are longer than max_length=5"):
        ids, mask = tokenizer.encode(QUESTIONS)
    assert ids.shape == (3, 5) and (ids[mask.sum(1) == 5, 4] == 3).all()  # truncated rows still end in [SEP]
    with pytest.raises(EmptyQuestionError, match="question #1"):
        tokenizer.encode(["what?", "  "])


def test_tokenizer_survives_the_vocabulary_round_trip(tiny_bert_dir):
    vocab = Vocabulary(HFTokenizer(tiny_bert_dir, max_length=16), AnswerVocab(["red", "blue"]), [])
    saved = vocab.to_dict()
    assert saved["tokenizer"]["init_args"]["model"] == tiny_bert_dir  # how a saved model finds its tokenizer
    restored = Vocabulary.from_dict(saved)
    assert torch.equal(restored.tokenizer.encode(QUESTIONS)[0], vocab.tokenizer.encode(QUESTIONS)[0])
    saved["tokenizer"]["state"]["vocab_size"] = 99
    with pytest.raises(TokenizerMismatchError, match="has 19 tokens but the model was saved with one of 99"):
        Vocabulary.from_dict(saved)


def test_text_encoder_shapes_and_padding_invariance(tiny_bert_dir):
    tokenizer = HFTokenizer(tiny_bert_dir)
    encoder = HFTextEncoder(tokenizer.vocab_size, tiny_bert_dir).eval()
    ids, mask = tokenizer.encode(QUESTIONS)
    tokens, out_mask = encoder(ids, mask)
    assert tokens.shape == (3, 11, 32) and encoder.out_dim == 32 and torch.equal(out_mask, mask)
    padded_ids = torch.cat([ids, torch.full((3, 5), tokenizer.pad_id)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], dim=1)
    padded, _ = encoder(padded_ids, padded_mask)
    torch.testing.assert_close(padded[:, :11][mask], tokens[mask], atol=1e-5, rtol=1e-4)


def test_text_encoder_refuses_another_tokenizer(tiny_bert_dir):
    words = WordTokenizer()
    words.fit(QUESTIONS)
    with pytest.raises(TokenizerMismatchError, match="set data.tokenizer to vqa.models.encoders.HFTokenizer"):
        HFTextEncoder(words.vocab_size, tiny_bert_dir)


def test_text_encoder_config_round_trip(tiny_bert_dir):
    encoder = HFTextEncoder(19, tiny_bert_dir, trainable_layers=2)
    config = part_config(encoder)
    assert config["init_args"] == {"vocab_size": 19, "model": tiny_bert_dir, "trainable_layers": 2}
    rebuilt = TEXT_ENCODERS.create(config["name"], **config["init_args"])
    assert [p.requires_grad for p in rebuilt.parameters()] == [p.requires_grad for p in encoder.parameters()]


@pytest.mark.parametrize("trainable_layers,frozen_layers", [(0, 3), (1, 2), (3, 0), ("all", 0)])
def test_trainable_layers(tiny_bert_dir, trainable_layers, frozen_layers):
    encoder = HFTextEncoder(19, tiny_bert_dir, trainable_layers=trainable_layers)
    backbone = encoder.backbone
    layers = [m for n, m in backbone.named_modules() if n.endswith(("layer", "layers"))][0]
    for i, layer in enumerate(layers):
        assert all(p.requires_grad == (i >= frozen_layers) for p in layer.parameters()) or trainable_layers == 0
    embeddings_learn = any(p.requires_grad for p in backbone.embeddings.parameters())
    assert embeddings_learn == (trainable_layers == "all")
    assert encoder.is_frozen == (trainable_layers == 0)
    encoder.train()
    assert [layer.training for layer in layers] == [i >= frozen_layers and trainable_layers != 0 for i in range(3)]
    assert backbone.embeddings.training == (trainable_layers == "all")
