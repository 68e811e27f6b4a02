"""`vqa benchmark`: a tiny grid runs end to end, writes its reports, and resumes after a kill."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONFIGS, REPO, TINY_CONFIG
from vqa.benchmarks.grid import main as benchmark_main
from vqa.errors import VQAError


def write_suite(tmp_path: Path, fusions: list[str], seeds: list[int]) -> Path:
    suite = {
        "name": "tiny",
        "datasets": {"tiny": str(TINY_CONFIG)},
        "fusions": {name: str(CONFIGS / "fusion" / f"{name}.yaml") for name in fusions},
        "seeds": seeds,
        "overrides": [
            f"--data.source.init_args.cache_dir={tmp_path / 'cache'}",
            "--model.fusion.init_args.out_dim=16",
            "--trainer.enable_checkpointing=true",
            "--trainer.max_epochs=2",
            "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
            "--trainer.callbacks.monitor=val/acc",
            "--trainer.callbacks.mode=max",
        ],
        "output_dir": str(tmp_path / "results"),
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))  # keep the grid order: late runs first
    return path


def test_grid_writes_tables_plots_and_per_seed_aggregates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = benchmark_main(["-c", str(write_suite(tmp_path, ["late"], [0, 1]))])
    assert [r["seed"] for r in results] == [0, 1]
    out = tmp_path / "results"
    report = json.loads((out / "results.json").read_text())
    row = report["aggregate"][0]
    accuracies = [r["test"]["acc"] for r in results]
    assert row["acc:acc"][0] == pytest.approx(sum(accuracies) / 2)
    assert {"acc:family/relational", "acc:type/closest"} <= set(row)
    for result in results:
        assert result["parameters"] > 0 and result["train_samples_per_s"] > 0 and result["curve"]
        assert Path(result["checkpoint"]).exists() and (Path(result["bundle"]) / "model.safetensors").exists()
        assert (out / result["predictions"]).exists() and result["deterministic"] is True  # per-question results
    assert report["aggregate"][0]["ci95"]["acc:acc"][0] <= row["acc:acc"][0]  # the 95% interval over the 2 seeds
    assert report["significance"]["datasets"]["tiny"]["variants"]["late"]["seeds"] == [0, 1]
    table = (out / "results.md").read_text()
    assert "| late |" in table and "relational" in table and "Question-only prior" in table
    assert (out / "results.csv").read_text().startswith("dataset,encoder,fusion,seeds")
    assert (out / "tiny.png").stat().st_size > 10_000


def test_encoder_axis_runs_every_fusion_with_each_encoder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    transformer = tmp_path / "transformer_text.yaml"
    transformer.write_text(
        yaml.safe_dump(
            {
                "model": {
                    "text_encoder": {
                        "class_path": "vqa.models.encoders.TransformerTextEncoder",
                        "init_args": {"dim": 16, "num_layers": 1, "num_heads": 2, "ffn_dim": 32},
                    }
                }
            }
        )
    )
    suite = write_suite(tmp_path, ["late"], [0])
    data = yaml.safe_load(suite.read_text())
    data["encoders"] = {"gru": [], "transformer": [str(transformer)]}
    data["overrides"] = [o for o in data["overrides"] if "max_epochs" not in o] + ["--trainer.max_epochs=1"]
    suite.write_text(yaml.safe_dump(data, sort_keys=False))
    results = benchmark_main(["-c", str(suite)])
    assert [r["key"] for r in results] == ["tiny__gru__late__seed0", "tiny__transformer__late__seed0"]
    gru, transformer_cell = results
    assert gru["parameters"] != transformer_cell["parameters"]  # the second cell really got the other encoder
    table = (tmp_path / "results" / "results.md").read_text()
    assert "| late + gru |" in table and "| late + transformer |" in table
    assert (tmp_path / "results" / "cells" / "tiny__transformer__late__seed0.json").exists()


def test_head_axis_puts_classifier_and_generator_in_one_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = write_suite(tmp_path, ["late"], [0])
    data = yaml.safe_load(suite.read_text())
    data["heads"] = {
        "classifier": [],
        "generator": ["--model.head=generator", "--model.decoder_dim=16", "--model.decoder_heads=2"],
    }
    data["overrides"] = [o for o in data["overrides"] if "max_epochs" not in o] + ["--trainer.max_epochs=1"]
    suite.write_text(yaml.safe_dump(data, sort_keys=False))
    results = benchmark_main(["-c", str(suite)])
    assert [r["key"] for r in results] == ["tiny__late__classifier__seed0", "tiny__late__generator__seed0"]
    classifier, generator = results
    assert generator["parameters"] > classifier["parameters"]  # the decoder is there
    table = (tmp_path / "results" / "results.md").read_text()
    assert "| late (classifier) |" in table and "| late (generator) |" in table
    report = json.loads((tmp_path / "results" / "results.json").read_text())
    assert set(report["significance"]["datasets"]["tiny"]["variants"]) == {"late (classifier)", "late (generator)"}
    with gzip.open(tmp_path / "results" / generator["predictions"], "rt") as lines:
        written = [json.loads(line) for line in lines]
    assert written and all(isinstance(line["answer"], str) and 0 <= line["score"] <= 1 for line in written)
    assert sum(line["score"] for line in written) / len(written) * 100 == pytest.approx(generator["test"]["acc"])


def test_missing_config_is_a_clear_error(tmp_path):
    suite = write_suite(tmp_path, ["late"], [0])
    data = yaml.safe_load(suite.read_text())
    data["fusions"]["ghost"] = "configs/fusion/ghost.yaml"
    suite.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(VQAError, match="ghost.yaml"):
        benchmark_main(["-c", str(suite)])


def test_killed_grid_resumes_with_only_the_missing_cells(tmp_path):
    suite = write_suite(tmp_path, ["late", "early", "cross_attention"], [0])
    cells = tmp_path / "results" / "cells"
    # REPO first, keeping what the run put on PYTHONPATH (the --no-network guard for child processes)
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "vqa.cli", "benchmark", "-c", str(suite)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not (cells / "tiny__late__seed0.json").exists():
        assert time.time() < deadline and process.poll() is None, "the first cell never finished"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the runner and the cell it is running die together
    process.wait()
    finished = sorted(p.name for p in cells.glob("*.json"))
    assert "tiny__cross_attention__seed0.json" not in finished
    first_result = (cells / "tiny__late__seed0.json").stat().st_mtime_ns
    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "tiny__late__seed0: already done" in rerun.stdout
    assert (cells / "tiny__late__seed0.json").stat().st_mtime_ns == first_result, "a finished cell is never re-run"
    assert sorted(p.name for p in cells.glob("*.json")) == [
        "tiny__cross_attention__seed0.json",
        "tiny__early__seed0.json",
        "tiny__late__seed0.json",
    ]
    assert not list(cells.glob(".*.tmp")), "no partial result file is left behind"
