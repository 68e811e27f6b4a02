"""The VQA fusion toolkit: encoders, data, models, training, metrics, benchmarks and inference."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from vqa.inference.predictor import Predictor


def load(path: str | os.PathLike, **kwargs) -> Predictor:
    """Load a trained model to answer questions: a training checkpoint (`.ckpt`) or a bundle directory written by
    `vqa export`. Keyword arguments (`device`, `image_size`, `batch_size`) go to `vqa.inference.predictor.Predictor`."""
    from vqa.inference.predictor import load as load_predictor  # imported here so `import vqa` stays light

    return load_predictor(path, **kwargs)
