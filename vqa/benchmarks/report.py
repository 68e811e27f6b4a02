"""Benchmark reports: aggregate cells over seeds, write JSON / CSV / Markdown tables and PNG plots."""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from vqa.io import atomic_path, write_json, write_text

NUMERIC = ("parameters", "train_time_s", "train_samples_per_s", "test_samples_per_s", "peak_memory_mb")


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(results: list[dict[str, Any]], targets: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """One row per (dataset, encoder, fusion): mean and std over seeds of accuracy (overall, per type) and costs,
    and the training time to each validation target."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[(result["dataset"], result.get("encoder", ""), result["fusion"])].append(result)
    rows = []
    for (dataset, encoder, fusion), cells in groups.items():
        row: dict[str, Any] = {
            "dataset": dataset,
            "encoder": encoder,
            "fusion": fusion,
            "seeds": [c["seed"] for c in cells],
        }
        for metric in sorted({k for c in cells for k in c["test"]}):
            row[f"acc:{metric}"] = _mean_std([c["test"].get(metric, float("nan")) for c in cells])
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


def variant(row: dict[str, Any]) -> str:
    """How a row or cell is named in tables and plots: its fusion, and its encoder when the grid has several."""
    encoder = row.get("encoder", "")
    return f"{row['fusion']} + {encoder}" if encoder else row["fusion"]


def _fmt(value: tuple[float, float], digits: int = 2) -> str:
    mean, std = value
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std else "")


def _short(metric: str) -> str:
    """'acc:type/color' -> 'color'; 'acc:acc' -> 'overall'."""
    name = metric.removeprefix("acc:")
    return "overall" if name == "acc" else name.split("/", 1)[-1]


def render_markdown(
    name: str, rows: list[dict[str, Any]], results: list[dict[str, Any]], targets: dict[str, float] | None = None
) -> str:
    """The comparison table(s), one per dataset, test accuracy in percent; with `targets`, a column per target
    with the training seconds (mean over the seeds that reached it) until validation first reached it."""
    targets = targets or {}
    lines = [f"## {name}", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        block = [r for r in rows if r["dataset"] == dataset]
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
        lines += [f"### {dataset} — test accuracy (%), {len(seeds)} seed(s), {device}", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in block:
            cells = [
                variant(row),
                *(_fmt(row[m]) for m in metrics),
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
        lines.append("")
    return "\n".join(lines)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Aggregated rows as CSV with `<metric>_mean` / `<metric>_std` columns."""
    columns = ["dataset", "encoder", "fusion", "seeds"]
    keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, tuple)})
    for key in keys:
        columns += [f"{key}_mean", f"{key}_std"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        values = [row["dataset"], row.get("encoder", ""), row["fusion"], " ".join(map(str, row["seeds"]))]
        for key in keys:
            values += list(row.get(key, ("", "")))
        writer.writerow(values)
    write_text(path, buffer.getvalue())


def plot(out: Path, rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[Path]:
    """PNG plots per dataset: accuracy by question type, accuracy vs parameters and throughput, learning curves."""
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
            axes[0].bar(xs, [row[m][0] for m in metrics], width, yerr=[row[m][1] for m in metrics], label=variant(row))
        axes[0].set_xticks(
            [j + 0.4 - width / 2 for j in range(len(metrics))], [_short(m) for m in metrics], rotation=30
        )
        axes[0].set_ylabel("test accuracy (%)")
        axes[0].set_title(f"{dataset}: accuracy by question type")
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
        for result in (r for r in results if r["dataset"] == dataset):
            curve = result.get("curve") or []
            if curve:
                axes[2].plot(
                    [p["epoch"] + 1 for p in curve],
                    [p["val_acc"] for p in curve],
                    marker="o",
                    label=f"{variant(result)} (seed {result['seed']})",
                )
        axes[2].set_xlabel("epoch")
        axes[2].set_ylabel("validation accuracy (%)")
        axes[2].set_title("learning curves")
        axes[2].legend(fontsize=8)
        figure.tight_layout()
        path = out / f"{dataset}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def write_reports(
    out: Path,
    name: str,
    results: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    targets: dict[str, float] | None = None,
) -> None:
    """results.json (cells + aggregate), results.csv, results.md and one PNG per dataset."""
    write_json(out / "results.json", {"name": name, "targets": targets or {}, "cells": results, "aggregate": rows})
    write_csv(out / "results.csv", rows)
    write_text(out / "results.md", render_markdown(name, rows, results, targets) + "\n")
    plot(out, rows, results)
