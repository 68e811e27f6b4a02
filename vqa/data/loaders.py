"""The data module's loaders: a `DataLoader` over batch samplers that split data across processes themselves,
wrapped so that Lightning leaves them as they are, and (for training) resumable in the middle of an epoch."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vqa.data.dataset import ImageGroupedBatchSampler, keep_batch

# Lightning's prediction loop looks for the indices of a `DataLoader`'s batches; our batches carry their own
# ("index"), which the prediction writer uses, so its warning that it cannot find them says nothing useful.
warnings.filterwarnings("ignore", message="Couldn't infer the batch indices fetched from your dataloader")


class BatchLoader:
    """Iterates the batches that `batch_sampler` draws from `dataset`, loaded by a `DataLoader`.

    This is deliberately not a `DataLoader` subclass. Under DDP, Lightning replaces the sampler of every
    `DataLoader` it is given by a `DistributedSampler`: that cannot be injected into a custom batch sampler, and
    for evaluation it pads the last batches with repeated questions, biasing the metrics. Lightning leaves any
    other iterable alone, and our batch samplers split the data across processes themselves (see
    `ImageGroupedBatchSampler`, `SplitBatchSampler`).

    Args:
        dataset: a dataset whose `__getitems__` returns whole batches (`EncodedVQADataset`).
        batch_sampler: yields the question indices of each batch.
        num_workers: loader worker processes (0: load in this process).
        pin_memory: pin batches in page-locked memory for faster copies to the GPU.
        seed: seeds the loader's own generator, so that creating an iterator never draws from the global
            random state (which would shift the model's dropout masks after a resume).

    Attributes:
        sampler: the batch sampler (under this name Lightning calls its `set_epoch` at every epoch).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_sampler: Sampler[list[int]],
        num_workers: int = 0,
        pin_memory: bool = False,
        seed: int = 0,
    ) -> None:
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.sampler = batch_sampler
        self.loader = DataLoader(
            dataset,
            batch_sampler=batch_sampler,
            collate_fn=keep_batch,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            pin_memory=pin_memory,
            generator=torch.Generator().manual_seed(seed),
        )

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.loader)


class ResumableBatchLoader(BatchLoader):
    """A training `BatchLoader` whose place in the epoch is saved in checkpoints and restored on resume.

    Lightning saves `state_dict()` of a training loader with every checkpoint and, when training resumes from
    it, calls `load_state_dict()` before iterating: the resumed epoch then continues with the batch after the
    last one trained, in the same order, instead of starting the epoch over. Batches are counted here, as they
    are handed to the training loop, so batches prefetched by worker processes are not counted as trained.
    """

    batch_sampler: ImageGroupedBatchSampler

    def __init__(self, dataset: Dataset, batch_sampler: ImageGroupedBatchSampler, **kwargs: Any) -> None:
        super().__init__(dataset, batch_sampler, **kwargs)
        self.delivered = 0  # batches of the current epoch handed out (including those skipped on resume)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.delivered = self.batch_sampler.start
        for batch in self.loader:
            self.delivered += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """{"epoch": epoch being iterated, "batches": batches of it handed out}."""
        epoch = self.batch_sampler.last_epoch
        return {"epoch": self.batch_sampler.epoch if epoch is None else epoch, "batches": self.delivered}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.batch_sampler.resume(int(state["epoch"]), int(state["batches"]))
