"""Encoded splits served a whole batch at a time, with each image encoded once per batch."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from vqa.data.encoding import EncodedSplit, encode_split
from vqa.data.images import ImageLoadError
from vqa.data.records import ImageStore, VQASplit
from vqa.data.vocab import Vocabulary

# Batch key of the (reason, questions) pairs of images a batch left out (`skip_bad_samples`); the data module
# removes it in the main process, so it never reaches the model.
SKIPPED_KEY = "skipped"


class EncodedVQADataset(Dataset):
    """A split with questions tokenized and answers turned into sparse soft targets, held as tensors.

    `__getitems__` (used by `DataLoader` for whole batches) returns one dict per batch:
        images [Bi, 3, H, W] uint8: the distinct images of the batch (or, from a feature cache,
            image_tokens [Bi, Ni, Di] float16 and image_mask [Bi, Ni] bool),
        image_index [B] long: which of them each question is about,
        token_ids [B, L] long, token_mask [B, L] bool (L = longest question in the batch),
        answer_ids [B, K] long, answer_scores [B, K] float: sparse VQA soft targets,
        groups [B, G] bool: breakdown groups of each question,
        index [B] long: position of each question in the split.

    An image that cannot be decoded raises its `ImageLoadError`, or, with `skip_bad_samples`, its questions are
    left out of the batch and listed under the key `SKIPPED_KEY` as (reason, questions) pairs (the data module
    counts and reports them; a batch may then be empty).

    Args:
        split: the records and their images.
        vocab: tokenizer and answer vocabulary (fitted on the training split).
        skip_bad_samples: leave out the questions of an image that cannot be decoded instead of raising.
        encoded: the split already encoded with `vocab` (`vqa.data.encoding.encode_split`, e.g. from the derived
            cache); None: encode it here.

    Attributes:
        unanswerable: labeled questions none of whose answers is in the answer vocabulary (they score 0).
        unknown_answers: human answers not in the answer vocabulary.
    """

    def __init__(
        self,
        split: VQASplit,
        vocab: Vocabulary,
        skip_bad_samples: bool = False,
        encoded: EncodedSplit | None = None,
    ) -> None:
        encoded = encoded if encoded is not None else encode_split(split.records, vocab)
        self.images: ImageStore = split.images
        self.records = split.records
        self.skip_bad_samples = skip_bad_samples
        self.image_index = encoded.image_index
        self.token_ids, self.token_mask = encoded.token_ids, encoded.token_mask
        self.answer_ids, self.answer_scores = encoded.answer_ids, encoded.answer_scores
        self.groups = encoded.groups
        self.unanswerable = encoded.unanswerable
        self.unknown_answers = encoded.unknown_answers

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Any]:
        index = torch.as_tensor(indices, dtype=torch.long)
        distinct, image_index = torch.unique(self.image_index[index], return_inverse=True)
        skipped: list[tuple[str, int]] = []
        try:
            image_fields = self.images.batch_fields(distinct)
        except ImageLoadError as error:
            image_fields, good, failures = self._decode_each(distinct)  # which images fail, and why
            if not self.skip_bad_samples:
                position, reason = failures[0] if failures else (-1, str(error))
                raise ImageLoadError(
                    f"{reason} (needed by question(s) {self._describe(index[image_index == position])}); fix or "
                    "remove the file, or set data.skip_bad_samples=true to skip such questions (counted and reported)"
                ) from error
            skipped = [(reason, int((image_index == position).sum())) for position, reason in failures]
            index = index[good[image_index]]
            distinct, image_index = torch.unique(self.image_index[index], return_inverse=True)
        mask = self.token_mask[index]
        length = max(int(mask.sum(1).max()), 1) if len(index) else 1  # trim padding beyond the longest question
        batch: dict[str, Any] = {
            **image_fields,
            "image_index": image_index,
            "token_ids": self.token_ids[index, :length],
            "token_mask": mask[:, :length],
            "answer_ids": self.answer_ids[index],
            "answer_scores": self.answer_scores[index],
            "groups": self.groups[index],
            "index": index,
        }
        if skipped:
            batch[SKIPPED_KEY] = skipped
        return batch

    def _decode_each(self, distinct: Tensor) -> tuple[dict[str, Tensor], Tensor, list[tuple[int, str]]]:
        """Decode the images at `distinct` one by one: the fields of those that decode, which did
        ([len(distinct)] bool), and (position, reason) for each that did not."""
        good = torch.zeros(len(distinct), dtype=torch.bool)
        parts: list[dict[str, Tensor]] = []
        failures: list[tuple[int, str]] = []
        for position in range(len(distinct)):
            try:
                parts.append(self.images.batch_fields(distinct[position : position + 1]))
                good[position] = True
            except ImageLoadError as error:
                failures.append((position, str(error)))
        if not parts:
            return self.images.batch_fields(distinct[:0]), good, failures
        return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}, good, failures

    def _describe(self, index: Tensor, shown: int = 3) -> str:
        """'#12 (question_id 9001), #13 (...)' for the first questions at `index`."""
        items = []
        for i in index[:shown].tolist():
            question_id = self.records[i].meta.get("question_id")
            items.append(f"#{i}" + (f" (question_id {question_id})" if question_id is not None else ""))
        return ", ".join(items) + (f" and {len(index) - shown} more" if len(index) > shown else "")


def keep_batch(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """`collate_fn` for datasets that already return whole batches."""
    return batch


class ImageGroupedBatchSampler(Sampler[list[int]]):
    """Shuffled batches in which the questions of one image travel together, split across processes.

    Images are shuffled, each image's questions are shuffled, and the resulting sequence is cut into batches
    of exactly `batch_size` (the last may be shorter unless `drop_last`). A batch of B questions then holds
    only about B / (questions per image) distinct images, so the image encoder runs that many times fewer.
    Pass `torch.arange(N)` as `image_index` for plain shuffled batches of single questions.

    Under data-parallel training (`num_replicas` > 1) every process draws the same epoch order from the seed
    and takes every `num_replicas`-th batch starting at its `rank`, so the processes see disjoint batches.
    Each process must take the same number of steps, so when the batches do not divide evenly the first few
    batches of the epoch are served a second time to the processes that are short (as `DistributedSampler`
    pads); harmless for training, which is why evaluation uses `SplitBatchSampler` instead.

    Args:
        image_index: [N] image of each question.
        batch_size: questions per batch.
        drop_last: drop the last, shorter batch.
        seed: base seed; each epoch (see `set_epoch`) reshuffles differently.
        num_replicas: data-parallel processes.
        rank: this process's rank among them.

    Attributes:
        epoch: the epoch the next iteration draws (advanced by every iteration, or set by `set_epoch`).
        start: batches of the next iteration to skip (set by `resume`; a resumed epoch continues where it
            stopped instead of repeating its first batches).
        last_epoch: the epoch of the latest iteration (None before the first).
    """

    def __init__(
        self,
        image_index: Tensor,
        batch_size: int,
        drop_last: bool = False,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.start = 0
        self.last_epoch: int | None = None
        # The questions of each image, as slices of one sorted order (not one tensor per image: VQA v2 without
        # grouping would make 443,757 of them).
        self.order = torch.argsort(image_index, stable=True)
        counts = torch.bincount(image_index)
        self.group_sizes = counts[counts > 0]
        self.group_starts = torch.cumsum(self.group_sizes, 0) - self.group_sizes
        self.num_questions = len(image_index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Make the next iteration continue epoch `epoch` after its first `batches_done` batches."""
        if batches_done >= len(self):  # that epoch was complete: the next one starts from its beginning
            epoch, batches_done = epoch + 1, 0
        self.epoch, self.start = epoch, batches_done

    def _total_batches(self) -> int:
        full, rest = divmod(self.num_questions, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __len__(self) -> int:
        return math.ceil(self._total_batches() / self.num_replicas)

    def epoch_batches(self, epoch: int) -> list[Tensor]:
        """Every batch of `epoch` in order, for all processes together (the same on each process)."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        image_order = torch.randperm(len(self.group_sizes), generator=generator)
        if not len(self.group_sizes) or int(self.group_sizes.max()) == 1:  # one question per group: no inner shuffle
            sequence = self.order[image_order]
        else:
            # `randperm(1)` draws nothing from the generator, so groups of one are taken as they are: the order is
            # the same as shuffling every group.
            parts = []
            order, starts, sizes = self.order, self.group_starts.tolist(), self.group_sizes.tolist()
            for i in image_order.tolist():
                group = order[starts[i] : starts[i] + sizes[i]]
                parts.append(group[torch.randperm(sizes[i], generator=generator)] if sizes[i] > 1 else group)
            sequence = torch.cat(parts)
        return list(sequence.split(self.batch_size))[: self._total_batches()]

    def __iter__(self) -> Iterator[list[int]]:
        epoch, start = self.epoch, self.start
        self.epoch, self.start, self.last_epoch = epoch + 1, 0, epoch  # a fresh order next time, even unasked
        batches = self.epoch_batches(epoch)
        for step in range(start, len(self)):
            yield batches[(step * self.num_replicas + self.rank) % len(batches)].tolist()


class SplitBatchSampler(Sampler[list[int]]):
    """Batches of consecutive questions for evaluation, split across processes without padding.

    Process `rank` of `num_replicas` serves questions [rank * N // R, (rank + 1) * N // R): every question is
    evaluated exactly once, by exactly one process. (Lightning's `DistributedSampler` would pad the last
    batches with repeated questions so that every process gets the same count, which biases the metrics.)
    Shares differ by at most one question; evaluation needs no step-for-step agreement between processes.

    Args:
        num_questions: questions in the split.
        batch_size: questions per batch.
        num_replicas: data-parallel processes.
        rank: this process's rank among them.
    """

    def __init__(self, num_questions: int, batch_size: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.batch_size = batch_size
        self.first = rank * num_questions // num_replicas
        self.end = (rank + 1) * num_questions // num_replicas

    def __len__(self) -> int:
        return math.ceil((self.end - self.first) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for start in range(self.first, self.end, self.batch_size):
            yield list(range(start, min(start + self.batch_size, self.end)))
