"""Command-line arguments that the speed benchmarks (`vqa speed` and its sub-commands) spell the same way."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch


def add_common_arguments(
    parser: argparse.ArgumentParser,
    *,
    configs: bool = True,
    default_configs: Sequence[str] = (),
    json_report: str | None = "the report",
) -> None:
    """Add the benchmark arguments shared across `vqa speed`'s commands:

    * `-c/--config` (when `configs`): a `vqa fit` config file, repeatable; required unless `default_configs`
      (used when none is given: see `config_arguments`);
    * `--json PATH` (unless `json_report` is None): also write `json_report` as JSON there;
    * `--threads N`: torch's CPU threads (see `set_threads`).
    """
    if configs:
        default = f" (default: {' + '.join(default_configs)})" if default_configs else ""
        parser.add_argument(
            "-c",
            "--config",
            action="append",
            default=None,
            required=not default_configs,
            help=f"a `vqa fit` config file (repeatable){default}",
        )
    if json_report is not None:
        parser.add_argument("--json", type=Path, default=None, help=f"also write {json_report} as JSON here")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads of torch (default: its own choice; 1 is steadier on a loaded machine)",
    )


def set_threads(args: argparse.Namespace) -> None:
    """Apply `--threads`, if given."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)


def config_arguments(
    args: argparse.Namespace, extra: Sequence[str] = (), default_configs: Sequence[str] = ()
) -> list[str]:
    """The arguments for `vqa fit`'s config parser: `-c FILE` for each `--config` (else each of `default_configs`),
    then `extra`, the arguments the benchmark's own parser did not know (e.g. `--model.fusion.init_args.dim=64`)."""
    return [arg for path in args.config or default_configs for arg in ("-c", path)] + list(extra)
