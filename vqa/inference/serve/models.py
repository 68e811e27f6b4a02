"""The models a server answers with: each a `Predictor`, its `Batcher`, and what `GET /v1/models` says of it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqa.errors import VQAError
from vqa.inference.predictor import Predictor, load
from vqa.inference.serve.batcher import Batcher


class ModelSpecError(VQAError, ValueError):
    """A `--model` argument that does not name a model well (empty name, two models of the same name)."""


@dataclass
class ServedModel:
    """One loaded model.

    Attributes:
        name: how requests choose it (`model` form field).
        path: the bundle directory or checkpoint it was loaded from.
        predictor: answers its questions.
        batcher: groups its questions into `predictor.answer_batch` calls, on its own worker thread.
    """

    name: str
    path: Path
    predictor: Predictor
    batcher: Batcher

    @property
    def explains(self) -> bool:
        """Whether `explain` can draw this model's attention (its fusion exposes question-to-image attention
        and its image tokens lie on a grid)."""
        model = self.predictor.model
        grid = model.image_encoder.grid_shape(tuple(self.predictor.image_size))
        return bool(model.fusion.exposes_attention) and grid is not None

    def describe(self) -> dict[str, Any]:
        """What `GET /v1/models` reports: architecture, answers, and benchmark accuracies where known."""
        model = self.predictor.model
        return {
            "name": self.name,
            "fusion": model.fusion.name,
            "fusion_family": model.fusion.family,
            "image_encoder": model.image_encoder.name,
            "text_encoder": model.text_encoder.name,
            "num_answers": len(self.predictor.answers),
            "image_size": list(self.predictor.image_size),
            "parameters": sum(p.numel() for p in model.parameters()),
            "explains": self.explains,
            "benchmark": benchmark_record(self.path),
        }


def benchmark_record(path: Path) -> dict[str, Any] | None:
    """The test accuracies of a bundle written by `vqa benchmark`, read from its cell's result file.

    A benchmark run keeps each cell's bundle at `cells/<key>/bundle` and the cell's results at `cells/<key>.json`;
    any other model has no record (None).

    Returns:
        {"dataset", "seed", "test": {metric: accuracy %}} or None.
    """
    record_file = path.parent.with_suffix(".json")
    if path.name != "bundle" or not record_file.is_file():
        return None
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if (
        not isinstance(record, dict)
        or record.get("key") != path.parent.name
        or not isinstance(record.get("test"), dict)
    ):
        return None
    return {"dataset": record.get("dataset"), "seed": record.get("seed"), "test": record["test"]}


def parse_model_spec(spec: str) -> tuple[str, Path]:
    """`NAME=PATH` or `PATH` -> (name, path). Without a name, a bundle is named after its directory (after the
    cell folder for a benchmark's `cells/<key>/bundle`) and a checkpoint after its file stem."""
    name, separator, path = spec.partition("=")
    if separator and name and not os.path.exists(spec):
        return name.strip(), Path(path)
    if separator and not name:
        raise ModelSpecError(f"--model {spec!r}: the name before '=' is empty; write NAME=PATH or just PATH")
    location = Path(spec)
    if location.name == "bundle" and location.parent.name:
        return location.parent.name, location
    return (location.stem if location.is_file() else location.name) or str(location), location


def load_models(
    specs: list[str], *, device: str | None, max_batch: int, window_s: float, max_queue: int
) -> list[ServedModel]:
    """Load every `--model` (see `parse_model_spec`) and give each its batcher (started later, in the server).

    Raises:
        ModelSpecError: two models would have the same name.
        BundleError, CheckpointError: a model cannot be read (the message names the file).
    """
    if not specs:
        raise ModelSpecError("give at least one --model (a bundle directory from `vqa export`, or a checkpoint)")
    served: list[ServedModel] = []
    for spec in specs:
        name, path = parse_model_spec(spec)
        if any(other.name == name for other in served):
            raise ModelSpecError(f"two models are named {name!r}; name them apart with --model NAME=PATH")
        predictor = load(path, device=device, batch_size=max(64, max_batch))
        batcher = Batcher(
            predictor.answer_batch, max_batch=max_batch, window_s=window_s, max_queue=max_queue, name=name
        )
        served.append(ServedModel(name, path, predictor, batcher))
    return served
