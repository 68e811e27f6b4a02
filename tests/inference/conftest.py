"""A tiny cross-attention model trained a few steps through Lightning, shared by the inference tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.inference.tiny_model import train_tiny
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
    cli, checkpoint = train_tiny(
        root,
        "model.ckpt",
        "--model.fusion=fusion.CrossAttentionFusion",
        "--model.fusion.init_args.out_dim=32",
        "--model.fusion.init_args.dim=32",
        "--model.fusion.init_args.num_layers=1",
        "--model.fusion.init_args.num_heads=2",
    )
    cli.model.eval()
    split = cli.datamodule.split("test")
    image_files = []
    for i in range(4):
        path = root / f"test_{i}.png"
        Image.fromarray(split.images.get(torch.tensor([i]))[0].permute(1, 2, 0).numpy()).save(path)
        image_files.append(path)
    questions = [r.question for r in split.records if r.image == 0]
    return Trained(checkpoint, cli.model, cli.datamodule, image_files, questions)


@pytest.fixture(scope="session")
def bundle_dir(trained, tmp_path_factory) -> Path:
    from vqa.inference.bundle import export_checkpoint

    return export_checkpoint(trained.checkpoint, tmp_path_factory.mktemp("bundle") / "tiny")
