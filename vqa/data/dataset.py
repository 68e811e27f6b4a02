"""Encoded splits served a whole batch at a time, with each image encoded once per batch."""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from vqa.data.records import ImageStore, VQASplit
from vqa.data.vocab import Vocabulary


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
    """

    def __init__(self, split: VQASplit, vocab: Vocabulary) -> None:
        records = split.records
        self.images: ImageStore = split.images
        self.records = records
        self.image_index = torch.tensor([r.image for r in records], dtype=torch.long)
        self.token_ids, self.token_mask = vocab.tokenizer.encode([r.question for r in records])
        self.answer_ids, self.answer_scores = vocab.answers.encode([r.answers for r in records])
        group_index = {name: i for i, name in enumerate(vocab.groups)}
        self.groups = torch.zeros(len(records), len(vocab.groups), dtype=torch.bool)
        for row, record in enumerate(records):
            for key, value in record.types.items():
                column = group_index.get(f"{key}/{value}")
                if column is not None:
                    self.groups[row, column] = True

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: Sequence[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        distinct, image_index = torch.unique(self.image_index[index], return_inverse=True)
        mask = self.token_mask[index]
        length = max(int(mask.sum(1).max()), 1)  # trim padding beyond this batch's longest question
        return {
            **self.images.batch_fields(distinct),
            "image_index": image_index,
            "token_ids": self.token_ids[index, :length],
            "token_mask": mask[:, :length],
            "answer_ids": self.answer_ids[index],
            "answer_scores": self.answer_scores[index],
            "groups": self.groups[index],
            "index": index,
        }


def keep_batch(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """`collate_fn` for datasets that already return whole batches."""
    return batch


class ImageGroupedBatchSampler(Sampler[list[int]]):
    """Shuffled batches in which the questions of one image travel together.

    Images are shuffled, each image's questions are shuffled, and the resulting sequence is cut into batches
    of exactly `batch_size` (the last may be shorter unless `drop_last`). A batch of B questions then holds
    only about B / (questions per image) distinct images, so the image encoder runs that many times fewer.

    Args:
        image_index: [N] image of each question.
        batch_size: questions per batch.
        drop_last: drop the last, shorter batch.
        seed: base seed; each epoch (see `set_epoch`) reshuffles differently.
    """

    def __init__(self, image_index: Tensor, batch_size: int, drop_last: bool = False, seed: int = 0) -> None:
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0
        order = torch.argsort(image_index, stable=True)
        counts = torch.bincount(image_index)
        self.groups = [g for g in torch.split(order, counts.tolist()) if len(g)]
        self.num_questions = len(image_index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        full, rest = divmod(self.num_questions, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1  # a fresh order next epoch even when nobody calls set_epoch
        image_order = torch.randperm(len(self.groups), generator=generator)
        sequence = torch.cat(
            [self.groups[i][torch.randperm(len(self.groups[i]), generator=generator)] for i in image_order.tolist()]
        )
        for start in range(0, len(sequence), self.batch_size):
            batch = sequence[start : start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch.tolist()
