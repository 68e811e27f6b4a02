"""`vqa benchmark`: train and test a grid of fusion variants side by side, then tabulate and plot.

    vqa benchmark -c configs/benchmark/demo.yaml

Every cell (dataset x fusion x seed) goes through the same Lightning training path as `vqa fit`, in its own
process, so timings and peak memory belong to that cell alone and a crash or kill loses only that cell. A
finished cell is saved as `cells/<key>.json` (atomically) and never re-run: re-running an interrupted grid
completes only the missing cells.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jsonargparse import ActionConfigFile, ArgumentParser
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from vqa.benchmarks.comparisons import predictions_file, suite_significance
from vqa.benchmarks.report import aggregate, render_markdown, write_reports
from vqa.errors import VQAError

console = Console()


@dataclass(frozen=True)
class Cell:
    """One training run of the grid."""

    dataset: str
    fusion: str
    seed: int
    dataset_config: str
    fusion_config: str
    encoder: str = ""  # label of the encoder variant; "" when the grid has no encoder axis
    encoder_configs: tuple[str, ...] = ()  # config files applied after the fusion's
    head: str = ""  # label of the answer-head variant; "" when the grid has no head axis
    head_overrides: tuple[str, ...] = ()  # `vqa fit` arguments of that head (e.g. --model.head=generator)

    @property
    def key(self) -> str:
        encoder = f"{self.encoder}__" if self.encoder else ""
        head = f"__{self.head}" if self.head else ""
        return f"{self.dataset}__{encoder}{self.fusion}{head}__seed{self.seed}"


def plan(
    datasets: dict[str, str],
    fusions: dict[str, str],
    seeds: list[int],
    encoders: dict[str, list[str]] | None = None,
    heads: dict[str, list[str]] | None = None,
) -> list[Cell]:
    """All cells of the grid, dataset-major, checking that every config file exists.

    Args:
        datasets: label -> base config.
        fusions: label -> fusion config.
        seeds: seeds of every cell.
        encoders: label -> encoder config files (applied after the fusion's); None or empty for no encoder axis.
        heads: label -> `vqa fit` arguments of an answer head (e.g. `generator: [--model.head=generator]`,
            `classifier: []`); None or empty for no head axis.
    """
    encoder_axis = {label: tuple(files) for label, files in (encoders or {}).items()} or {"": ()}
    head_axis = {label: tuple(args) for label, args in (heads or {}).items()} or {"": ()}
    for path in [*datasets.values(), *fusions.values(), *(f for files in encoder_axis.values() for f in files)]:
        if not Path(path).is_file():
            raise VQAError(f"benchmark config names {path!r}, which does not exist")
    return [
        Cell(dataset, fusion, seed, dataset_config, fusion_config, encoder, encoder_files, head, head_args)
        for dataset, dataset_config in datasets.items()
        for encoder, encoder_files in encoder_axis.items()
        for fusion, fusion_config in fusions.items()
        for head, head_args in head_axis.items()
        for seed in seeds
    ]


def run_cell_subprocess(cell: Cell, overrides: list[str], output_dir: Path) -> dict[str, Any]:
    """Run one cell in a fresh Python process; its result JSON is written by the child."""
    cell_dir = output_dir / "cells" / cell.key
    cell_dir.mkdir(parents=True, exist_ok=True)
    result_file = output_dir / "cells" / f"{cell.key}.json"
    spec = {
        "cell": asdict(cell),
        "key": cell.key,
        "overrides": list(overrides),
        "cell_dir": str(cell_dir),
        "result_file": str(result_file),
    }
    log_file = cell_dir / "log.txt"
    with open(log_file, "w", encoding="utf-8") as log:
        process = subprocess.run(
            [sys.executable, "-m", "vqa.benchmarks.cell", json.dumps(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    if process.returncode != 0 or not result_file.exists():
        tail = "".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-15:])
        raise VQAError(f"benchmark cell {cell.key} failed (exit {process.returncode}); end of {log_file}:\n{tail}")
    return json.loads(result_file.read_text(encoding="utf-8"))


def run_benchmark(
    datasets: dict[str, str],
    fusions: dict[str, str],
    seeds: list[int] | None = None,
    overrides: list[str] | None = None,
    output_dir: str = "results/benchmark",
    name: str = "benchmark",
    encoders: dict[str, list[str]] | None = None,
    heads: dict[str, list[str]] | None = None,
    targets: dict[str, float] | None = None,
    bootstrap_resamples: int = 10_000,
) -> list[dict[str, Any]]:
    """Run (or finish) the grid datasets x fusions x seeds and write tables and plots.

    Args:
        datasets: label -> base config (e.g. `easy_vqa: configs/easy_vqa.yaml`).
        fusions: label -> fusion config (e.g. `cross_attention: configs/fusion/cross_attention.yaml`).
        seeds: seeds to run each cell with (default: [0]).
        overrides: extra `vqa fit` arguments for every cell (e.g. `--trainer.max_epochs=2`).
        output_dir: where cells, tables and plots go.
        name: title of the report.
        encoders: optional encoder axis: label -> config files applied after the fusion's (e.g.
            `frozen_efficientnet: [configs/image/efficientnet_lite0.yaml]`); every fusion runs with each.
        heads: optional answer-head axis: label -> `vqa fit` arguments (e.g. `classifier: []`,
            `generator: [--model.head=generator]`); every fusion runs with each, and both appear in one table.
        targets: validation metric -> accuracy (e.g. `val/acc/family/relational: 95`): the tables gain a column
            per target with the training time until validation first reached it (time to accuracy).
        bootstrap_resamples: resamples of the paired bootstrap that compares every two variants of a dataset on
            the same test questions (docs/significance.md).

    Returns:
        The per-cell results.
    """
    seeds = list(seeds) if seeds else [0]
    overrides = list(overrides or [])
    out = Path(output_dir)
    cells = plan(datasets, fusions, seeds, encoders, heads)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} cells"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(name, total=len(cells))
        for cell in cells:
            result_file = out / "cells" / f"{cell.key}.json"
            if result_file.exists():
                result = json.loads(result_file.read_text(encoding="utf-8"))
                progress.console.print(f"[dim]{cell.key}: already done ({result['test']['acc']:.2f}%), skipped")
            else:
                encoder = f" x {cell.encoder}" if cell.encoder else ""
                head = f" ({cell.head})" if cell.head else ""
                progress.update(
                    task, description=f"{name}: {cell.dataset}{encoder} x {cell.fusion}{head} (seed {cell.seed})"
                )
                result = run_cell_subprocess(cell, overrides, out)
                progress.console.print(
                    f"{cell.key}: test acc {result['test']['acc']:.2f}%  "
                    f"train {result['train_time_s']:.0f}s  {result['train_samples_per_s']:.0f} samples/s"
                )
            results.append(result)
            progress.advance(task)
    rows = aggregate(results, targets)
    significance = suite_significance(out, results, bootstrap_resamples)
    unrecorded = [r["key"] for r in results if not predictions_file(out, r).is_file()]
    if unrecorded:
        console.print(
            f"[yellow]{len(unrecorded)} cell(s) have no per-question results (run before they were recorded), so "
            f"their datasets get no significance tests: {', '.join(unrecorded[:5])}; delete their "
            "cells/<key>.json to run them again"
        )
    write_reports(out, name, results, rows, targets, significance)
    console.print(render_markdown(name, rows, results, targets, significance))
    console.print(
        f"[bold]results in {out}/ (results.md, results.csv, results.json, plots) "
        f"after {time.perf_counter() - started:.0f}s"
    )
    return results


def main(args: list[str] | None = None) -> list[dict[str, Any]]:
    """Parse `vqa benchmark` arguments (a config file and/or flags) and run the grid."""
    parser = ArgumentParser(
        prog="vqa benchmark",
        description=run_benchmark.__doc__.split("\n\n")[0],
        epilog="`vqa benchmark compare RUN_A RUN_B` compares two finished runs on their shared cells.",
    )
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="benchmark suite YAML")
    parser.add_function_arguments(run_benchmark)
    config = parser.parse_args(args)
    return run_benchmark(
        datasets=config.datasets,
        fusions=config.fusions,
        seeds=config.seeds,
        overrides=config.overrides,
        output_dir=config.output_dir,
        name=config.name,
        encoders=config.encoders,
        heads=config.heads,
        targets=config.targets,
        bootstrap_resamples=config.bootstrap_resamples,
    )
