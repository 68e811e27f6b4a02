"""Drawing question-to-image attention over an image (matplotlib, Agg canvas: no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from vqa.io import atomic_path

# Larger images are shrunk for display only; the heatmap is stretched over the whole image either way.
MAX_DISPLAY_SIDE = 800


def draw_attention(
    image: Image.Image,
    attention: np.ndarray,
    question: str,
    answers: Sequence[tuple[str, float]],
    out: str | os.PathLike,
) -> Path:
    """Save a PNG of `image` with `attention` as a heatmap overlay; the question and answers form the title.

    Args:
        image: the RGB image the model was asked about (any size).
        attention: [rows, cols] weights over the image-token grid, laid evenly over the whole image
            (the model sees the image resized to its training size, without cropping).
        question: the question asked.
        answers: (answer, probability) pairs, best first.
        out: the PNG file to write (atomically).

    Returns:
        the path written.
    """
    if max(image.size) > MAX_DISPLAY_SIDE:
        image = image.copy()
        image.thumbnail((MAX_DISPLAY_SIDE, MAX_DISPLAY_SIDE))
    width, height = image.size
    figure = Figure(figsize=(5.5, 5.5 * height / width + 0.9), dpi=100)
    FigureCanvasAgg(figure)  # attaches the Agg canvas; pyplot and its global backend are never touched
    axes = figure.add_subplot()
    axes.imshow(np.asarray(image))
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)  # the same pixel box as the image itself
    # Colours span the weights' own range so that small differences show; the colour bar gives the true values.
    low, high = float(attention.min()), float(attention.max())
    overlay = axes.imshow(
        attention,
        cmap="turbo",
        alpha=0.45,
        extent=extent,
        interpolation="bilinear",
        vmin=low,
        vmax=max(high, low + 1e-6),
    )
    figure.colorbar(overlay, ax=axes, fraction=0.046, pad=0.04, label="attention weight")
    ranked = " · ".join(f"{answer} ({probability:.0%})" for answer, probability in answers)
    axes.set_title(f"{question}\n{ranked}", fontsize=10)
    axes.set_axis_off()
    path = Path(out)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", bbox_inches="tight")
    return path
