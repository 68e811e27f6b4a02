"""Datasets: sources (readers of on-disk formats, generators of synthetic sets), the vocabulary, and the one
`VQADataModule` that turns any source into batches."""

from vqa.data.datamodule import VQADataModule
from vqa.data.generators import ClevrLike, SortOfClevr, SyntheticVQA
from vqa.data.image_files import ImageFiles
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sources import CLEVR, DATASETS, GQA, DatasetError, EasyVQA, JSONLDataset, VQASource, VQAv2
from vqa.data.vocab import AnswerVocab, Vocabulary

__all__ = [
    "CLEVR",
    "DATASETS",
    "GQA",
    "AnswerVocab",
    "ClevrLike",
    "DatasetError",
    "EasyVQA",
    "ImageFiles",
    "JSONLDataset",
    "SortOfClevr",
    "SyntheticVQA",
    "VQADataModule",
    "VQARecord",
    "VQASource",
    "VQASplit",
    "Vocabulary",
    "VQAv2",
]
