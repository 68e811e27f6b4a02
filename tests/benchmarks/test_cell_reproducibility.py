"""A benchmark cell run twice with the same seed gives the identical accuracy and per-question results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import CONFIGS, REPO, TINY_CONFIG
from vqa.benchmarks.cell import run
from vqa.benchmarks.predictions import FILE_NAME, read_predictions


@pytest.fixture()
def deterministic_mode_restored():
    """A cell switches the process to deterministic kernels (its own process, normally): undo it for the others."""
    deterministic = torch.utils.deterministic
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.mkldnn.deterministic,
        deterministic.fill_uninitialized_memory,
    )
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.mkldnn.deterministic = before[1]
    deterministic.fill_uninitialized_memory = before[2]


def spec(tmp_path: Path, name: str, cell: dict, overrides: list[str]) -> dict:
    cell_dir = tmp_path / "results" / "cells" / name
    return {
        "cell": cell,
        "key": name,
        "overrides": overrides,
        "cell_dir": str(cell_dir),
        "result_file": str(cell_dir.parent / f"{name}.json"),
    }


def tiny_cell(seed: int) -> dict:
    return {
        "dataset": "tiny",
        "fusion": "late",
        "seed": seed,
        "dataset_config": str(TINY_CONFIG),
        "fusion_config": str(CONFIGS / "fusion" / "late.yaml"),
    }


def test_a_cell_rerun_gives_the_identical_accuracy_and_per_question_file(tmp_path, deterministic_mode_restored):
    overrides = [
        f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
        "--model.fusion.init_args.out_dim=16",
        "--trainer.enable_checkpointing=true",
        "--trainer.max_epochs=2",
        "--checkpoints.last=false",
    ]
    first = run(spec(tmp_path, "first", tiny_cell(0), overrides))
    again = run(spec(tmp_path, "again", tiny_cell(0), overrides))
    other_seed = run(spec(tmp_path, "other", tiny_cell(1), overrides))
    assert first["deterministic"] is True  # the CPU path switched to deterministic kernels
    assert first["test"] == again["test"] and first["test_loss"] == again["test_loss"]  # bit for bit
    assert [p["val_loss"] for p in first["curve"]] == [p["val_loss"] for p in again["curve"]]
    files = [tmp_path / "results" / "cells" / name / FILE_NAME for name in ("first", "again", "other")]
    assert files[0].read_bytes() == files[1].read_bytes()
    assert files[0].read_bytes() != files[2].read_bytes()  # another seed: another model (the check can fail)
    assert other_seed["test_loss"] != first["test_loss"]
    # the file holds every test question, and its mean score is the cell's test accuracy
    results = read_predictions(files[0])
    assert len(results.scores) == 64 and set(results.types) == {"family", "type"}
    assert results.accuracy == pytest.approx(first["test"]["acc"], abs=1e-4)
    assert first["predictions"] == f"cells/first/{FILE_NAME}"


@pytest.mark.slow
def test_two_processes_with_the_same_seed_agree_bit_for_bit(tmp_path):
    """The case that used to drift (without deterministic kernels three such processes gave three different
    validation losses): Sort-of-CLEVR's config widths, 20 questions per image, two threads and a loader worker,
    each cell in its own process as the grid runs them (a few minutes per process on 2 cores)."""
    cell = {
        "dataset": "sort_of_clevr",
        "fusion": "late",
        "seed": 0,
        "dataset_config": str(CONFIGS / "sort_of_clevr.yaml"),
        "fusion_config": str(CONFIGS / "fusion" / "late.yaml"),
    }
    overrides = [
        f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
        "--data.source.init_args.num_images=500",
        "--data.source.init_args.val_images=50",
        "--data.source.init_args.test_images=50",
        "--data.batch_size=64",
        "--data.num_workers=1",
        "--trainer.max_epochs=1",
        "--model.warmup_steps=20",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "2"}
    results = []
    for name in ("first", "again"):
        job = spec(tmp_path, name, cell, overrides)
        done = subprocess.run(
            [sys.executable, "-m", "vqa.benchmarks.cell", json.dumps(job)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results.append(json.loads(Path(job["result_file"]).read_text()))
    first, again = results
    assert first["device"] == "cpu x2" and first["deterministic"] is True
    assert first["test"] == again["test"] and first["test_loss"] == again["test_loss"]
    assert [p["val_loss"] for p in first["curve"]] == [p["val_loss"] for p in again["curve"]]
    files = [tmp_path / "results" / "cells" / name / FILE_NAME for name in ("first", "again")]
    assert files[0].read_bytes() == files[1].read_bytes()
