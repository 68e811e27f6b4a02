"""Benchmark reports: aggregate cells over seeds, write JSON / CSV / Markdown tables and PNG plots.

Accuracies are the mean over seeds with a 95% confidence interval from the t-distribution; with the per-question
results of the cells (`vqa.benchmarks.comparisons`), the tables mark the best variant of every column and those
not significantly worse than it, list every pair's paired bootstrap test, and a matrix plot shows them.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vqa.benchmarks.comparisons import ALPHA, OVERALL, DatasetSignificance, fusion_label, variant
from vqa.benchmarks.matrix_plot import plot_significance
from vqa.benchmarks.significance import mean_interval
from vqa.io import atomic_path, write_json, write_text

NUMERIC = ("parameters", "train_time_s", "train_samples_per_s", "test_samples_per_s", "peak_memory_mb")


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(results: list[dict[str, Any]], targets: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """One row per (dataset, encoder, fusion): mean and std over seeds of accuracy (overall, per type) and costs,
    the 95% confidence interval of each mean accuracy (t-distribution, under "ci95": metric -> (low, high); NaN
    with one seed), and the training time to each validation target."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[(result["dataset"], result.get("encoder", ""), fusion_label(result))].append(result)
    rows = []
    for (dataset, encoder, fusion), cells in groups.items():
        row: dict[str, Any] = {
            "dataset": dataset,
            "encoder": encoder,
            "fusion": fusion,
            "seeds": [c["seed"] for c in cells],
        }
        row["ci95"] = {}
        for metric in sorted({k for c in cells for k in c["test"]}):
            values = [c["test"].get(metric, float("nan")) for c in cells]
            row[f"acc:{metric}"] = _mean_std(values)
            row["ci95"][f"acc:{metric}"] = mean_interval(values)[1:]
        for key in NUMERIC:
            row[key] = _mean_std([float(c[key]) for c in cells])
        row["question_prior"] = cells[0].get("question_prior", {}).get("overall")
        row["time_to"] = time_to_targets(cells, targets or {})
        rows.append(row)
    return rows


def time_to_target(curve: list[dict[str, Any]], metric: str, target: float) -> float | None:
    """Training seconds until validation `metric` (e.g. "val/acc/family/relational") first reached `target`;
    None when it never did."""
    for point in curve:
        if point.get("val", {}).get(metric, float("-inf")) >= target:
            return point.get("train_s")
    return None


def time_to_targets(cells: list[dict[str, Any]], targets: dict[str, float]) -> dict[str, tuple[float, int]]:
    """Per target: (mean seconds over the seeds that reached it, how many seeds reached it)."""
    summary = {}
    for metric, target in targets.items():
        times = [t for t in (time_to_target(c.get("curve", []), metric, target) for c in cells) if t is not None]
        summary[metric] = (statistics.fmean(times) if times else float("nan"), len(times))
    return summary


def _fmt_time(value: tuple[float, int], seeds: int) -> str:
    mean, reached = value
    if not reached:
        return "not reached"
    return f"{mean:.0f}" + ("" if reached == seeds else f" ({reached}/{seeds} seeds)")


def _fmt(value: tuple[float, float], digits: int = 2) -> str:
    mean, std = value
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std else "")


def _half_width(row: dict[str, Any], metric: str) -> float:
    """Half the width of the 95% interval of `metric`'s mean over seeds; NaN with one seed."""
    low, high = row.get("ci95", {}).get(metric, (math.nan, math.nan))
    return (high - low) / 2


def _fmt_accuracy(row: dict[str, Any], metric: str) -> str:
    """'82.45 ± 2.31': the mean over seeds ± the half-width of its 95% interval (no ± with one seed or when
    every seed scored the same)."""
    mean, half = row[metric][0], _half_width(row, metric)
    if math.isnan(mean):
        return "-"
    return f"{mean:.2f}" + (f" ± {half:.2f}" if half > 0 else "")  # NaN > 0 is False


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _short(metric: str) -> str:
    """'acc:type/color' -> 'color'; 'acc:acc' -> 'overall'."""
    name = metric.removeprefix("acc:")
    return "overall" if name == "acc" else name.split("/", 1)[-1]


def _tested_metric(metric: str) -> str:
    """A table column's name in the significance results: 'acc:acc' -> 'overall', 'acc:type/color' -> 'type/color'."""
    name = metric.removeprefix("acc:")
    return OVERALL if name == "acc" else name


def _marked(text: str, name: str, metric: str, significance: DatasetSignificance | None) -> str:
    """Bold for the best variant of the column (with a star) and for every variant tied with it."""
    if significance is None or text == "-":
        return text
    tested = _tested_metric(metric)
    if significance.best.get(tested) == name:
        return f"**{text}** ★"
    return f"**{text}**" if name in significance.tied.get(tested, []) else text


def render_markdown(
    name: str,
    rows: list[dict[str, Any]],
    results: list[dict[str, Any]],
    targets: dict[str, float] | None = None,
    significance: dict[str, DatasetSignificance] | None = None,
) -> str:
    """The comparison table(s), one per dataset, test accuracy in percent (mean ± 95% CI over seeds); with
    `targets`, a column per target with the training seconds (mean over the seeds that reached it) until
    validation first reached it; with `significance`, the best and tied marks and a table of every pair."""
    targets = targets or {}
    significance = significance or {}
    lines = [f"## {name}", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        block = [r for r in rows if r["dataset"] == dataset]
        tested = significance.get(dataset)
        tested = tested if tested is not None and len(tested.systems) > 1 else None  # one variant: nothing to mark
        metrics = ["acc:acc"] + sorted({k for r in block for k in r if k.startswith("acc:") and k != "acc:acc"})
        header = [
            "fusion",
            *(_short(m) for m in metrics),
            "params",
            "train s",
            "train samples/s",
            "test samples/s",
            "peak MB",
            *(f"train s to {_short(metric.removeprefix('val/'))} >= {value:g}" for metric, value in targets.items()),
        ]
        device = next((c["device"] for c in results if c["dataset"] == dataset), "?")
        seeds = block[0]["seeds"]
        spread = ", mean ± 95% CI over seeds (t-distribution)" if len(seeds) > 1 else ""
        lines += [f"### {dataset} — test accuracy (%), {len(seeds)} seed(s){spread}, {device}", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in block:
            cells = [
                variant(row),
                *(_marked(_fmt_accuracy(row, m), variant(row), m, tested) for m in metrics),
                f"{row['parameters'][0] / 1e6:.2f}M",
                _fmt(row["train_time_s"], 0),
                _fmt(row["train_samples_per_s"], 0),
                _fmt(row["test_samples_per_s"], 0),
                _fmt(row["peak_memory_mb"], 0),
                *(_fmt_time(row["time_to"][metric], len(row["seeds"])) for metric in targets),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        prior = block[0].get("question_prior")
        if prior is not None:
            lines += ["", f"Question-only prior (most frequent training answer per question string): {prior:.2f}%"]
        if tested is not None:
            lines += ["", *render_pairs(dataset, tested)]
        lines.append("")
    return "\n".join(lines)


def render_pairs(dataset: str, tested: DatasetSignificance) -> list[str]:
    """The legend of the marks and a table of every pair's overall difference with its tests."""
    lines = [
        f"**Bold**: the best variant of the column (★) and every variant not significantly worse than it: paired "
        f"bootstrap over test images ({tested.resamples} resamples, each image with all its questions) of the "
        f"per-question scores, each variant's seeds drawn with replacement too, Holm-adjusted p >= {ALPHA} across the "
        f"{len(tested.comparisons)} pairs.",
        "",
        f"#### {dataset} — every pair, overall (A - B in percentage points)",
        "",
        "| A | B | A - B | 95% CI | p | Holm p | significant | McNemar mid-p |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for comparison in tested.comparisons:
        test = comparison.tests[OVERALL]
        holm_p = comparison.holm.get(OVERALL, math.nan)
        mcnemar = ", ".join(f"{_fmt_p(t.p_mid)} (seed {seed})" for seed, t in comparison.mcnemar.items()) or "-"
        lines.append(
            f"| {comparison.a} | {comparison.b} | {test.difference:+.2f} | [{test.low:+.2f}, {test.high:+.2f}] | "
            f"{_fmt_p(test.p_value)} | {_fmt_p(holm_p)} | {'yes' if comparison.significant() else 'no'} | "
            f"{mcnemar} |"
        )
    return lines


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Aggregated rows as CSV with `<metric>_mean` / `<metric>_std` columns, and `<metric>_ci95_low` /
    `<metric>_ci95_high` for accuracies."""
    columns = ["dataset", "encoder", "fusion", "seeds"]
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, tuple)})
    intervals = sorted({k for r in rows for k in r.get("ci95", {})})
    for key in keys:
        columns += [f"{key}_mean", f"{key}_std"]
    for key in intervals:
        columns += [f"{key}_ci95_low", f"{key}_ci95_high"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        values = [row["dataset"], row.get("encoder", ""), row["fusion"], " ".join(map(str, row["seeds"]))]
        for key in keys:
            values += list(row.get(key, ("", "")))
        for key in intervals:
            values += list(row.get("ci95", {}).get(key, ("", "")))
        writer.writerow(values)
    write_text(path, buffer.getvalue())


def curve_band(
    curves: list[list[dict[str, Any]]], per_epoch: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validation accuracy over seeds at every validation point: (x [P], mean [P], min [P], max [P]).

    Points of the seeds are matched by epoch (x = epoch + 1) when `per_epoch`, else by optimizer step; a point
    some seeds lack (one stopped early) is averaged over the seeds that have it.
    """
    tables = [{p["epoch"] + 1 if per_epoch else p["step"]: p["val_acc"] for p in curve} for curve in curves]
    xs = sorted({x for table in tables for x in table})
    values = np.array([[table.get(x, np.nan) for x in xs] for table in tables])  # (seeds, P)
    return np.array(xs), np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)


def plot(out: Path, rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[Path]:
    """PNG plots per dataset: accuracy by question type (error bars: 95% CI over seeds), accuracy vs parameters
    and throughput, learning curves (mean over seeds with a min-max band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        block = [r for r in rows if r["dataset"] == dataset]
        metrics = ["acc:acc"] + sorted({k for r in block for k in r if k.startswith("acc:") and k != "acc:acc"})
        figure, axes = plt.subplots(1, 3, figsize=(18, 5))
        width = 0.8 / max(len(block), 1)
        for i, row in enumerate(block):
            xs = [j + i * width for j in range(len(metrics))]
            errors = [np.nan_to_num(_half_width(row, m)) for m in metrics]  # no bar with one seed
            axes[0].bar(xs, [row[m][0] for m in metrics], width, yerr=errors, label=variant(row))
        axes[0].set_xticks(
            [j + 0.4 - width / 2 for j in range(len(metrics))], [_short(m) for m in metrics], rotation=30
        )
        axes[0].set_ylabel("test accuracy (%)")
        axes[0].set_title(f"{dataset}: accuracy by question type (bars: 95% CI over seeds)")
        axes[0].legend(fontsize=8)
        for row in block:
            axes[1].scatter(row["parameters"][0] / 1e6, row["acc:acc"][0], s=40 + row["train_samples_per_s"][0] / 20)
            axes[1].annotate(
                f"{variant(row)}\n{row['train_samples_per_s'][0]:.0f} samples/s",
                (row["parameters"][0] / 1e6, row["acc:acc"][0]),
                fontsize=8,
            )
        axes[1].set_xlabel("parameters (M)")
        axes[1].set_ylabel("test accuracy (%)")
        axes[1].set_title("accuracy vs size (marker area ~ training throughput)")
        _plot_curves(axes[2], [r for r in results if r["dataset"] == dataset])
        figure.tight_layout()
        path = out / f"{dataset}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def _plot_curves(axis: Any, cells: list[dict[str, Any]]) -> None:
    """Validation accuracy per variant: the mean over its seeds, and a band from the lowest to the highest seed."""
    curves = [c.get("curve") or [] for c in cells]
    per_epoch = all(len({p["epoch"] for p in curve}) == len(curve) for curve in curves)  # one validation per epoch
    by_variant: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        if cell.get("curve"):
            by_variant[variant(cell)].append(cell)
    for name, members in by_variant.items():
        xs, mean, low, high = curve_band([c["curve"] for c in members], per_epoch)
        seeds = f"mean of {len(members)} seeds" if len(members) > 1 else f"seed {members[0]['seed']}"
        (line,) = axis.plot(xs, mean, marker="o", label=f"{name} ({seeds})")
        if len(members) > 1:
            axis.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axis.set_xlabel("epoch" if per_epoch else "optimizer step")
    axis.set_ylabel("validation accuracy (%)")
    axis.set_title("learning curves (band: lowest to highest seed)")
    axis.legend(fontsize=8)


def significance_json(significance: dict[str, DatasetSignificance]) -> dict[str, Any]:
    """The significance results of every dataset as JSON-ready data."""
    return {
        "method": "paired bootstrap over test images (each drawn image brings all its questions) of per-question "
        "scores, each variant's seeds also drawn with replacement (two-stage); percentile 95% interval; two-sided p from the bootstrap distribution shifted "
        "to no difference; Holm's correction across the pairs of a dataset, per metric; McNemar's exact and "
        "mid-p tests per shared seed where every score is 0 or 1; differences in percentage points (a - b)",
        "alpha": ALPHA,
        "datasets": {dataset: tested.to_json() for dataset, tested in significance.items()},
    }


def write_reports(
    out: Path,
    name: str,
    results: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    targets: dict[str, float] | None = None,
    significance: dict[str, DatasetSignificance] | None = None,
) -> None:
    """results.json (cells + aggregate + significance), results.csv, results.md, one PNG per dataset and, with
    `significance`, one significance matrix PNG per dataset (`<dataset>_significance.png`)."""
    significance = significance or {}
    write_json(
        out / "results.json",
        {
            "name": name,
            "targets": targets or {},
            "cells": results,
            "aggregate": rows,
            "significance": significance_json(significance),
        },
    )
    write_csv(out / "results.csv", rows)
    write_text(out / "results.md", render_markdown(name, rows, results, targets, significance) + "\n")
    plot(out, rows, results)
    for dataset, tested in significance.items():
        if len(tested.systems) > 1:
            plot_significance(out / f"{dataset}_significance.png", dataset, tested)
