"""Training the tiny Sort-of-CLEVR config for a few steps: the models the inference and serving tests use."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.cli import LightningCLI
from PIL import Image

from tests.conftest import TINY_CONFIG
from vqa.training.cli import build_cli

# A one-layer cross-attention fusion at the tiny config's widths (a fusion with attention maps and token streams).
TINY_CROSS_ATTENTION = (
    "--model.fusion=fusion.CrossAttentionFusion",
    "--model.fusion.init_args.out_dim=32",
    "--model.fusion.init_args.dim=32",
    "--model.fusion.init_args.num_layers=1",
    "--model.fusion.init_args.num_heads=2",
)


def save_test_images(cli: LightningCLI, root: Path, count: int) -> list[Path]:
    """The first `count` test-split images of the CLI's data, saved as PNG files under `root`."""
    images = cli.datamodule.split("test").images
    paths = []
    for i in range(count):
        path = root / f"test_{i}.png"
        Image.fromarray(images.get(torch.tensor([i]))[0].permute(1, 2, 0).numpy()).save(path)
        paths.append(path)
    return paths


def train_tiny(root: Path, checkpoint_name: str, *overrides: str) -> tuple[LightningCLI, Path]:
    """`vqa fit` on the tiny config for 4 steps under `root` (plus `overrides`, e.g. another fusion); returns the
    CLI (model and data module) and the checkpoint saved as `root / checkpoint_name`."""
    cli = build_cli(
        [
            "fit",
            "-c",
            str(TINY_CONFIG),
            "--trainer.max_steps=4",
            f"--trainer.default_root_dir={root}",
            f"--data.source.init_args.cache_dir={root / 'data'}",
            *overrides,
        ]
    )
    checkpoint = root / checkpoint_name
    cli.trainer.save_checkpoint(checkpoint)
    return cli, checkpoint
