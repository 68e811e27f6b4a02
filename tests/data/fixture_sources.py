"""Sources built on the dataset fixtures under tests/fixtures/ (real formats, tiny content)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SIZE = (24, 32)


def vqa_v2_source(root: Path = FIXTURES / "vqa_v2", **kwargs):
    from vqa.data import VQAv2

    return VQAv2(
        train_questions=str(root / "v2_OpenEnded_mscoco_train2014_questions.json"),
        train_annotations=str(root / "v2_mscoco_train2014_annotations.json"),
        train_images=str(root / "train2014"),
        val_questions=str(root / "v2_OpenEnded_mscoco_val2014_questions.json"),
        val_annotations=str(root / "v2_mscoco_val2014_annotations.json"),
        val_images=str(root / "val2014"),
        test_questions=str(root / "v2_OpenEnded_mscoco_test2015_questions.json"),
        test_images=str(root / "test2015"),
        **{"image_size": SIZE, **kwargs},
    )


def gqa_source(root: Path = FIXTURES / "gqa", **kwargs):
    from vqa.data import GQA

    return GQA(
        train_questions=str(root / "train_balanced_questions.json"),
        val_questions=str(root / "val_balanced_questions.json"),
        test_questions=str(root / "testdev_balanced_questions.json"),
        image_dir=str(root / "images"),
        **{"image_size": SIZE, **kwargs},
    )


def clevr_source(root: Path = FIXTURES / "clevr", **kwargs):
    from vqa.data import CLEVR

    return CLEVR(
        train_questions=str(root / "questions" / "CLEVR_train_questions.json"),
        val_questions=str(root / "questions" / "CLEVR_val_questions.json"),
        image_dir=str(root / "images"),
        **{"image_size": SIZE, **kwargs},
    )


def jsonl_source(root: Path = FIXTURES / "jsonl", **kwargs):
    from vqa.data import JSONLSource

    files = {"train": str(root / "train.jsonl"), "val": str(root / "val.jsonl"), "test": str(root / "test.jsonl")}
    return JSONLSource(**{**files, "image_size": SIZE, **kwargs})


SOURCES = {"vqa_v2": vqa_v2_source, "gqa": gqa_source, "clevr": clevr_source, "jsonl": jsonl_source}
