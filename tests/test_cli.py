"""The `vqa` command end to end on a tiny generated dataset: its commands and help, the trainer defaults every
config gets (atomic best/last/step checkpoints, the CSV logger), and its error messages."""

import importlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tests.conftest import CONFIGS, TINY_CONFIG
from vqa.cli import COMMANDS, Command, main
from vqa.errors import VQAError
from vqa.training.checkpoint_io import AtomicCheckpointIO
from vqa.training.cli import build_cli
from vqa.training.module import MODEL_CONFIG_KEY


@pytest.fixture()
def tiny_args(tmp_path):
    return [
        "-c",
        str(TINY_CONFIG),
        f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
        f"--trainer.default_root_dir={tmp_path}",
    ]


def test_fit_validate_test_predict(tiny_args, tmp_path):
    main(
        [
            "fit",
            *tiny_args,
            "--trainer.max_epochs=2",
            "--trainer.enable_checkpointing=true",
            "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
            f"--trainer.callbacks.dirpath={tmp_path / 'ckpt'}",
            "--trainer.callbacks.save_last=true",
        ]
    )
    checkpoint = tmp_path / "ckpt" / "last.ckpt"
    assert checkpoint.exists()
    main(["validate", *tiny_args, f"--ckpt_path={checkpoint}"])
    main(["test", *tiny_args, f"--ckpt_path={checkpoint}"])
    out = tmp_path / "predictions.jsonl"
    main(["predict", *tiny_args, f"--ckpt_path={checkpoint}", f"--predictions.path={out}", "--predictions.top_k=2"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 8 * 2 * 4  # every test question once
    assert len(lines[0]["predictions"]) == 2 and lines[0]["question"].endswith("?")


@pytest.mark.parametrize("fusion", ["early", "late", "cross_attention"])
def test_fit_with_each_shipped_fusion_config(tiny_args, tmp_path, fusion):
    """The shipped fusion config builds its fusion with its settings; `fit` trains it (two steps, finite loss,
    every fusion weight matrix updated, a validation) and writes a checkpoint that records that fusion."""
    config = CONFIGS / "fusion" / f"{fusion}.yaml"
    shipped = yaml.safe_load(config.read_text())["model"]["fusion"]
    smaller = {} if fusion == "late" else {"out_dim": 16, "num_heads": 2}  # fast on a CPU; the rest as shipped
    args = [*tiny_args, "-c", str(config), *(f"--model.fusion.init_args.{k}={v}" for k, v in smaller.items())]
    # The same arguments and seed without running: the weights `fit` starts from.
    initial = build_cli(args, run=False).model.model.fusion.state_dict()
    steps = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
    # No weight decay: then only a gradient moves a weight.
    cli = build_cli(["fit", *args, *steps, "--model.weight_decay=0", "--trainer.enable_checkpointing=true"])

    module_name, _, class_name = shipped["class_path"].rpartition(".")
    assert type(cli.model.model.fusion) is getattr(importlib.import_module(module_name), class_name)
    assert cli.trainer.global_step == 2
    assert math.isfinite(float(cli.trainer.callback_metrics["train/loss"]))
    assert "val/acc" in cli.trainer.callback_metrics
    # Every weight matrix of the fusion learned. (A bias may not: that of a softmax score gets no gradient.)
    trained = cli.model.model.fusion.state_dict()
    matrices = [name for name, value in initial.items() if value.ndim >= 2]
    assert matrices and [name for name in matrices if torch.equal(initial[name], trained[name])] == []

    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    recorded = checkpoint[MODEL_CONFIG_KEY]["fusion"]
    assert recorded["name"] == type(cli.model.model.fusion).name
    assert recorded["init_args"].items() >= {**shipped["init_args"], **smaller}.items()


def test_unknown_fusion_is_a_clear_error(tiny_args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny_args, "--model.fusion=fusion.NoSuchFusion"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "model.fusion" in err and "NoSuchFusion" in err


def test_bad_config_value_is_a_clear_error(tiny_args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny_args, "--data.batch_size=many"])
    assert exit_info.value.code == 2
    assert "data.batch_size" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error_without_traceback(tiny_args, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                *tiny_args,
                "--data.source=vqa.data.EasyVQA",
                f"--data.source.init_args.root={tmp_path / 'none'}",
                "--trainer.fast_dev_run=1",
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: easy-VQA questions file not found" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------------- the commands


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"]], ids=["no arguments", "--help", "-h"])
def test_top_level_help_lists_every_command_with_its_summary(argv, capsys):
    try:
        main(argv)
    except SystemExit as done:
        assert done.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: vqa <command>")
    for name, command in COMMANDS.items():
        assert re.search(rf"^  {name} +{re.escape(command.summary)}$", out, re.MULTILINE), name
    lightning = {name for name, command in COMMANDS.items() if command.entry is None}
    assert lightning == set(LightningCLI.subcommands())  # fit, validate, test, predict
    assert {"benchmark", "speed", "data", "export", "ask"} <= set(COMMANDS)


def test_an_unknown_command_is_refused_with_the_list_of_commands(capsys):
    with pytest.raises(SystemExit) as done:
        main(["bench"])  # the speed benchmark is `vqa speed` now
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bench'" in err and "'speed'" in err and "'benchmark'" in err


def _help_commands() -> list[list[str]]:
    from vqa.benchmarks.speed import SUBCOMMANDS as SPEED
    from vqa.data.cli import SUBCOMMANDS as DATA

    return [[name] for name in COMMANDS] + [["speed", name] for name in SPEED] + [["data", name] for name in DATA]


@pytest.mark.parametrize("command", _help_commands(), ids=" ".join)
def test_every_usage_line_says_vqa_and_the_command(command, capsys):
    try:
        main([*command, "--help"])
    except SystemExit as done:
        assert done.code == 0
    out = capsys.readouterr().out
    usage = out.splitlines()[0]
    assert usage.startswith("usage: vqa ") and " ".join(command) in usage, usage
    assert "python -m" not in out and "__main__" not in out


def test_a_user_error_is_one_line_and_exit_code_2(monkeypatch, capsys):
    monkeypatch.setitem(COMMANDS, "fail", Command("raise a user error", "tests.test_cli:raise_user_error"))
    with pytest.raises(SystemExit) as done:
        main(["fail", "now"])
    assert done.value.code == 2
    assert capsys.readouterr().err == "error: cannot do it: now\n"


def raise_user_error(args: list[str]) -> None:
    raise VQAError(f"cannot do it: {' '.join(args)}")


@pytest.mark.parametrize(
    "command",
    [
        ["fit", "--trainer.fast_dev_run=true"],
        ["speed", "--batch-sizes", "2", "--steps", "1", "--warmup", "0", "--no-inference", "--device", "cpu"],
    ],
    ids=["fit", "speed"],
)
def test_the_console_script_prints_no_lightning_cli_warning(command, tmp_path):
    script = Path(sys.executable).with_name("vqa")
    assert script.exists(), "the `vqa` console script comes with `pip install -e .`"
    data = [f"--data.source.init_args.cache_dir={tmp_path / 'cache'}", f"--trainer.default_root_dir={tmp_path}"]
    result = subprocess.run(
        [str(script), command[0], "-c", str(TINY_CONFIG), *data, *command[1:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "args parameter" not in result.stderr and "LightningCLI" not in result.stderr, result.stderr[-3000:]


# ------------------------------------------------------------------------------------------- the trainer defaults


@pytest.fixture()
def shipped_base(tmp_path):
    """The shipped Sort-of-CLEVR base config (no callbacks, plugins or logger of its own), shrunk to 40 images."""
    return [
        "-c",
        str(CONFIGS / "sort_of_clevr.yaml"),
        "-c",
        str(CONFIGS / "fusion" / "late.yaml"),
        "--data.source.init_args.num_images=40",
        "--data.source.init_args.test_images=8",
        "--data.source.init_args.val_images=8",
        "--data.source.init_args.questions_per_family=4",
        f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
        "--data.batch_size=16",
        f"--trainer.default_root_dir={tmp_path / 'runs'}",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]


def checkpointing(trainer) -> tuple[list[str], type]:
    """The checkpoint callbacks (by filename) and the checkpoint writer's class of a built trainer."""
    return [c.filename for c in trainer.checkpoint_callbacks], type(trainer.strategy.checkpoint_io)


def test_a_dataset_config_gets_atomic_best_last_step_checkpoints_and_the_csv_logger(shipped_base, tmp_path):
    cli = build_cli(["fit", *shipped_base, "--trainer.max_epochs=2", "--checkpoints.every_n_train_steps=5"])
    assert checkpointing(cli.trainer) == (["best-{epoch}", "last", "step-{step}"], AtomicCheckpointIO)
    best = cli.trainer.checkpoint_callback  # what `vqa benchmark` cells and `--ckpt_path best` read
    assert (best.monitor, best.mode) == ("val/acc", "max")
    assert cli.trainer.gradient_clip_val == 1.0 and cli.trainer.num_devices == 1
    # What the run wrote: 2 epochs of 12 steps, a step checkpoint every 5 steps (only the newest is kept).
    [logger] = cli.trainer.loggers
    assert isinstance(logger, CSVLogger) and Path(logger.save_dir) == tmp_path / "runs"
    run = tmp_path / "runs" / "lightning_logs" / "version_0"
    assert (run / "metrics.csv").exists()
    written = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert written == sorted([Path(best.best_model_path).name, "last.ckpt", "step-20.ckpt"]), written
    assert Path(best.best_model_path).name.startswith("best-epoch=")


def test_a_user_config_with_its_own_callbacks_and_plugins_keeps_the_checkpoints(shipped_base, tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text(
        """
trainer:
  callbacks:
    - class_path: lightning.pytorch.callbacks.LearningRateMonitor
  plugins:
    - class_path: lightning.fabric.plugins.environments.LightningEnvironment
"""
    )
    for extra in (["-c", str(user)], ["--trainer.callbacks+=lightning.pytorch.callbacks.LearningRateMonitor"]):
        trainer = build_cli([*shipped_base, *extra], run=False).trainer
        assert any(isinstance(c, LearningRateMonitor) for c in trainer.callbacks)
        assert checkpointing(trainer) == (["best-{epoch}", "last", "step-{step}"], AtomicCheckpointIO)
        assert isinstance(trainer.loggers[0], CSVLogger)


@pytest.mark.parametrize(
    ("overrides", "filenames", "writer"),
    [
        # a checkpoint callback of the user's own replaces the three (the atomic writer stays)
        (
            ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint", "--trainer.callbacks.filename=mine"],
            ["mine"],
            AtomicCheckpointIO,
        ),
        # a checkpoint writer of the user's own replaces the atomic one
        (
            ["--trainer.plugins=lightning.pytorch.plugins.io.TorchCheckpointIO"],
            ["best-{epoch}", "last", "step-{step}"],
            TorchCheckpointIO,
        ),
        (["--checkpoints.atomic=false"], ["best-{epoch}", "last", "step-{step}"], TorchCheckpointIO),
        (["--checkpoints.best=false", "--checkpoints.every_n_train_steps=0"], ["last"], AtomicCheckpointIO),
        (["--trainer.enable_checkpointing=false"], [], AtomicCheckpointIO),
    ],
    ids=["own callback", "own writer", "atomic off", "last only", "checkpointing off"],
)
def test_each_default_gives_way_to_an_explicit_choice_only(shipped_base, overrides, filenames, writer):
    trainer = build_cli([*shipped_base, *overrides], run=False).trainer
    assert checkpointing(trainer) == (filenames, writer)  # exact classes: the atomic writer subclasses Torch's


def test_step_interval_and_logger_are_set_from_yaml_or_flags(shipped_base, tmp_path):
    user = tmp_path / "steps.yaml"
    user.write_text("checkpoints:\n  every_n_train_steps: 7\n")
    trainer = build_cli([*shipped_base, "-c", str(user), "--trainer.logger=false"], run=False).trainer
    [step] = [c for c in trainer.checkpoint_callbacks if c.filename == "step-{step}"]
    assert isinstance(step, ModelCheckpoint) and step._every_n_train_steps == 7
    assert trainer.loggers == []
    with pytest.raises(SystemExit):  # a negative interval is refused while parsing
        build_cli([*shipped_base, "--checkpoints.every_n_train_steps=-1"], run=False)
