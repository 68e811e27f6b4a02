"""The `vqa` command: LightningCLI subcommands (fit, validate, test, predict) plus the toolkit's own.

vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml
vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path last   # resume after a kill
vqa test -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path best
vqa export runs/easy_vqa/.../checkpoints/last.ckpt models/easy_vqa
vqa ask --model models/easy_vqa --image shape.png --question "What color is the shape?" --top-k 3
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Sequence
from typing import Any

from lightning.pytorch.cli import LightningCLI

from vqa.data.datamodule import VQADataModule
from vqa.errors import VQAError
from vqa.training import checkpoints
from vqa.training.callbacks import PredictionWriter
from vqa.training.module import VQALitModule

# Toolkit subcommands beside Lightning's: name -> "module:function" taking the remaining arguments.
COMMANDS: dict[str, str] = {
    "benchmark": "vqa.benchmarks.grid:main",
    "bench": "vqa.benchmarks.speed:main",
    "data": "vqa.data.cli:main",
    "export": "vqa.inference.export:main",
    "ask": "vqa.inference.ask:main",
}


class VQACLI(LightningCLI):
    """LightningCLI with the vocabulary linked from the data into the model, and checkpoints that are found
    (`--ckpt_path last` / `best` across runs), checked against the configured model and loaded with
    `weights_only=True` (see `vqa.training.checkpoints`)."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.vocab_dict", "model.vocab", apply_on="instantiate")
        parser.add_lightning_class_args(PredictionWriter, "predictions")

    def _parse_ckpt_path(self) -> None:
        """Lightning reads the hyper-parameters of a `--ckpt_path` file here, before anything else: check first that
        the file loads safely, so that a bad file gets a one-line error instead of an unpickling traceback."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in checkpoints.SPECIAL:
            checkpoints.read_checkpoint_header(ckpt_path)
        super()._parse_ckpt_path()

    def _run_stage(self, stage: str, **kwargs: Any) -> Any:
        method = getattr(self.trainer, stage)
        kwargs["ckpt_path"] = checkpoints.resolve(kwargs.get("ckpt_path"), self.trainer, kwargs["model"], stage)
        if kwargs.get("weights_only") is None and "weights_only" in inspect.signature(method).parameters:
            kwargs["weights_only"] = True  # checkpoints hold tensors and plain data only: never unpickle code
        return method(**kwargs)

    def fit(self, **kwargs: Any) -> Any:
        return self._run_stage("fit", **kwargs)

    def validate(self, **kwargs: Any) -> Any:
        return self._run_stage("validate", **kwargs)

    def test(self, **kwargs: Any) -> Any:
        return self._run_stage("test", **kwargs)

    def predict(self, **kwargs: Any) -> Any:
        return self._run_stage("predict", **kwargs)


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
        print(f"error: {user_message(error)}", file=sys.stderr)
        raise SystemExit(2) from None


def user_message(error: VQAError) -> str:
    """The error's own message. An error raised in a DataLoader worker comes back with the worker's traceback as
    its message ("Caught ImageLoadError in DataLoader worker process 0. Original Traceback ..."): keep what
    the original error said."""
    text = str(error)
    marker = f"{type(error).__module__}.{type(error).__qualname__}: "
    if text.startswith("Caught ") and "Original Traceback" in text and marker in text:
        return text.rsplit(marker, 1)[1].strip() + " (raised in a data loader worker)"
    return text


if __name__ == "__main__":
    main()
