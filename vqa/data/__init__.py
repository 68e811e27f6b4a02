"""Datasets: sources (readers of on-disk formats, generators of synthetic sets), the vocabulary, and the one
`VQADataModule` that turns any source into batches."""

from vqa.data.generators import ClevrLike, SortOfClevr, SyntheticVQA
from vqa.data.image_files import ImageFiles
from vqa.data.records import VQARecord, VQASplit
from vqa.data.sources import (
    CLEVR,
    DATASETS,
    GQA,
    DatasetError,
    EasyVQA,
    FileEntry,
    FileSource,
    JSONLSource,
    VQASource,
    VQAv2,
)
from vqa.data.vocab import AnswerVocab, Vocabulary

__all__ = [
    "CLEVR",
    "DATASETS",
    "GQA",
    "AnswerVocab",
    "ClevrLike",
    "DatasetError",
    "EasyVQA",
    "FileEntry",
    "FileSource",
    "ImageFiles",
    "JSONLSource",
    "SortOfClevr",
    "SyntheticVQA",
    "VQADataModule",
    "VQARecord",
    "VQASource",
    "VQASplit",
    "Vocabulary",
    "VQAv2",
]


def __getattr__(name: str) -> type:
    """`VQADataModule` is imported when first asked for: it imports Lightning, which the inference path (images,
    vocabulary: `vqa.load`, `vqa ask`) does not need."""
    if name == "VQADataModule":
        from vqa.data.datamodule import VQADataModule

        return VQADataModule
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
