"""The `vqa` command: one dispatcher for every command, Lightning's (fit, validate, test, predict) and the toolkit's.

    vqa --help                                                   # every command, one line each
    vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml
    vqa fit -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path last   # resume after a kill
    vqa test -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --ckpt_path best
    vqa export runs/easy_vqa/.../checkpoints/last.ckpt models/easy_vqa
    vqa ask --model models/easy_vqa --image shape.png --question "What color is the shape?" --top-k 3
    vqa benchmark compare results/quick_before results/quick                                # two runs, tested

This module imports no command's code until that command runs: `vqa --help` answers at once, and a command that
needs no Lightning (`vqa ask`, `vqa export`) does not get it from here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One `vqa` command.

    Args:
        summary: its one-line description (`vqa --help`; also `vqa <command> --help` for Lightning's commands).
        entry: "module:function" called with the arguments after the command's name; None for Lightning's
            commands, which `vqa.training.cli.build_cli` parses whole.
    """

    summary: str
    entry: str | None = None


# Every command of `vqa`, in the order `vqa --help` lists them.
COMMANDS: dict[str, Command] = {
    "fit": Command("train a model from config files; --ckpt_path last resumes"),
    "validate": Command("score a checkpoint on the validation split"),
    "test": Command("score a checkpoint on the test split (--ckpt_path best)"),
    "predict": Command("write a checkpoint's answers to the test questions (JSON lines)"),
    "benchmark": Command(
        "train and test a grid of fusion variants: tables and plots (`benchmark compare A B`: two runs)",
        "vqa.benchmarks.command:main",
    ),
    "speed": Command("time training and inference of a configured model", "vqa.benchmarks.speed:main"),
    "data": Command("generate synthetic sets, dataset statistics, results files", "vqa.data.cli:main"),
    "export": Command("turn a training checkpoint into a model bundle", "vqa.inference.export:main"),
    "ask": Command("answer questions about an image with a trained model", "vqa.inference.ask:main"),
    "serve": Command(
        "serve models over HTTP: a page to compare them on your images, a batched JSON API",
        "vqa.inference.serve.command:main",
    ),
}


def parser() -> argparse.ArgumentParser:
    """The top-level parser: `vqa --help` lists every command of COMMANDS with its summary."""
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items())
    top = argparse.ArgumentParser(
        prog="vqa",
        usage="vqa <command> [options]",
        description="Train, compare and use VQA models with interchangeable fusion modules.",
        epilog=f"commands:\n{listing}\n\n`vqa <command> --help` gives a command's own options. Flags are spelled "
        "with hyphens (--top-k);\nthose that name a config key keep its spelling (--ckpt_path, --trainer.max_epochs).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("command", choices=COMMANDS, metavar="<command>", help="one of the commands below")
    return top


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of the `vqa` console script; `args` replaces the command line (tests, scripts)."""
    argv = list(sys.argv[1:] if args is None else args)
    if not argv:
        parser().print_help()
        return
    if argv[0] not in COMMANDS:
        parser().parse_args(argv[:1])  # prints the help for -h/--help, else names the commands; exits either way
    from vqa.errors import USER_ERRORS  # not before: it imports torch, which `vqa --help` does not need

    name, rest = argv[0], argv[1:]
    try:
        if COMMANDS[name].entry is None:
            run_lightning(None if args is None else argv)
        else:
            module_name, function = COMMANDS[name].entry.split(":")
            getattr(importlib.import_module(module_name), function)(rest)
    except USER_ERRORS as error:
        print(f"error: {user_message(error)}", file=sys.stderr)
        raise SystemExit(2) from None


def run_lightning(argv: list[str] | None) -> None:
    """Lightning's commands: `argv` (None: the command line) starts with fit, validate, test or predict."""
    from vqa.training.cli import build_cli  # Lightning is imported for its own commands only

    descriptions = {name: {"description": c.summary} for name, c in COMMANDS.items() if c.entry is None}
    build_cli(argv, parser_kwargs={"prog": "vqa", **descriptions})


def user_message(error: Exception) -> str:
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
