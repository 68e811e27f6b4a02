"""The `vqa` command: LightningCLI subcommands (fit, validate, test, predict) plus the toolkit's own.

    vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml
    vqa test -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path best
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Sequence

from lightning.pytorch.cli import LightningCLI

from vqa.callbacks import PredictionWriter
from vqa.data.datamodule import VQADataModule
from vqa.errors import VQAError
from vqa.lit import VQALitModule

# Toolkit subcommands beside Lightning's: name -> "module:function" taking the remaining arguments.
COMMANDS: dict[str, str] = {
    "benchmark": "vqa.benchmark:main",
    "bench": "vqa.bench:main",
}


class VQACLI(LightningCLI):
    """LightningCLI with the vocabulary linked from the data into the model."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.vocab_dict", "model.vocab", apply_on="instantiate")
        parser.add_lightning_class_args(PredictionWriter, "predictions")


def build_cli(args: Sequence[str] | None = None, run: bool = True, **kwargs: Any) -> VQACLI:
    """Parse `args` and build (and with `run`, execute) the Lightning CLI."""
    return VQACLI(
        VQALitModule,
        VQADataModule,
        args=None if args is None else list(args),
        run=run,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        **kwargs,
    )


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the `vqa` console script."""
    argv = list(sys.argv[1:] if args is None else args)
    try:
        if argv and argv[0] in COMMANDS:
            module_name, function = COMMANDS[argv[0]].split(":")
            getattr(importlib.import_module(module_name), function)(argv[1:])
        else:
            build_cli(argv)
    except VQAError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
