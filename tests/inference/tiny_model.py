"""Training the tiny Sort-of-CLEVR config for a few steps: the models the inference and serving tests use."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.cli import LightningCLI

from tests.conftest import TINY_CONFIG
from vqa.training.cli import build_cli


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
