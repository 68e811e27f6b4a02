"""The answer decoder's token vocabulary: the question tokenizer's words, every word of the training answers,
and the special tokens a decoder needs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


class AnswerTokens:
    """Words an answer decoder reads and writes; ids 0-3 are `<pad>`, `<bos>`, `<eos>`, `<unk>`.

    Answers are split on whitespace: the answer strings of a vocabulary are already normalized by the official
    VQA rules (single spaces, punctuation handled), so `decode(encode(answer)) == answer` for every answer whose
    words are known. The question words are included so that a decoder can also write words it has only read.

    Args:
        words: the vocabulary after the special tokens, in id order (no duplicates, no special tokens).
    """

    def __init__(self, words: Sequence[str]) -> None:
        clashes = sorted(set(words) & set(SPECIALS))
        if clashes:
            raise ValueError(f"answer tokens may not contain the special tokens {clashes}")
        if len(set(words)) != len(words):
            raise ValueError("answer tokens contain duplicate words")
        self.words = [*SPECIALS, *words]
        self._index = {word: i for i, word in enumerate(self.words)}

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    @classmethod
    def build(cls, answers: Iterable[str], question_words: Iterable[str] = ()) -> AnswerTokens:
        """Every word of `answers` (first-seen order), then the question words not already in."""
        seen: dict[str, None] = {}
        for answer in answers:
            for word in answer.split():
                seen.setdefault(word, None)
        for word in question_words:
            if word not in SPECIALS and not word.isspace() and word:
                seen.setdefault(word, None)
        return cls(list(seen))

    @classmethod
    def for_vocabulary(cls, vocab) -> AnswerTokens:
        """The answer tokens of a `vqa.data.Vocabulary`: its answers' words, then its question tokenizer's words
        (a word-level tokenizer's list; a subword tokenizer contributes none)."""
        return cls.build(vocab.answers.answers, getattr(vocab.tokenizer, "words", ()))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, answer: str) -> list[int]:
        """Answer string -> word ids (no `<bos>` / `<eos>`); unknown words become `<unk>`."""
        return [self._index.get(word, self.unk_id) for word in answer.split()]

    def decode(self, ids: Iterable[int]) -> str:
        """Word ids -> answer string; stops at the first `<eos>` or `<pad>`, skips `<bos>`."""
        words = []
        for i in ids:
            i = int(i)
            if i in (self.eos_id, self.pad_id):
                break
            if i != self.bos_id:
                words.append(self.words[i])
        return " ".join(words)

    def table(self, answers: Sequence[str], max_length: int) -> Tensor:
        """Answers as decoder targets: [A, max_length + 1] long, each row `answer ids + <eos>`, `<pad>`-filled.

        Raises:
            ValueError: naming the first answer longer than `max_length` words (never truncated silently).
        """
        rows = torch.full((len(answers), max_length + 1), self.pad_id, dtype=torch.long)
        for row, answer in enumerate(answers):
            ids = self.encode(answer)
            if len(ids) > max_length:
                raise ValueError(
                    f"answer {answer!r} has {len(ids)} words but the answer decoder writes at most {max_length}: "
                    "raise the decoder's max_length"
                )
            rows[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            rows[row, len(ids)] = self.eos_id
        return rows
