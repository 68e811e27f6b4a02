"""Datasets: readers and generators (sources), the vocabulary, and the one `VQADataModule`."""

from vqa.data.clevr import CLEVR
from vqa.data.clevr_like import ClevrLike
from vqa.data.datamodule import VQADataModule
from vqa.data.easy_vqa import EasyVQA
from vqa.data.gqa import GQA
from vqa.data.image_files import ImageFiles
from vqa.data.jsonl import JSONLDataset
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sort_of_clevr import SortOfClevr
from vqa.data.sources import DATASETS, DatasetError, VQASource
from vqa.data.synthetic import SyntheticVQA
from vqa.data.vocab import AnswerVocab, Vocabulary
from vqa.data.vqa_v2 import VQAv2

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
