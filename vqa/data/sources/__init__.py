"""Readers of on-disk dataset formats: each yields the records and images of a split (see `base.VQASource`);
the file-backed ones share `files.FileSource`."""

from vqa.data.sources.base import DATASETS, DatasetError, VQASource
from vqa.data.sources.clevr import CLEVR
from vqa.data.sources.easy_vqa import EasyVQA
from vqa.data.sources.files import FileEntry, FileSource
from vqa.data.sources.gqa import GQA
from vqa.data.sources.jsonl import JSONLSource
from vqa.data.sources.vqa_v2 import VQAv2

__all__ = [
    "CLEVR",
    "DATASETS",
    "GQA",
    "DatasetError",
    "EasyVQA",
    "FileEntry",
    "FileSource",
    "JSONLSource",
    "VQASource",
    "VQAv2",
]
