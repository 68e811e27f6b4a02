"""One LightningDataModule for every dataset: a source gives records, this turns them into batches."""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from vqa.data.bad_samples import BadSamples
from vqa.data.dataset import SKIPPED_KEY, EncodedVQADataset, ImageGroupedBatchSampler, SplitBatchSampler
from vqa.data.derived_cache import DerivedCache, derived_key
from vqa.data.encoding import EncodedSplit, encode_split
from vqa.data.feature_cache import CachedFeatures, build_cache
from vqa.data.gc_pause import gc_paused
from vqa.data.loaders import BatchLoader, ResumableBatchLoader
from vqa.data.record_table import RecordTable, answer_column, group_column, question_list, used_values
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sources.base import SPLITS, DatasetError, VQASource
from vqa.data.vocab import AnswerVocab, Vocabulary
from vqa.models.encoders.base import ImageEncoder, Tokenizer
from vqa.models.encoders.tokenizer import WordTokenizer
from vqa.registry import part_config


class VQADataModule(pl.LightningDataModule):
    """Reads a dataset through its source, builds the vocabulary from training data only, and serves batches.

    Batches are dicts of tensors (see `EncodedVQADataset`); images stay uint8 until they reach the device.
    Under DDP each process gets its own share of the data from the samplers (see `vqa.data.loaders`):
    disjoint training batches, and evaluation questions split without repeats.

    Bad entries (a malformed line or entry, a missing or unreadable image, an empty question) stop the run with
    an error naming the file and the entry. With `skip_bad_samples` they are left out instead, counted in
    `bad_samples` (`skipped_samples` is the count) and reported in a warning that quotes the first reasons;
    the model logs the count as `data/skipped_samples`.

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
        skip_bad_samples: leave bad entries out (counted and reported) instead of stopping at the first one.
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
        skip_bad_samples: bool = False,
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
        self.skip_bad_samples = skip_bad_samples
        self.bad_samples = BadSamples(skip=skip_bad_samples)
        self._reported = 0  # bad samples already reported in a warning
        self._splits: dict[str, VQASplit] = {}
        self._datasets: dict[str, EncodedVQADataset] = {}
        self._feature_encoder: tuple[ImageEncoder, torch.device] | None = None
        self._train_loader: ResumableBatchLoader | None = None
        self._train_loader_state: dict[str, int] | None = None  # restored from a checkpoint, not yet applied

    @property
    def skipped_samples(self) -> int:
        """Entries left out so far because `skip_bad_samples` is on (0 otherwise)."""
        return self.bad_samples.count

    def split(self, name: str) -> VQASplit:
        """The records of split `name`, read once (bad entries raise, or are skipped and reported)."""
        if name not in self._splits:
            split = self.source.read(name, self.bad_samples)
            self._splits[name] = VQASplit(split.images, self._keep_questions(name, split.records))
            self._report(f"{self.source.name} {name} split")
        return self._splits[name]

    def _keep_questions(self, name: str, records: Sequence[VQARecord]) -> Sequence[VQARecord]:
        """The records with a question to encode (readers check this too; this catches any source). A
        `RecordTable` passes as it is: the readers that build tables refuse empty questions themselves."""
        if isinstance(records, RecordTable):
            return records
        kept = []
        for position, record in enumerate(records):
            if record.question.strip():
                kept.append(record)
                continue
            where = ", ".join(f"{k} {v}" for k, v in record.meta.items() if k in ("question_id", "image_id"))
            self.bad_samples.handle(
                DatasetError(
                    f"{self.source.name} {name} split: question #{position} ({where or 'no id'}) is empty "
                    f"({record.question!r}); every question needs words"
                )
            )
        return kept

    def _report(self, what: str) -> None:
        """Warn (once per process group) about the entries skipped since the last report."""
        if self.bad_samples.count > self._reported:
            rank_zero_warn(self.bad_samples.summary(what, since=self._reported))
            self._reported = self.bad_samples.count

    @cached_property
    def vocab(self) -> Vocabulary:
        """Tokenizer and answers fitted on the training split; breakdown groups from every split; the training
        image size, for inference. Cached beside the parsed training split when there is one (see
        `vqa.data.derived_cache`): then a second run loads the fitted tokenizer instead of fitting it."""
        train_split = self.split("train")
        train = train_split.records
        if not train:
            raise DatasetError(f"{self.source.describe()}: the training split has no questions")
        cache, key = self._derived("vocabulary", [self.split(name).records for name in SPLITS])
        cached = cache.get_json(key) if cache is not None else None
        if cached is not None:
            self.tokenizer.load_state_dict(cached["tokenizer_state"])
            answers, groups = AnswerVocab(cached["answers"]), list(cached["groups"])
        else:
            with gc_paused():  # millions of short-lived strings and lists: nothing for the collector to find
                self.tokenizer.fit(question_list(train))
            counts = answer_column(train).counts()
            values = answer_column(train).values
            answers = AnswerVocab.from_counts(
                {values[i]: int(counts[i]) for i in np.flatnonzero(counts)}, self.min_answer_count, self.max_answers
            )
            groups = sorted({g for name in SPLITS for g in used_values(group_column(self.split(name).records))})
            if cache is not None:
                data = {"tokenizer_state": self.tokenizer.state_dict(), "answers": answers.answers, "groups": groups}
                cache.put_json(key, data)
        return Vocabulary(self.tokenizer, answers, groups, train_split.images.image_size)

    def _derived(self, kind: str, splits: list[Sequence[VQARecord]]) -> tuple[DerivedCache | None, str]:
        """Where to cache what is derived from `splits` (the first one's parse cache entry) and its key; (None, "")
        unless every non-empty split comes from the parse cache."""
        origins = [r.origin if isinstance(r, RecordTable) else None for r in splits]
        if any(origin is None and len(records) for origin, records in zip(origins, splits)) or origins[0] is None:
            return None, ""
        settings = {
            "splits": [None if o is None else o.name for o in origins],
            "tokenizer": part_config(self.tokenizer),
            "min_answer_count": self.min_answer_count,
            "max_answers": self.max_answers,
        }
        if kind == "encoded":
            settings["vocabulary"] = self.vocab.to_dict()
        return DerivedCache(origins[0]), derived_key(kind, settings)

    @property
    def vocab_dict(self) -> dict[str, Any]:
        """The vocabulary as JSON-ready data, linked into the model by the CLI."""
        return self.vocab.to_dict()

    def dataset(self, name: str) -> EncodedVQADataset:
        """Split `name` encoded with the vocabulary, built once."""
        if name not in self._datasets:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                encoded = self._encoded(name)
                dataset = EncodedVQADataset(
                    self.split(name), self.vocab, skip_bad_samples=self.skip_bad_samples, encoded=encoded
                )
            for warning in caught:  # e.g. questions truncated by the tokenizer: say which split
                rank_zero_warn(f"{self.source.name} {name} split: {warning.message}", category=warning.category)
            if dataset.unanswerable:
                rank_zero_info(
                    f"{self.source.name} {name} split: {dataset.unanswerable} of {len(dataset)} questions have no "
                    f"answer in the {len(self.vocab.answers)}-answer vocabulary ({dataset.unknown_answers} human "
                    "answers outside it); they stay in the data and count as wrong"
                )
            self._datasets[name] = dataset
        dataset = self._datasets[name]
        if self._feature_encoder is not None and not isinstance(dataset.images, CachedFeatures):
            encoder, device = self._feature_encoder
            dataset.images = build_cache(encoder, self.split(name).images, self.feature_cache_dir, device)
        return dataset

    def _encoded(self, name: str) -> EncodedSplit:
        """Split `name` encoded with the vocabulary: from the derived cache when the split has one (its encoding's
        warnings, e.g. about truncated questions, are given again), else encoded now (and cached if possible)."""
        records = self.split(name).records
        cache, key = self._derived("encoded", [records])
        cached = cache.get_encoded(key) if cache is not None else None
        if cached is not None:
            encoded, caught = cached
            for category, message in caught:
                warnings.warn(message, getattr(builtins, category, UserWarning), stacklevel=2)
            return encoded
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            encoded = encode_split(records, self.vocab)
        for warning in caught:  # passed on as they came
            warnings.warn(warning.message, warning.category, stacklevel=2)
        if cache is not None:
            cache.put_encoded(key, encoded, [(w.category.__name__, str(w.message)) for w in caught])
        return encoded

    def attach_feature_cache(self, encoder: ImageEncoder, device: torch.device) -> None:
        """From now on serve the tokens of the frozen `encoder` from the disk cache instead of pixels.

        Caches are built on first use per split (encoder run on `device`) and shared across runs and
        processes: a benchmark grid encodes each image once for all its fusions.
        """
        self._feature_encoder = (encoder, device)
        for name in list(self._datasets):
            self.dataset(name)

    def _replicas(self) -> tuple[int, int]:
        """(processes, this process's rank) of data-parallel training: from the trainer, else torch.distributed."""
        trainer = self.trainer
        kwargs = trainer.distributed_sampler_kwargs if trainer is not None else None
        if kwargs:
            return int(kwargs["num_replicas"]), int(kwargs["rank"])
        if trainer is None and torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_world_size(), torch.distributed.get_rank()
        return 1, 0

    def _loader(self, name: str, train: bool) -> BatchLoader:
        dataset = self.dataset(name)
        replicas, rank = self._replicas()
        common: dict[str, Any] = dict(
            num_workers=self.num_workers, pin_memory=torch.cuda.is_available(), seed=self.seed
        )
        if train:
            groups = dataset.image_index if self.group_by_image else torch.arange(len(dataset))
            sampler = ImageGroupedBatchSampler(
                groups, self.batch_size, seed=self.seed, num_replicas=replicas, rank=rank
            )
            return ResumableBatchLoader(dataset, sampler, **common)
        if 0 < len(dataset) < replicas:
            raise DatasetError(
                f"the {name} split has {len(dataset)} question(s), fewer than the {replicas} processes; every "
                "process needs at least one to evaluate (use fewer devices)"
            )
        sampler = SplitBatchSampler(len(dataset), self.eval_batch_size, num_replicas=replicas, rank=rank)
        return BatchLoader(dataset, sampler, **common)

    def train_dataloader(self) -> ResumableBatchLoader:
        self._train_loader = self._loader("train", train=True)
        if self._train_loader_state is not None:
            self._train_loader.load_state_dict(self._train_loader_state)
            self._train_loader_state = None
        return self._train_loader

    # ---- resuming in the middle of an epoch ------------------------------------------------------------------
    # Lightning saves a stateful training loader's `state_dict()` with the fit loop, but restores it only when
    # the loader is created after the checkpoint is loaded; `configure_optimizers` asks for
    # `trainer.estimated_stepping_batches`, which creates the loader earlier, so that state would be dropped.
    # The data module's own state is restored before anything is set up: the loader's place travels here.

    def state_dict(self) -> dict[str, Any]:
        """Where the training loader is in its epoch (saved in every checkpoint)."""
        return {"train_loader": self._train_loader.state_dict()} if self._train_loader is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the training epoch of a checkpoint: the next training loader resumes where it stopped."""
        self._train_loader_state = state.get("train_loader")
        if self._train_loader is not None and self._train_loader_state is not None:
            self._train_loader.load_state_dict(self._train_loader_state)

    def val_dataloader(self) -> BatchLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> BatchLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> BatchLoader:
        return self._loader(self.predict_split, train=False)

    # ---- bad samples found while loading batches -------------------------------------------------------------

    def on_before_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        """Count the questions a batch left out (their images could not be decoded, in a worker process)."""
        for reason, questions in batch.pop(SKIPPED_KEY, []):
            first = self.bad_samples.count == self._reported
            self.bad_samples.record(reason, questions)
            if first:  # say so at once; the summary follows at the end of the stage
                rank_zero_warn(f"skip_bad_samples: left out {questions} question(s): {reason}")
        return batch

    def teardown(self, stage: str) -> None:
        self._report(f"{self.source.name} ({stage})")
        self._train_loader_state = None  # a checkpoint loaded to validate or test must not move a later fit
