"""Lightning's commands of `vqa` (fit, validate, test, predict): the LightningCLI that builds trainer, model and data.

    vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml
    vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path last   # resume after a kill
    vqa test -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path best

`vqa.cli` dispatches to `build_cli`; the toolkit's own tools (speed benchmark, benchmark cells) call it too, to
build exactly what `vqa fit` builds.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from vqa.data.datamodule import VQADataModule
from vqa.training import checkpoints
from vqa.training.callbacks import PredictionWriter
from vqa.training.clock import TrainingClock
from vqa.training.defaults import TRAINER_DEFAULTS, Checkpoints, default_logger
from vqa.training.module import VQALitModule


class VQACLI(LightningCLI):
    """LightningCLI with the vocabulary linked from the data into the model; the toolkit's trainer defaults
    (`vqa.training.defaults`: atomic best/last/step checkpoints, a CSV logger); and checkpoints that are found
    (`--ckpt_path last` / `best` across runs), checked against the configured model and loaded with
    `weights_only=True` (see `vqa.training.checkpoints`)."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.vocab_dict", "model.vocab", apply_on="instantiate")
        parser.add_lightning_class_args(PredictionWriter, "predictions")
        # Every run logs its training time with each validation (time-to-accuracy); `--clock.targets` names goals.
        parser.add_lightning_class_args(TrainingClock, "clock")
        parser.add_class_arguments(Checkpoints, "checkpoints")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse `args`, or the command line when None. Lightning warns when both exist, to catch a script that
        forgets its command line; here explicit `args` are the point: `vqa speed` and the benchmark cells build
        this CLI from argument lists they compose while the command line holds their own arguments."""
        self.config = parser.parse_object(args) if isinstance(args, dict | Namespace) else parser.parse_args(args)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        """The configured trainer with the toolkit's defaults filled in: the checkpoint callbacks and the atomic
        checkpoint writer beside whatever the config adds, and the CSV logger where the config sets none."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        trainer, wanted = config["trainer"], config["checkpoints"]
        kwargs.setdefault(
            "callbacks", wanted.add_callbacks(trainer.get("callbacks"), trainer.get("enable_checkpointing"))
        )
        kwargs.setdefault("plugins", wanted.add_plugins(trainer.get("plugins")))
        kwargs.setdefault("logger", default_logger(trainer.get("logger"), trainer.get("default_root_dir")))
        return super().instantiate_trainer(**kwargs)

    def _parse_ckpt_path(self) -> None:
        """Lightning reads the hyper-parameters of a `--ckpt_path` file here, before anything else: check first that
        the file loads safely, so that a bad file gets a one-line error instead of an unpickling traceback."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and ckpt_path not in checkpoints.SPECIAL:
            checkpoints.safe_load_checkpoint(ckpt_path)
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
    """Parse `args` (None: the command line) and build (and with `run`, execute) the Lightning CLI.

    `kwargs` go to `LightningCLI` (e.g. `parser_kwargs`, `save_config_callback`)."""
    return VQACLI(
        VQALitModule,
        VQADataModule,
        args=None if args is None else list(args),
        run=run,
        seed_everything_default=0,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        **kwargs,
    )
