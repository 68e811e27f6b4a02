"""`vqa fit --ckpt_path last` after a kill in the middle of an epoch reaches exactly what an uninterrupted run
reaches: the same weights, the same per-step losses after the resume and the same validation metrics.

The run to kill is a separate process (SIGKILL at step 18 of 24, two steps after the newest step checkpoint);
the uninterrupted reference and the resumed run go through the same `vqa fit` entry point in this process."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from tests.conftest import REPO, TINY_CONFIG
from vqa.cli import main
from vqa.data import SortOfClevr

STEPS_PER_EPOCH = 12  # 24 training images x 8 questions / batch 16
KILL_BEFORE = 18  # epoch 1, batch 6; the newest step checkpoint is then step 16


def write_config(path: Path, root: Path, pause: Path | None = None) -> Path:
    pause_callback = (
        f"""    - class_path: tests.reliability.resume_helpers.PauseAtStep
      init_args: {{step: {KILL_BEFORE}, marker: "{pause}"}}
"""
        if pause
        else ""
    )
    path.write_text(f"""
trainer:
  max_epochs: 2
  deterministic: true
  log_every_n_steps: 1
  enable_checkpointing: true
  default_root_dir: {root}
  logger:
    class_path: lightning.pytorch.loggers.CSVLogger
    init_args: {{save_dir: "{root}"}}
  plugins:
    - class_path: vqa.training.checkpoint_io.AtomicCheckpointIO
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{monitor: val/acc, mode: max, filename: "best-{{epoch}}"}}
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{filename: last}}
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {{every_n_train_steps: 4, filename: "step-{{step}}", auto_insert_metric_name: false}}
{pause_callback}""")
    return path


def fit_args(config: Path, data: Path, *extra: str) -> list[str]:
    return ["fit", "-c", str(TINY_CONFIG), "-c", str(config), f"--data.source.init_args.cache_dir={data}", *extra]


def fit_here(args: list[str]) -> None:
    """`vqa fit` in this process (one torch thread, as the subprocess), leaving the global torch flags as found."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        main(args)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def logged(root: Path) -> dict[tuple[str, int], str]:
    """(metric, step) -> value as written, from every metrics.csv under `root`."""
    values = {}
    for path in sorted(root.rglob("metrics.csv")):
        with open(path, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for key, value in row.items():
                    if value and key not in ("epoch", "step"):
                        values[(key, int(row["step"]))] = value
    return values


def test_killed_mid_epoch_then_resumed_equals_uninterrupted(tmp_path, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative folders, as in the shipped configs (runs/<dataset>)
    tmp_path = Path(".")
    data = tmp_path / "data"
    SortOfClevr(num_images=40, test_images=8, val_images=8, questions_per_family=4, cache_dir=str(data)).read("train")
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
    marker = tmp_path / "paused"
    # REPO first, keeping what the run put on PYTHONPATH (the --no-network guard for child processes)
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "victim.log", "w")
    victim = subprocess.Popen(  # a separate process, to be killed with SIGKILL mid-epoch
        [sys.executable, "-m", "vqa", *fit_args(write_config(tmp_path / "paused.yaml", interrupted, marker), data)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        fit_here(fit_args(write_config(tmp_path / "b.yaml", uninterrupted), data))  # meanwhile, the reference
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert victim.poll() is None and time.monotonic() < deadline, (tmp_path / "victim.log").read_text()[-3000:]
            time.sleep(0.1)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        log.close()
    assert victim.returncode == -signal.SIGKILL
    checkpoints = sorted(p.name for p in interrupted.rglob("*.ckpt"))
    assert checkpoints == ["best-epoch=0.ckpt", "last.ckpt", "step-16.ckpt"], checkpoints

    caplog.clear()
    fit_here(fit_args(write_config(tmp_path / "a.yaml", interrupted), data, "--ckpt_path=last"))
    assert "step-16.ckpt (epoch 1, global step 16)" in caplog.text, caplog.text

    # The resumed run wrote into the same folder and kept its checkpoint tracking: the same files as the
    # uninterrupted run, no "last-v1.ckpt", plus the checkpoint it resumed from (Lightning keeps that one).
    written = sorted(p.name for p in interrupted.rglob("*.ckpt"))
    assert written == sorted([*(p.name for p in uninterrupted.rglob("*.ckpt")), "step-16.ckpt"]), written
    [final] = [p for p in interrupted.rglob("last.ckpt")]
    [expected] = [p for p in uninterrupted.rglob("last.ckpt")]
    final = torch.load(final, weights_only=True)
    expected = torch.load(expected, weights_only=True)
    assert final["global_step"] == expected["global_step"] == 2 * STEPS_PER_EPOCH
    assert final["state_dict"].keys() == expected["state_dict"].keys()
    for key, value in expected["state_dict"].items():
        assert torch.equal(final["state_dict"][key], value), key  # bit for bit
    optimizer_states = zip(
        final["optimizer_states"][0]["state"].values(), expected["optimizer_states"][0]["state"].values()
    )
    for got, want in optimizer_states:
        assert all(torch.equal(got[k], want[k]) for k in want)

    after, before = logged(interrupted), logged(uninterrupted)
    resumed_steps = [("train/loss_step", step) for step in range(16, 2 * STEPS_PER_EPOCH)]
    final_epoch = [(key, step) for key, step in before if key.startswith("val/") and step == 2 * STEPS_PER_EPOCH - 1]
    assert len(final_epoch) >= 4, before  # val/loss, val/acc and per-type accuracies
    for key in resumed_steps + final_epoch:
        assert after[key] == before[key], key
