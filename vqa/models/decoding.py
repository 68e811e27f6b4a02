"""Decoding an answer decoder: greedy, beam search (batched, cached keys/values) and ranking a candidate list.

The functions talk to the decoder through three calls, so hand-built decoders can be tested against them:
`start(memory, memory_mask) -> state`, `step(state, tokens [B]) -> logits [B, V]` (advancing `state`), and
`state.select(rows, same_memory=True)`; ranking also uses the teacher-forcing call `decoder(memory, memory_mask, inputs)`.
Token ids follow `vqa.models.answer_tokens`: 0 `<pad>`, 1 `<bos>`, 2 `<eos>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from vqa.models.answer_tokens import AnswerTokens

PAD_ID, BOS_ID, EOS_ID = AnswerTokens.pad_id, AnswerTokens.bos_id, AnswerTokens.eos_id


class StepDecoder(Protocol):
    """What greedy and beam search need from a decoder."""

    def start(self, memory: Tensor, memory_mask: Tensor): ...  # noqa: D102 (a decoding state)

    def step(self, state, tokens: Tensor) -> Tensor: ...  # noqa: D102 (logits [B, V])


@dataclass
class Decoded:
    """Decoded answers: ids [B, L] (words then `<eos>`, `<pad>` after it) and their scores [B] (summed
    log-probabilities of the words and `<eos>`; for beam search, before the length penalty)."""

    ids: Tensor
    log_prob: Tensor


def next_word_log_probs(logits: Tensor) -> Tensor:
    """Log-probabilities of the next token, [..., V] -> [..., V]: `<pad>` and `<bos>` are never written, so they
    get probability 0 and the rest is renormalized (every decoding mode and the rank scores use this)."""
    logits = logits.float().clone()
    logits[..., PAD_ID] = float("-inf")
    logits[..., BOS_ID] = float("-inf")
    return logits.log_softmax(-1)


def _finish(ids: Tensor) -> Tensor:
    """Pad everything after each row's first `<eos>`; ids [B, L] -> [B, L]."""
    after_eos = (ids == EOS_ID).long().cumsum(1) - (ids == EOS_ID).long() > 0
    return ids.masked_fill(after_eos, PAD_ID)


@torch.no_grad()
def greedy(decoder: StepDecoder, memory: Tensor, memory_mask: Tensor, max_length: int) -> Decoded:
    """Most likely next word at every step, until every row has written `<eos>` (forced after max_length words).

    Args:
        decoder: see the module docstring.
        memory: [B, M, D] fused memory; memory_mask [B, M].
        max_length: most words per answer.
    """
    b = memory.shape[0]
    state = decoder.start(memory, memory_mask)
    tokens = torch.full((b,), BOS_ID, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    log_prob = torch.zeros(b, device=memory.device)
    written = []
    for t in range(max_length + 1):
        scores = next_word_log_probs(decoder.step(state, tokens))  # (B, V)
        if t == max_length:  # out of room: the answer ends here
            word = torch.full_like(tokens, EOS_ID)
        else:
            word = scores.argmax(-1)
        log_prob += torch.where(done, 0.0, scores.gather(1, word[:, None])[:, 0])
        word = torch.where(done, PAD_ID, word)
        written.append(word)
        done |= word == EOS_ID
        tokens = word
        if done.all():
            break
    return Decoded(_finish(torch.stack(written, 1)), log_prob)


@torch.no_grad()
def beam_search(
    decoder: StepDecoder,
    memory: Tensor,
    memory_mask: Tensor,
    max_length: int,
    num_beams: int = 3,
    length_penalty: float = 0.0,
) -> Decoded:
    """Batched beam search with the decoder's cached keys and values.

    Every row keeps `num_beams` hypotheses; a hypothesis that writes `<eos>` stays in its beam with its score
    frozen (it can only be pushed out by better ones), and the search stops as soon as every beam of every row
    has ended, or after max_length words (then `<eos>` is forced). The answer is the ended hypothesis with the
    best score / (words + 1) ** length_penalty (0 = plain log-probability, which favours short answers; 1 =
    per-token average).

    Args:
        decoder: see the module docstring.
        memory: [B, M, D]; memory_mask [B, M].
        max_length: most words per answer.
        num_beams: hypotheses kept per row (1 = greedy).
        length_penalty: exponent of the length normalization applied to ended hypotheses.
    """
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    b, k, device = memory.shape[0], num_beams, memory.device
    rows = torch.arange(b, device=device).repeat_interleave(k)  # (B*K,) beam -> its question
    state = decoder.start(memory[rows], memory_mask[rows])
    tokens = torch.full((b * k,), BOS_ID, dtype=torch.long, device=device)
    score = torch.full((b, k), float("-inf"), device=device)
    score[:, 0] = 0.0  # all beams start identical: keep one so the first step does not pick it k times
    ended = torch.zeros(b, k, dtype=torch.bool, device=device)
    history = torch.empty(b, k, 0, dtype=torch.long, device=device)
    for t in range(max_length + 1):
        step_scores = next_word_log_probs(decoder.step(state, tokens))  # (B*K, V)
        vocab = step_scores.shape[-1]
        step_scores = step_scores.view(b, k, vocab)
        if t == max_length:  # out of room: only <eos> may follow
            forced = torch.full_like(step_scores, float("-inf"))
            forced[..., EOS_ID] = step_scores[..., EOS_ID]
            step_scores = forced
        # An ended hypothesis continues only with <pad>, at no cost, so it competes with its final score.
        frozen = torch.full((vocab,), float("-inf"), device=device)
        frozen[PAD_ID] = 0.0
        step_scores = torch.where(ended[..., None], frozen, step_scores)
        candidates = (score[..., None] + step_scores).view(b, k * vocab)
        score, best = candidates.topk(k, dim=1)  # (B, K)
        beam, word = best // vocab, best % vocab
        history = torch.cat([history.gather(1, beam[..., None].expand(-1, -1, t)), word[..., None]], dim=2)
        ended = ended.gather(1, beam) | (word == EOS_ID)
        # Beams only trade places within their question, whose memory they share: only the answers' caches move.
        state = state.select((beam + torch.arange(b, device=device)[:, None] * k).view(-1), same_memory=True)
        tokens = word.view(-1)
        if ended.all():
            break
    lengths = (history != PAD_ID).sum(-1).clamp_min(1).float()  # words + <eos>
    normalized = score / lengths**length_penalty
    normalized = normalized.masked_fill(~ended, float("-inf"))
    choice = normalized.argmax(1)  # (B,)
    ids = history[torch.arange(b, device=device), choice]
    return Decoded(_finish(ids), score.gather(1, choice[:, None])[:, 0])


def sequence_log_prob(decoder, memory: Tensor, memory_mask: Tensor, targets: Tensor) -> Tensor:
    """Log-likelihood of whole answers under teacher forcing.

    Args:
        decoder: called as `decoder(memory, memory_mask, inputs)` -> logits [B, T, V].
        memory: [B, M, D]; memory_mask [B, M].
        targets: [B, T] answer ids then `<eos>`, `<pad>` after it (rows of `AnswerTokens.table`).

    Returns:
        [B] summed log-probabilities of every word and the `<eos>`.
    """
    bos = torch.full_like(targets[:, :1], BOS_ID)
    inputs = torch.cat([bos, targets[:, :-1]], dim=1)
    log_probs = next_word_log_probs(decoder(memory, memory_mask, inputs))  # (B, T, V)
    picked = log_probs.gather(2, targets[..., None])[..., 0]  # (B, T)
    return torch.where(targets != PAD_ID, picked, 0.0).sum(1)  # <pad> has probability 0: mask, not multiply


@torch.no_grad()
def rank(decoder, memory: Tensor, memory_mask: Tensor, candidates: Tensor, top_k: int = 128) -> Decoded:
    """Choose each row's answer from a candidate list (ALBEF / BLIP's rank mode).

    The `top_k` candidates with the most likely first word are rescored by their whole-answer log-likelihood;
    the best of them is the answer.

    Args:
        decoder: an `AnswerDecoder` (needs `start`/`step` and the teacher-forcing call).
        memory: [B, M, D]; memory_mask [B, M].
        candidates: [C, T] candidate answers as `AnswerTokens.table` rows.
        top_k: candidates rescored per row.

    Returns:
        Decoded with the chosen candidates' rows [B, T] and their log-likelihoods [B].
    """
    b = memory.shape[0]
    first = decoder.step(decoder.start(memory, memory_mask), torch.full((b,), BOS_ID, device=memory.device))
    first = next_word_log_probs(first)[:, candidates[:, 0]]  # (B, C)
    k = min(top_k, candidates.shape[0])
    shortlist = first.topk(k, dim=1).indices  # (B, k)
    rows = torch.arange(b, device=memory.device).repeat_interleave(k)
    scores = sequence_log_prob(decoder, memory[rows], memory_mask[rows], candidates[shortlist.view(-1)]).view(b, k)
    best, where = scores.max(1)
    return Decoded(candidates[shortlist.gather(1, where[:, None])[:, 0]], best)
