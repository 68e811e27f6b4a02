"""A tiny cross-attention model trained a few steps through Lightning, shared by the inference tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.inference.tiny_model import TINY_CROSS_ATTENTION, save_test_images, train_tiny
from vqa.data.datamodule import VQADataModule
from vqa.training.module import VQALitModule


@dataclass
class Trained:
    checkpoint: Path
    module: VQALitModule
    datamodule: VQADataModule
    image_files: list[Path]  # test-split images saved as PNG
    questions: list[str]  # test-split questions about image_files[0]


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    root = tmp_path_factory.mktemp("trained")
    cli, checkpoint = train_tiny(root, "model.ckpt", *TINY_CROSS_ATTENTION)
    cli.model.eval()
    image_files = save_test_images(cli, root, 4)
    questions = [r.question for r in cli.datamodule.split("test").records if r.image == 0]
    return Trained(checkpoint, cli.model, cli.datamodule, image_files, questions)


@pytest.fixture(scope="session")
def bundle_dir(trained, tmp_path_factory) -> Path:
    from vqa.inference.bundle import export_checkpoint

    return export_checkpoint(trained.checkpoint, tmp_path_factory.mktemp("bundle") / "tiny")
