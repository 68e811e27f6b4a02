"""The answer decoder and its decoding modes: cached steps equal teacher forcing, beam 1 is greedy, beam search
finds the exhaustive optimum on hand-built decoders, rows end independently, rank mode rescores correctly."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fusion import create_fusion
from fusion.base import Fused
from vqa.models.answer_decoder import AnswerDecoder
from vqa.models.answer_tokens import AnswerTokens
from vqa.models.decoding import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    beam_search,
    greedy,
    next_word_log_probs,
    rank,
    sequence_log_prob,
)


class TableDecoder:
    """A hand-built decoder: the next-token logits are a fixed function of each row's prefix (and row)."""

    def __init__(self, vocab: int, logits_of):
        self.vocab = vocab
        self.logits_of = logits_of  # (row, prefix tuple) -> list of V logits

    class State:
        def __init__(self, rows, prefixes):
            self.rows, self.prefixes = rows, prefixes

        def select(self, index, same_memory=False):
            return TableDecoder.State(
                [self.rows[i] for i in index.tolist()], [self.prefixes[i] for i in index.tolist()]
            )

    def start(self, memory, memory_mask):
        return self.State(memory[:, 0, 0].long().tolist(), [() for _ in range(memory.shape[0])])

    def step(self, state, tokens):
        state.prefixes = [p + (t,) for p, t in zip(state.prefixes, tokens.tolist())]
        return torch.tensor([self.logits_of(r, p[1:]) for r, p in zip(state.rows, state.prefixes)])

    def __call__(self, memory, memory_mask, inputs):
        rows = memory[:, 0, 0].long().tolist()
        out = []
        for r, seq in zip(rows, inputs.tolist()):
            out.append([self.logits_of(r, tuple(seq[1 : t + 1])) for t in range(len(seq))])
        return torch.tensor(out)


def random_table(vocab: int, seed: int):
    """Logits drawn once per (row, prefix), reproducibly."""

    def logits_of(row, prefix):
        generator = torch.Generator().manual_seed(hash((seed, row, prefix)) % (2**31))
        return (3 * torch.randn(vocab, generator=generator)).tolist()

    return logits_of


def memory_for(rows: int):
    """A memory whose first feature carries the row index (what TableDecoder reads)."""
    memory = torch.arange(rows, dtype=torch.float)[:, None, None].expand(rows, 1, 2).clone()
    return memory, torch.ones(rows, 1, dtype=torch.bool)


def exhaustive_best(decoder: TableDecoder, row: int, max_length: int) -> tuple[tuple[int, ...], float]:
    """The most likely answer (words, then <eos>) by enumerating every one of at most max_length words."""
    words = [i for i in range(decoder.vocab) if i not in (PAD_ID, BOS_ID, EOS_ID)]
    best, best_score = None, -math.inf
    for length in range(max_length + 1):
        for seq in itertools.product(words, repeat=length):
            score = 0.0
            for t in range(length + 1):
                log_probs = next_word_log_probs(torch.tensor(decoder.logits_of(row, seq[:t])))
                score += float(log_probs[seq[t] if t < length else EOS_ID])
            if score > best_score:
                best, best_score = seq + (EOS_ID,), score
    return best, best_score


def words_of(ids: torch.Tensor) -> tuple[int, ...]:
    return tuple(i for i in ids.tolist() if i != PAD_ID)


def test_answer_tokens_round_trip_unknown_words_and_length_check():
    tokens = AnswerTokens.build(["large red cube", "2", "yes"], question_words=["<pad>", "<unk>", "what", "red"])
    assert tokens.words[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tokens.words[4:] == ["large", "red", "cube", "2", "yes", "what"]
    for answer in ["large red cube", "yes", "what red"]:
        assert tokens.decode(tokens.encode(answer)) == answer
    assert tokens.encode("blue cube") == [tokens.unk_id, tokens.words.index("cube")]
    table = tokens.table(["large red cube", "yes"], max_length=3)
    assert table.tolist() == [[4, 5, 6, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID]]
    with pytest.raises(ValueError, match="'large red cube' has 3 words .* at most 2"):
        tokens.table(["large red cube"], max_length=2)
    with pytest.raises(ValueError, match="special tokens"):
        AnswerTokens(["<eos>", "a"])


@pytest.mark.parametrize("fusion_name", ["late", "cross_attention", "guided_attention"])
def test_cached_steps_equal_teacher_forcing(fusion_name):
    torch.manual_seed(0)
    sizes = {} if fusion_name == "late" else {"dim": 16, "num_heads": 2, "num_layers": 1}
    fusion = create_fusion(fusion_name, 8, 6, out_dim=16, **sizes).eval()
    decoder = AnswerDecoder(12, 16, fusion.stream_dim, dim=16, num_heads=2, max_length=4).eval()
    txt_mask = torch.ones(3, 4, dtype=torch.bool)
    txt_mask[0, 2:] = False
    fused = fusion.fuse(torch.randn(3, 5, 8), torch.ones(3, 5, dtype=torch.bool), torch.randn(3, 4, 6), txt_mask)
    memory, memory_mask = decoder.memory(fused)
    expected_width = 1 + 5 * fusion.has_image_stream + 4 * fusion.has_text_stream
    assert memory.shape == (3, expected_width, 16) and memory_mask.shape == (3, expected_width)
    inputs = torch.tensor([[BOS_ID, 5, 6, 7], [BOS_ID, 4, PAD_ID, PAD_ID], [BOS_ID, 9, 8, PAD_ID]])
    full = decoder(memory, memory_mask, inputs)
    state = decoder.start(memory, memory_mask)
    stepped = torch.stack([decoder.step(state, inputs[:, t]) for t in range(4)], dim=1)
    real = inputs != PAD_ID
    torch.testing.assert_close(stepped[real], full[real], atol=1e-5, rtol=1e-5)


def test_memory_refuses_streams_the_decoder_was_not_built_for():
    decoder = AnswerDecoder(10, 8, None, dim=8, num_heads=2)
    fused = Fused(torch.randn(2, 8), img=torch.randn(2, 3, 8), img_mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="without stream_dim"):
        decoder.memory(fused)


def test_beam_of_one_is_greedy_on_a_real_decoder():
    torch.manual_seed(1)
    decoder = AnswerDecoder(15, 8, 8, dim=16, num_heads=2, max_length=5).eval()
    memory, mask = torch.randn(6, 4, 16), torch.ones(6, 4, dtype=torch.bool)
    mask[0, 2:] = False
    g = greedy(decoder, memory, mask, max_length=5)
    b = beam_search(decoder, memory, mask, max_length=5, num_beams=1)
    assert [words_of(r) for r in g.ids] == [words_of(r) for r in b.ids]
    torch.testing.assert_close(g.log_prob, b.log_prob)


def test_beam_search_finds_what_greedy_misses_on_a_hand_built_decoder():
    """First word 4 is likelier than 5 (0.6 vs 0.4), but after 4 every continuation is uncertain while after 5
    <eos> is near certain: the best answer is [5], which greedy never reaches and two beams do."""
    uniform = [0.0] * 7

    def logits_of(row, prefix):
        if prefix == ():
            return [-1e9, -1e9, -1e9, -1e9, math.log(0.6), math.log(0.4), -1e9]
        if prefix == (4,):
            return [-1e9, -1e9, 0.0, -1e9, 0.0, 0.0, 0.0]  # <eos> or 3 words, each 1/4
        if prefix == (5,):
            return [-1e9, -1e9, 10.0, -1e9, 0.0, 0.0, 0.0]
        return uniform

    decoder = TableDecoder(7, logits_of)
    memory, mask = memory_for(1)
    assert words_of(greedy(decoder, memory, mask, 3).ids[0])[0] == 4
    beam = beam_search(decoder, memory, mask, 3, num_beams=2)
    assert words_of(beam.ids[0]) == (5, EOS_ID)
    best, score = exhaustive_best(decoder, 0, 3)
    assert best == (5, EOS_ID) and beam.log_prob[0].item() == pytest.approx(score, abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_beam_matches_exhaustive_search_on_random_decoders(seed):
    vocab, max_length, rows = 6, 3, 4
    decoder = TableDecoder(vocab, random_table(vocab, seed))
    memory, mask = memory_for(rows)
    beam = beam_search(decoder, memory, mask, max_length, num_beams=(vocab - 3) ** max_length)
    for row in range(rows):
        best, score = exhaustive_best(decoder, row, max_length)
        assert words_of(beam.ids[row]) == best
        assert beam.log_prob[row].item() == pytest.approx(score, abs=1e-4)


def test_rows_end_independently_and_are_padded_after_eos():
    """Row 0 ends after one word, row 1 after three; row 2 never says <eos> and is cut at max_length."""

    def logits_of(row, prefix):
        logits = [-1e9] * 6
        if row == 2 or len(prefix) < (1, 3)[row]:
            logits[4 + len(prefix) % 2] = 0.0
        else:
            logits[EOS_ID] = 0.0
        return logits

    decoder = TableDecoder(6, logits_of)
    memory, mask = memory_for(3)
    for decoded in [greedy(decoder, memory, mask, 4), beam_search(decoder, memory, mask, 4, num_beams=3)]:
        assert [words_of(r) for r in decoded.ids] == [(4, EOS_ID), (4, 5, 4, EOS_ID), (4, 5, 4, 5, EOS_ID)]
        ids = decoded.ids
        for row in range(3):
            end = ids[row].tolist().index(EOS_ID)
            assert (ids[row, end + 1 :] == PAD_ID).all()
        torch.testing.assert_close(decoded.log_prob[:2], torch.zeros(2))  # certain words cost nothing
        assert decoded.log_prob[2].item() < -1e8  # the forced <eos> was impossible under the model


def test_rank_rescores_the_shortlist_by_whole_answer_likelihood():
    vocab = 7
    decoder = TableDecoder(vocab, random_table(vocab, 5))
    memory, mask = memory_for(3)
    tokens = AnswerTokens(["a", "b", "c"])
    candidates = tokens.table(["a", "b a", "c c c", "b", "a c"], max_length=3)
    scores = torch.stack([sequence_log_prob(decoder, memory, mask, c.expand(3, -1)) for c in candidates], 1)
    for row in range(3):  # sequence_log_prob agrees with the table, word by word
        for c, candidate in enumerate(candidates.tolist()):
            words = [w for w in candidate if w != PAD_ID]
            expected = sum(
                float(next_word_log_probs(torch.tensor(decoder.logits_of(row, tuple(words[:t]))))[words[t]])
                for t in range(len(words))
            )
            assert scores[row, c].item() == pytest.approx(expected, abs=1e-4)
    chosen = rank(decoder, memory, mask, candidates, top_k=len(candidates))
    best = scores.argmax(1)
    assert torch.equal(chosen.ids, candidates[best])
    torch.testing.assert_close(chosen.log_prob, scores.max(1).values)
    # With a shortlist of one, the candidate with the likeliest first word wins even if it is not the best answer.
    first = torch.stack(
        [next_word_log_probs(torch.tensor(decoder.logits_of(r, ())))[candidates[:, 0]] for r in range(3)]
    )
    shortlisted = rank(decoder, memory, mask, candidates, top_k=1)
    for row in range(3):
        assert shortlisted.ids[row, 0] == candidates[first[row].argmax(), 0]


def test_beam_search_keeping_the_memory_cache_in_place_changes_nothing(monkeypatch):
    from vqa.models.answer_decoder import DecoderState

    torch.manual_seed(2)
    decoder = AnswerDecoder(15, 8, 8, dim=16, num_heads=2, max_length=5).eval()
    memory, mask = torch.randn(4, 6, 16), torch.ones(4, 6, dtype=torch.bool)
    mask[1, 3:] = False
    fast = beam_search(decoder, memory, mask, max_length=5, num_beams=3)
    full_select = DecoderState.select
    monkeypatch.setattr(DecoderState, "select", lambda self, rows, same_memory=False: full_select(self, rows))
    slow = beam_search(decoder, memory, mask, max_length=5, num_beams=3)
    assert torch.equal(fast.ids, slow.ids)
    torch.testing.assert_close(fast.log_prob, slow.log_prob)
