"""`vqa benchmark compare RUN_A RUN_B`: two benchmark runs (e.g. before and after a change) on their shared cells.

    vqa benchmark compare results/quick_before results/quick

Cells are shared when both runs hold a finished cell with the same key (dataset, encoder, fusion, seed); every
shared variant is compared across the runs on the same test questions (refused when the questions differ) with
the tests the suite's own report uses: the paired, image-clustered bootstrap of the accuracy difference B - A
over the shared seeds (images and each run's seeds resampled), overall and per question type, Holm's correction
across the variants of a dataset (per metric), and McNemar's test per seed where answers are single labels.
Prints a table and writes `compare.md` and `compare.json` (to --out, by default RUN_B).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from vqa.benchmarks.comparisons import OVERALL, Comparison, adjust, compare, group_cells, load_system
from vqa.errors import VQAError
from vqa.io import write_json, write_text


def finished_cells(run_dir: Path) -> dict[str, dict[str, Any]]:
    """key -> result of every finished cell of a run (its `cells/<key>.json` files)."""
    cells_dir = run_dir / "cells"
    if not cells_dir.is_dir():
        raise VQAError(f"{run_dir} is not a benchmark run folder: it has no cells/ folder")
    cells = {}
    for path in sorted(cells_dir.glob("*.json")):
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise VQAError(f"{path}: not a readable cell result ({error})") from error
        cells[cell["key"]] = cell
    return cells


@dataclass
class SharedVariant:
    """One variant both runs hold, compared across them.

    Attributes:
        dataset: the dataset label.
        name: the variant (fusion, or "fusion + encoder").
        seeds: the seeds both runs finished (each run's scores are averaged over these).
        comparison: run B (as `a`) against run A (as `b`): differences are B - A.
    """

    dataset: str
    name: str
    seeds: list[int]
    comparison: Comparison


def compare_runs(run_a: Path, run_b: Path, resamples: int = 10_000, seed: int = 0) -> list[SharedVariant]:
    """Compare every variant the two runs share (B - A), Holm-adjusted per dataset and metric, in run A's order."""
    cells_a, cells_b = finished_cells(run_a), finished_cells(run_b)
    shared = [key for key in cells_a if key in cells_b]
    if not shared:
        raise VQAError(f"{run_a} and {run_b} share no finished cell (same dataset, fusion, encoder and seed)")
    groups_b = group_cells([cells_b[key] for key in shared])
    found = []
    for (dataset, name), members in group_cells([cells_a[key] for key in shared]).items():
        system_a = load_system(run_a, members)
        system_b = load_system(run_b, groups_b[(dataset, name)])
        what = f"{dataset} / {name}: {run_a} vs {run_b}"
        comparison = compare(system_b, system_a, resamples, seed, what)  # B - A: positive = B is better
        found.append(SharedVariant(dataset, name, system_a.seeds, comparison))
    for dataset in dict.fromkeys(v.dataset for v in found):
        adjust([v.comparison for v in found if v.dataset == dataset])
    return found


def _p(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def render(run_a: Path, run_b: Path, found: list[SharedVariant], resamples: int) -> str:
    """The markdown report: one row per shared variant and metric."""
    lines = [
        f"## {run_b} vs {run_a}",
        "",
        f"B = {run_b}, A = {run_a}; B - A in percentage points. Paired bootstrap over test images ({resamples} "
        "resamples, each image with all its questions, and each run's shared seeds drawn with replacement); "
        "p two-sided, Holm-adjusted across the variants of a dataset; McNemar mid-p per seed where every answer "
        "is a single label.",
        "",
        "| dataset | variant | metric | seeds | A | B | B - A | 95% CI | p | Holm p | significant | McNemar mid-p |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for shared in found:
        comparison = shared.comparison
        for metric, test in comparison.tests.items():
            mcnemar = "-"
            if metric == OVERALL and comparison.mcnemar:
                mcnemar = ", ".join(f"{_p(t.p_mid)} (seed {s})" for s, t in comparison.mcnemar.items())
            lines.append(
                f"| {shared.dataset} | {shared.name} | {metric} | {' '.join(map(str, shared.seeds))} | "
                f"{comparison.accuracy_b[metric]:.2f} | {comparison.accuracy_a[metric]:.2f} | {test.difference:+.2f} | "
                f"[{test.low:+.2f}, {test.high:+.2f}] | {_p(test.p_value)} | {_p(comparison.holm.get(metric, math.nan))}"
                f" | {'yes' if comparison.significant(metric) else 'no'} | {mcnemar} |"
            )
    return "\n".join(lines)


def main(args: Sequence[str] | None = None) -> list[SharedVariant]:
    """`vqa benchmark compare RUN_A RUN_B [--out DIR] [--resamples N] [--seed S]`."""
    parser = argparse.ArgumentParser(
        prog="vqa benchmark compare",
        description="Compare two benchmark runs (e.g. before and after a change) on their shared cells: "
        "B - A with paired image-clustered bootstrap tests, Holm's correction and McNemar's test.",
    )
    parser.add_argument("run_a", type=Path, help="the first run's output folder (A, e.g. before a change)")
    parser.add_argument("run_b", type=Path, help="the second run's output folder (B, e.g. after it)")
    parser.add_argument("--out", type=Path, default=None, help="where compare.md / compare.json go (default: RUN_B)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default: 10000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    options = parser.parse_args(args)
    found = compare_runs(options.run_a, options.run_b, options.resamples, options.seed)
    report = render(options.run_a, options.run_b, found, options.resamples)
    out = options.out or options.run_b
    write_text(out / "compare.md", report + "\n")
    write_json(
        out / "compare.json",
        {
            "run_a": str(options.run_a),
            "run_b": str(options.run_b),
            "difference": "b - a, percentage points",
            "resamples": options.resamples,
            "variants": [
                {"dataset": v.dataset, "variant": v.name, "seeds": v.seeds, **v.comparison.to_json()} for v in found
            ],
        },
    )
    console = Console()
    console.print(report)
    console.print(f"[bold]written to {out / 'compare.md'} and {out / 'compare.json'}")
    return found
