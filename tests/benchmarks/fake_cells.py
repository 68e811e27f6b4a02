"""Finished-cell results as `vqa benchmark` writes them (cells/<key>.json), made up for report and plot tests."""

from __future__ import annotations

from typing import Any


def fake_cell(dataset: str, fusion: str, seed: int, test: dict[str, float], curve: list[dict], **extra: Any) -> dict:
    """One cell's result: its test accuracies and validation curve, fixed costs (1,000 parameters, 1 s of
    training, 10 / 20 samples/s, 5 MB), a CPU device and a 30% question-only prior; `extra` adds or replaces keys."""
    return {
        "dataset": dataset,
        "fusion": fusion,
        "seed": seed,
        "test": test,
        "parameters": 1000,
        "train_time_s": 1.0,
        "train_samples_per_s": 10.0,
        "test_samples_per_s": 20.0,
        "peak_memory_mb": 5.0,
        "device": "cpu",
        "curve": curve,
        "question_prior": {"overall": 30.0},
        **extra,
    }
