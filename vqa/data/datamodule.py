"""One LightningDataModule for every dataset: a source gives records, this turns them into batches."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from vqa.data.dataset import EncodedVQADataset, ImageGroupedBatchSampler, keep_batch
from vqa.data.feature_cache import CachedFeatures, build_cache
from vqa.data.records import VQASplit
from vqa.data.sources import SPLITS, VQASource
from vqa.data.vocab import AnswerVocab, Vocabulary
from vqa.encoders.base import ImageEncoder, Tokenizer
from vqa.encoders.tokenizer import WordTokenizer


class VQADataModule(pl.LightningDataModule):
    """Reads a dataset through its source, builds the vocabulary from training data only, and serves batches.

    Batches are dicts of tensors (see `EncodedVQADataset`); images stay uint8 until they reach the device.

    Args:
        source: the dataset (e.g. `vqa.data.EasyVQA`, `vqa.data.SortOfClevr`).
        tokenizer: question tokenizer, fitted on the training questions (default: `WordTokenizer()`).
        batch_size: training questions per batch.
        eval_batch_size: questions per validation/test/predict batch (default: 2 * batch_size).
        num_workers: DataLoader worker processes (0 = load in the training process, best for in-memory data).
        group_by_image: train on batches that keep each image's questions together (fewer image encodings).
        min_answer_count: keep answers given at least this often in training (VQA v2 standard: 9).
        max_answers: keep at most this many answers (most frequent first).
        predict_split: which split `predict` runs on.
        seed: shuffling seed.
        feature_cache_dir: where image tokens of frozen image encoders are cached (see `attach_feature_cache`).
    """

    def __init__(
        self,
        source: VQASource,
        tokenizer: Tokenizer | None = None,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        group_by_image: bool = True,
        min_answer_count: int = 1,
        max_answers: int | None = None,
        predict_split: str = "test",
        seed: int = 0,
        feature_cache_dir: str = "data/feature_cache",
    ) -> None:
        super().__init__()
        if predict_split not in SPLITS:
            raise ValueError(f"predict_split must be one of {SPLITS}, got {predict_split!r}")
        self.source = source
        self.tokenizer = tokenizer if tokenizer is not None else WordTokenizer()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or 2 * batch_size
        self.num_workers = num_workers
        self.group_by_image = group_by_image
        self.min_answer_count = min_answer_count
        self.max_answers = max_answers
        self.predict_split = predict_split
        self.seed = seed
        self.feature_cache_dir = feature_cache_dir
        self._splits: dict[str, VQASplit] = {}
        self._datasets: dict[str, EncodedVQADataset] = {}
        self._feature_encoder: tuple[ImageEncoder, torch.device] | None = None

    def split(self, name: str) -> VQASplit:
        """The records of split `name`, read once."""
        if name not in self._splits:
            self._splits[name] = self.source.read(name)
        return self._splits[name]

    @cached_property
    def vocab(self) -> Vocabulary:
        """Tokenizer and answers fitted on the training split; breakdown groups from every split; the training
        image size, for inference."""
        train_split = self.split("train")
        train = train_split.records
        self.tokenizer.fit([r.question for r in train])
        answers = AnswerVocab.build([r.answers for r in train], self.min_answer_count, self.max_answers)
        groups = sorted({f"{k}/{v}" for name in SPLITS for r in self.split(name).records for k, v in r.types.items()})
        return Vocabulary(self.tokenizer, answers, groups, train_split.images.image_size)

    @property
    def vocab_dict(self) -> dict[str, Any]:
        """The vocabulary as JSON-ready data, linked into the model by the CLI."""
        return self.vocab.to_dict()

    def dataset(self, name: str) -> EncodedVQADataset:
        """Split `name` encoded with the vocabulary, built once."""
        if name not in self._datasets:
            self._datasets[name] = EncodedVQADataset(self.split(name), self.vocab)
        dataset = self._datasets[name]
        if self._feature_encoder is not None and not isinstance(dataset.images, CachedFeatures):
            encoder, device = self._feature_encoder
            dataset.images = build_cache(encoder, self.split(name).images, self.feature_cache_dir, device)
        return dataset

    def attach_feature_cache(self, encoder: ImageEncoder, device: torch.device) -> None:
        """From now on serve the tokens of the frozen `encoder` from the disk cache instead of pixels.

        Caches are built on first use per split (encoder run on `device`) and shared across runs and
        processes: a benchmark grid encodes each image once for all its fusions.
        """
        self._feature_encoder = (encoder, device)
        for name in list(self._datasets):
            self.dataset(name)

    def _loader(self, name: str, train: bool) -> DataLoader:
        dataset = self.dataset(name)
        common: dict[str, Any] = dict(
            collate_fn=keep_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )
        if train and self.group_by_image:
            sampler = ImageGroupedBatchSampler(dataset.image_index, self.batch_size, seed=self.seed)
            return DataLoader(dataset, batch_sampler=sampler, **common)
        if train:
            generator = torch.Generator().manual_seed(self.seed)
            return DataLoader(dataset, batch_size=self.batch_size, shuffle=True, generator=generator, **common)
        return DataLoader(dataset, batch_size=self.eval_batch_size, shuffle=False, **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_split, train=False)
