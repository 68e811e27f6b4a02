"""Lightning DDP on 2 CPU processes (gloo): each process trains on its own batches and both end with identical
weights, evaluation sees every question exactly once, the metrics equal a single-process evaluation of the same
weights, a NaN loss on one process stops both at the same step with the same report, and a split with fewer
questions than processes is refused on both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from tests.conftest import REPO
from tests.reliability.ddp_run import datamodule, weights_digest
from tests.training.test_training import tiny_module
from vqa.data.dataset import ImageGroupedBatchSampler, SplitBatchSampler

SCRIPT = Path(__file__).with_name("ddp_run.py")


@pytest.mark.parametrize("num_questions, replicas", [(13, 2), (13, 3), (64, 2), (3, 3)])
def test_evaluation_split_has_no_repeats_and_no_gaps(num_questions, replicas):
    shares = [
        [i for batch in SplitBatchSampler(num_questions, 4, replicas, rank) for i in batch] for rank in range(replicas)
    ]
    assert sorted(i for share in shares for i in share) == list(range(num_questions))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


@pytest.mark.parametrize("num_questions, batch_size, replicas", [(192, 30, 2), (50, 8, 3), (10, 4, 4)])
def test_training_batches_are_disjoint_and_steps_equal(num_questions, batch_size, replicas):
    image_index = torch.arange(num_questions) // 4
    samplers = [
        ImageGroupedBatchSampler(image_index, batch_size, seed=3, num_replicas=replicas, rank=r)
        for r in range(replicas)
    ]
    batches = [list(s) for s in samplers]
    assert len({len(b) for b in batches}) == 1 == len({len(s) for s in samplers})
    assert all(len(b) == len(samplers[0]) for b in batches)
    counts = Counter(i for rank in batches for batch in rank for i in batch)
    assert set(counts) == set(range(num_questions))
    total = -(-num_questions // batch_size)
    repeated = len(samplers[0]) * replicas - total  # batches served twice so that every process steps equally
    assert sum(c - 1 for c in counts.values()) <= repeated * batch_size


def test_two_process_ddp_matches_one_process(tmp_path):
    """One launch of 2 processes (~35 s on 2 busy CPU cores, mostly starting them) checks every DDP claim."""
    out, data = tmp_path / "out", tmp_path / "data"
    out.mkdir()
    # REPO first, keeping what the run put on PYTHONPATH (the --no-network guard for child processes)
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), str(data)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    seen = [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]

    reference = datamodule(str(data))
    sizes = {
        "train": len(reference.dataset("train")),
        "val": len(reference.dataset("val")),
        "test": len(reference.dataset("test")),
    }
    assert sizes == {"train": 96, "val": 13, "test": 11}  # odd: padding would have repeated a question
    # Training: disjoint batches, 5 steps on each process, every question seen once.
    train = [[i for batch in s["train"] for i in batch] for s in seen]
    assert len(seen[0]["train"]) == len(seen[1]["train"]) == 5
    assert sorted(train[0] + train[1]) == list(range(sizes["train"]))
    # Evaluation: every question exactly once, across the processes.
    for stage, split in (("fit/val", "val"), ("validate/val", "val"), ("test", "test"), ("predict", "test")):
        counts = Counter(i for s in seen for batch in s[stage] for i in batch)
        assert sorted(counts) == list(range(sizes[split])) and set(counts.values()) == {1}, stage
    written = [json.loads(line) for rank in (0, 1) for line in (out / f"predictions.rank{rank}.jsonl").open()]
    assert sorted(line["question_id"] for line in written) == sorted(
        r.meta["question_id"] for r in reference.dataset("test").records
    )

    # The same weights evaluated by one process give the same metrics.
    module = tiny_module(reference)
    checkpoint = torch.load(out / "model.ckpt", weights_only=True)
    module.load_state_dict(checkpoint["state_dict"])
    single = pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    for stage, evaluate in (("validate", single.validate), ("test", single.test)):
        expected = evaluate(module, datamodule=reference, verbose=False)[0]
        assert expected.keys() == metrics[stage].keys()
        for key, value in expected.items():
            assert metrics[stage][key] == pytest.approx(value, rel=1e-5, abs=1e-6), (stage, key)
    assert metrics["validate"]["val/acc"] == pytest.approx(metrics["fit"]["val/acc"], abs=1e-6)

    # Both processes ended training with bit-identical weights, the ones saved.
    assert seen[0]["weights"] == seen[1]["weights"] == weights_digest(module)

    # A NaN loss on process 1 only (its second batch): both processes stop at that step, before its optimizer
    # step, with the same report naming process 1.
    stops = [s["nonfinite"] for s in seen]
    assert stops[0] == stops[1], stops
    assert stops[0]["global_step"] == 1
    assert stops[0]["error"].startswith("process 1: the training loss is nan at epoch 0, global step 1;"), stops[0]

    # A split with fewer questions than processes is refused on both, with the message the docs promise.
    for s in seen:
        assert "the val split has 1 question(s), fewer than the 2 processes" in (s["too_few_questions"] or "")
