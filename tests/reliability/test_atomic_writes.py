"""Every file the toolkit writes survives a kill or a failure at the worst moment: afterwards the file holds its
previous complete content (or does not exist), never a partial one that a reader would take as valid.

Each kill is a real SIGKILL of a forked child process in the middle of writing: the serializer is made to write
half of its output and then kill the process, or the process is killed just before the final rename."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from tests.benchmarks.fake_cells import fake_cell
from vqa.benchmarks.report import aggregate, write_reports
from vqa.data import SortOfClevr
from vqa.data.records import VQARecord
from vqa.data.sources.base import DatasetError
from vqa.data.sources.json_reading import read_json
from vqa.evaluation.results_files import read_results, results_from_predictions, write_results
from vqa.inference.bundle import BundleError, TrainedModel, read_bundle, write_bundle
from vqa.io import write_json
from vqa.training.callbacks import PredictionWriter
from vqa.training.checkpoint_io import AtomicCheckpointIO


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def half_then_die(original: Callable, file_argument: int) -> Callable:
    """`original`, after which the file it wrote is cut to half its size and the process is killed."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        target = args[file_argument]
        if hasattr(target, "fileno"):
            target.flush()
            os.ftruncate(target.fileno(), os.fstat(target.fileno()).st_size // 2)
        else:
            os.truncate(target, os.path.getsize(target) // 2)
        _die()

    return wrapper


def killed(write: Callable[[], None], owner: Any, name: str, replacement: Callable[[Callable], Callable]) -> None:
    """Run `write` in a forked child in which `owner.name` is replaced by `replacement(original)`; it must die."""

    def child() -> None:
        setattr(owner, name, replacement(getattr(owner, name)))
        write()
        os._exit(0)  # not reached when the kill happens

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(120)
    assert process.exitcode == -signal.SIGKILL, f"the writer was not killed (exit code {process.exitcode})"


def before_rename(original: Callable) -> Callable:
    """os.replace that kills the process instead of committing (the temporary file is complete)."""
    return lambda *args, **kwargs: _die()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


def test_json_results_killed_mid_write_and_before_rename(tmp_path):
    path = tmp_path / "results.json"
    write_json(path, {"version": 1})
    new = {"version": 2, "rows": list(range(10_000))}
    killed(lambda: write_json(path, new), Path, "write_text", lambda original: half_then_die(original, 0))
    assert read_json(path, "results") == {"version": 1}
    killed(lambda: write_json(path, new), os, "replace", before_rename)
    assert read_json(path, "results") == {"version": 1}
    assert len(leftovers(tmp_path)) == 2  # a killed process cannot clean up; these are never read
    write_json(path, new)
    assert read_json(path, "results") == new


def test_a_failure_mid_write_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "submission.json"
    write_results(path, "vqa_v2", [1, 2], ["yes", "no"])
    original = Path.write_text

    def disk_full(self, data, *args, **kwargs):
        original(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_results(path, "vqa_v2", [1, 2, 3], ["yes", "no", "2"])
    assert read_results(path, "vqa_v2") == {1: "yes", 2: "no"}
    assert leftovers(tmp_path) == []


def test_predictions_file_killed_mid_write_does_not_exist(tmp_path):
    records = [VQARecord(0, f"question {i}?", ["a"], {}, {"question_index": i}) for i in range(6)]
    trainer = SimpleNamespace(
        datamodule=SimpleNamespace(predict_split="test", dataset=lambda split: SimpleNamespace(records=records)),
        log_dir=str(tmp_path),
        world_size=1,
        global_rank=0,
    )
    module = SimpleNamespace(vocab=SimpleNamespace(answers=SimpleNamespace(answers=["a", "b"])))
    predictions = [
        {
            "index": torch.arange(6),
            "answer_ids": torch.zeros(6, 2, dtype=torch.long),
            "probabilities": torch.full((6, 2), 0.5),
        }
    ]
    writer = PredictionWriter(str(tmp_path / "predictions.jsonl"))
    write = lambda: writer.write_on_epoch_end(trainer, module, predictions, [])  # noqa: E731
    calls = []

    def dies_on_the_fourth_line(original):
        def dumps(*args, **kwargs):
            calls.append(1)
            if len(calls) == 4:  # three lines are in the file
                _die()
            return original(*args, **kwargs)

        return dumps

    killed(write, json, "dumps", dies_on_the_fourth_line)
    with pytest.raises(DatasetError, match="predictions file not found"):
        results_from_predictions(tmp_path / "predictions.jsonl", "clevr")
    write()
    assert len(results_from_predictions(tmp_path / "predictions.jsonl", "clevr")) == 6


def test_checkpoint_killed_mid_write_keeps_the_previous_one(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1, "state_dict": {"w": torch.zeros(3)}}, path)
    newer = {"global_step": 2, "state_dict": {"w": torch.ones(100_000)}}
    killed(lambda: io.save_checkpoint(newer, path), torch, "save", lambda original: half_then_die(original, 1))
    killed(lambda: io.save_checkpoint(newer, path), os, "replace", before_rename)
    loaded = torch.load(path, weights_only=True)
    assert loaded["global_step"] == 1 and torch.equal(loaded["state_dict"]["w"], torch.zeros(3))
    assert all(name.endswith(".tmp") for name in leftovers(tmp_path))  # never matched by "*.ckpt"
    assert sorted(p.name for p in tmp_path.rglob("*.ckpt")) == ["last.ckpt"]


def test_generated_dataset_cache_killed_mid_write_is_regenerated(tmp_path):
    source = SortOfClevr(num_images=12, test_images=2, val_images=2, questions_per_family=1, cache_dir=str(tmp_path))
    killed(source.generate_to_cache, np, "savez_compressed", lambda original: half_then_die(original, 0))
    assert not source.cache_file.exists()
    fresh = SortOfClevr(num_images=12, test_images=2, val_images=2, questions_per_family=1, cache_dir=str(tmp_path))
    assert len(fresh.read("train").records) == 8 * 2


def test_reports_and_plots_killed_mid_write(tmp_path):
    curve = [{"epoch": 0, "step": 1, "val_acc": 40.0, "val_loss": 1.0}]
    cells = [fake_cell("tiny", "late", seed, {"acc": 50.0 + seed, "type/color": 60.0}, curve) for seed in (0, 1)]
    from matplotlib.figure import Figure

    write = lambda: write_reports(tmp_path, "tiny", cells, aggregate(cells))  # noqa: E731
    killed(write, Figure, "savefig", lambda original: half_then_die(original, 1))
    assert not (tmp_path / "tiny.png").exists()  # the plot is written last: everything before it is complete
    assert json.loads((tmp_path / "results.json").read_text())["name"] == "tiny"
    write()
    assert (tmp_path / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_bundle_killed_mid_write_is_absent_not_half(tmp_path, tiny_datamodule):
    from tests.training.test_training import tiny_module

    module = tiny_module(tiny_datamodule)
    trained = TrainedModel(module.model, module.vocab)
    import vqa.inference.bundle

    killed(
        lambda: write_bundle(trained, tmp_path / "bundle"),
        vqa.inference.bundle,
        "save_file",
        lambda original: half_then_die(original, 1),
    )
    with pytest.raises(BundleError, match="not a complete model bundle"):
        read_bundle(tmp_path / "bundle")
    write_bundle(trained, tmp_path / "bundle")
    assert read_bundle(tmp_path / "bundle").vocab.answers.answers == module.vocab.answers.answers
