"""Checkpoints given to `vqa fit/test --ckpt_path` are loaded without unpickling code, rejected with a clear
message when they belong to another model, and `last` / `best` are found across runs."""

from __future__ import annotations

import os
import pickle
import re
import zipfile

import pytest
import torch

from tests.conftest import TINY_CONFIG
from vqa.cli import main


@pytest.fixture()
def run_args(tmp_path):
    """A tiny run whose checkpoints land under tmp_path/runs (a logger version per run, as with the base configs)."""
    return [
        "-c",
        str(TINY_CONFIG),
        f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
        f"--trainer.default_root_dir={tmp_path / 'runs'}",
        "--trainer.enable_checkpointing=true",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={tmp_path / 'runs'}",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.monitor=val/acc",
        "--trainer.callbacks.mode=max",
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.filename=last",
    ]


EARLY = [
    "--model.fusion=fusion.EarlyFusion",
    "--model.fusion.init_args.out_dim=32",
    "--model.fusion.init_args.dim=32",
    "--model.fusion.init_args.num_heads=2",
    "--model.fusion.init_args.num_layers=1",
]


class Payload:
    """Unpickling this runs a command: what a malicious checkpoint would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_with_code_is_refused_not_run(run_args, tmp_path, capsys):
    evil = tmp_path / "evil.ckpt"
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "payload": Payload(str(marker))}, evil)
    assert zipfile.is_zipfile(evil)
    with pytest.raises(SystemExit) as info:
        main(["test", *run_args, f"--ckpt_path={evil}"])
    assert info.value.code == 2 and not marker.exists()
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: cannot read checkpoint") and "weights_only=True" in error
    with pytest.raises(pickle.UnpicklingError):  # what Lightning would meet, had we not checked first
        torch.load(evil, weights_only=True)


def test_last_finds_this_configuration_across_runs_and_others_are_refused(run_args, tmp_path, capsys, caplog):
    main(["fit", *run_args, "--trainer.max_epochs=1"])  # late fusion (the tiny config's)
    main(["fit", *run_args, *EARLY, "--trainer.max_epochs=1"])  # another model, written later
    caplog.clear()
    # Resuming the late-fusion run: Lightning alone would look only in the new run's folder and start over.
    main(["fit", *run_args, "--trainer.max_epochs=2", "--ckpt_path=last"])
    assert re.search(
        r"--ckpt_path last: using \S*version_0/checkpoints/last.ckpt \(epoch 0, global step 12\)", caplog.text
    ), caplog.text
    # the resumed run kept writing next to the checkpoint it resumed
    resumed = torch.load(tmp_path / "runs/lightning_logs/version_0/checkpoints/last.ckpt", weights_only=True)
    assert resumed["global_step"] == 24
    assert not (tmp_path / "runs/lightning_logs/version_2/checkpoints").exists()

    caplog.clear()
    main(["test", *run_args, *EARLY, "--ckpt_path=best"])
    assert re.search(r"--ckpt_path best: using \S*version_1/checkpoints/epoch=0-step=12.ckpt", caplog.text), caplog.text
    capsys.readouterr()
    late = tmp_path / "runs/lightning_logs/version_0/checkpoints/last.ckpt"
    with pytest.raises(SystemExit):
        main(["test", *run_args, *EARLY, f"--ckpt_path={late}"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "does not fit the configured model: its architecture differs: fusion" in error, error
    assert 'fusion.name: "late" (checkpoint) vs "early" (configured)' in error, error


def test_nothing_to_resume_or_test(run_args, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["test", *run_args, "--ckpt_path=best"])
    assert "error: --ckpt_path best: no checkpoint of this configuration under" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="--ckpt_path last: no checkpoint of this configuration .* from scratch"):
        main(["fit", *run_args, "--trainer.max_steps=2", "--ckpt_path=last"])


def test_best_for_evaluation_ignores_training_settings_but_not_the_network(run_args, tmp_path, capsys, caplog):
    main(["fit", *run_args, "--trainer.max_epochs=1"])  # warmup_steps 2 (the tiny config's)
    best = r"--ckpt_path best: using \S*version_0/checkpoints/epoch=0-step=12.ckpt \(epoch 0, global step 12\)"
    # A training setting does not change what the network computes: the best checkpoint is found and tested.
    for stage in ("test", "validate"):
        caplog.clear()
        main([stage, *run_args, "--ckpt_path=best", "--model.warmup_steps=7", "--model.lr=0.5"])
        assert re.search(best, caplog.text), caplog.text
    # Another fusion width is another network: refused, naming the difference.
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["test", *run_args, "--ckpt_path=best", "--model.fusion.init_args.out_dim=48"])
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: --ckpt_path best: no checkpoint of this configuration under"), error
    assert "its architecture differs: fusion.init_args.out_dim: 32 (checkpoint) vs 48 (configured)" in error, error
    # Resuming stays strict: a run with another schedule is another run, not the one to continue.
    with pytest.warns(UserWarning, match=r"no checkpoint of this configuration .* from scratch.*warmup_steps"):
        main(["fit", *run_args, "--trainer.max_steps=2", "--ckpt_path=last", "--model.warmup_steps=7"])
