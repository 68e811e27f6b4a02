"""The significance matrix of a dataset: every pair's accuracy difference, with the not significant ones hatched."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vqa.benchmarks.comparisons import ALPHA, OVERALL, DatasetSignificance
from vqa.io import atomic_path


def difference_matrix(tested: DatasetSignificance, metric: str = OVERALL) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Systems sorted by accuracy (best first), and row - column differences [K, K] (percentage points) with
    their Holm-adjusted p-values [K, K]; NaN on the diagonal."""
    systems = sorted(tested.systems, key=lambda s: -s.accuracy(metric))
    names = [s.name for s in systems]
    differences = np.full((len(names), len(names)), np.nan)
    p_values = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            found = tested.comparison(a, b) if i != j else None
            if found is not None and metric in found[0].tests:
                comparison, sign = found
                differences[i, j] = sign * comparison.tests[metric].difference
                p_values[i, j] = comparison.holm.get(metric, math.nan)
    return names, differences, p_values


def plot_significance(path: Path, dataset: str, tested: DatasetSignificance, metric: str = OVERALL) -> Path:
    """Write the K x K matrix of row - column accuracy differences as a PNG (atomically).

    Cells are coloured by the difference (red: the row is better) and annotated with it and the Holm-adjusted
    p-value; cells whose difference is not significant (Holm p >= 0.05) are washed out and hatched.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    names, differences, p_values = difference_matrix(tested, metric)
    size = len(names)
    limit = max(float(np.nanmax(np.abs(differences))), 1e-9) if size > 1 else 1.0
    figure, axis = plt.subplots(figsize=(2.0 + 1.1 * size, 1.5 + 0.9 * size))
    image = axis.imshow(differences, cmap="RdBu_r", vmin=-limit, vmax=limit)
    font = 9 if size <= 8 else 7
    for i in range(size):
        for j in range(size):
            if i == j:
                axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.85", edgecolor="none"))
                continue
            significant = p_values[i, j] < ALPHA
            if not significant:  # wash out, then hatch: visible at a glance, also in greyscale
                axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white", alpha=0.6, edgecolor="none"))
                axis.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.6", lw=0))
            p_text = "p<0.001" if p_values[i, j] < 0.001 else f"p={p_values[i, j]:.3f}"
            label = f"{differences[i, j]:+.2f}\n{p_text}" + ("" if significant else "\nn.s.")
            dark = significant and abs(differences[i, j]) > 0.6 * limit  # white text on the darkest colours
            axis.text(
                j,
                i,
                label,
                ha="center",
                va="center",
                fontsize=font,
                color="white" if dark else "black",
                weight="bold" if significant else "normal",
            )
    accuracy = {s.name: s.accuracy(metric) for s in tested.systems}
    labels = [f"{name} ({accuracy[name]:.1f}%)" for name in names]
    axis.set_xticks(range(size), labels, rotation=40, ha="right")
    axis.set_yticks(range(size), labels)
    axis.set_xlabel("column")
    axis.set_ylabel("row")
    scope = "overall" if metric == OVERALL else metric
    axis.set_title(
        f"{dataset} ({scope}): row - column test accuracy (percentage points)\n"
        f"paired bootstrap over test images and seeds, Holm-adjusted; hatched = not significant (p >= {ALPHA})",
        fontsize=10,
    )
    figure.colorbar(image, ax=axis, shrink=0.8, label="row - column (pp)")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
    plt.close(figure)
    return path
