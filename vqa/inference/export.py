"""`vqa export CHECKPOINT OUT_DIR`: turn a training checkpoint into a model bundle that loads without pickle."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from vqa.inference.bundle import BUNDLE_FILES, export_checkpoint


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqa export",
        description="Write a model bundle (config.json, vocab.json, model.safetensors) from a training checkpoint. "
        "The checkpoint is read with torch.load(weights_only=True); the bundle is written atomically.",
    )
    parser.add_argument("checkpoint", help="a checkpoint saved by `vqa fit` (e.g. runs/.../checkpoints/last.ckpt)")
    parser.add_argument("out_dir", help="the bundle directory to create")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle at OUT_DIR")
    return parser


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of `vqa export`."""
    options = build_parser().parse_args(args)
    out = export_checkpoint(options.checkpoint, options.out_dir, options.overwrite)
    size = sum((out / name).stat().st_size for name in BUNDLE_FILES)
    print(f"wrote model bundle {out} ({', '.join(BUNDLE_FILES)}; {size / 1e6:.1f} MB)")
