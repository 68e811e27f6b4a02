"""Datasets: readers and generators (sources), the vocabulary, and the one `VQADataModule`."""

from vqa.data.datamodule import VQADataModule
from vqa.data.easy_vqa import EasyVQA
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sort_of_clevr import SortOfClevr
from vqa.data.sources import DATASETS, DatasetError, VQASource
from vqa.data.synthetic import SyntheticVQA
from vqa.data.vocab import AnswerVocab, Vocabulary

__all__ = [
    "DATASETS",
    "AnswerVocab",
    "DatasetError",
    "EasyVQA",
    "SortOfClevr",
    "SyntheticVQA",
    "VQADataModule",
    "VQARecord",
    "VQASource",
    "VQASplit",
    "Vocabulary",
]
