"""A model trains end to end through the CLI from each dataset format's fixture (tiny model, a few epochs)."""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import TINY_CONFIG
from tests.data.fixture_sources import FIXTURES
from vqa.cli import main
from vqa.data import VQADataModule
from vqa.training.module import soft_targets

SIZE = [24, 32]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (several threads only contend on a shared CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sources(tmp_path: Path) -> dict[str, dict]:
    vqa_v2 = FIXTURES / "vqa_v2"
    gqa = FIXTURES / "gqa"
    clevr = FIXTURES / "clevr"
    jsonl = FIXTURES / "jsonl"
    return {
        "vqa_v2": {
            "class_path": "vqa.data.VQAv2",
            "init_args": {
                "train_questions": str(vqa_v2 / "v2_OpenEnded_mscoco_train2014_questions.json"),
                "train_annotations": str(vqa_v2 / "v2_mscoco_train2014_annotations.json"),
                "train_images": str(vqa_v2 / "train2014"),
                "val_questions": str(vqa_v2 / "v2_OpenEnded_mscoco_val2014_questions.json"),
                "val_annotations": str(vqa_v2 / "v2_mscoco_val2014_annotations.json"),
                "val_images": str(vqa_v2 / "val2014"),
                "test_questions": str(vqa_v2 / "v2_OpenEnded_mscoco_test2015_questions.json"),
                "test_images": str(vqa_v2 / "test2015"),
                "image_size": SIZE,
            },
        },
        "gqa": {
            "class_path": "vqa.data.GQA",
            "init_args": {
                "train_questions": str(gqa / "train_balanced_questions.json"),
                "val_questions": str(gqa / "val_balanced_questions.json"),
                "test_questions": str(gqa / "testdev_balanced_questions.json"),
                "image_dir": str(gqa / "images"),
                "image_size": SIZE,
            },
        },
        "clevr": {
            "class_path": "vqa.data.CLEVR",
            "init_args": {
                "train_questions": str(clevr / "questions" / "CLEVR_train_questions.json"),
                "val_questions": str(clevr / "questions" / "CLEVR_val_questions.json"),
                "image_dir": str(clevr / "images"),
                "image_size": SIZE,
            },
        },
        "jsonl": {
            "class_path": "vqa.data.JSONLSource",
            "init_args": {
                "train": str(jsonl / "train.jsonl"),
                "val": str(jsonl / "val.jsonl"),
                "test": str(jsonl / "test.jsonl"),
                "image_size": SIZE,
            },
        },
        "clevr_like": {
            "class_path": "vqa.data.ClevrLike",
            "init_args": {
                "num_images": 12,
                "test_images": 2,
                "val_images": 2,
                "questions_per_image": 2,
                "image_size": 32,
                "cache_dir": str(tmp_path / "cache"),
            },
        },
    }


def write_config(tmp_path: Path, name: str) -> Path:
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["data"] = {"source": sources(tmp_path)[name], "batch_size": 8}
    config["model"]["lr"] = 0.003
    config["trainer"].update(
        max_epochs=6,
        default_root_dir=str(tmp_path / "run"),
        log_every_n_steps=1,
        logger={"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(tmp_path / "logs")}},
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def epoch_metrics(tmp_path: Path, key: str) -> list[float]:
    """The per-epoch values of one logged metric (e.g. "train/loss_epoch", "train/acc"), in order."""
    (metrics,) = (tmp_path / "logs").rglob("metrics.csv")
    rows = list(csv.DictReader(metrics.open()))
    return [float(r[key]) for r in rows if r.get(key)]


def answer_prior(tmp_path: Path, name: str, batch_size: int) -> tuple[float, float]:
    """The training loss and accuracy (percent) of the best model that learned only the answer frequencies.

    Such a model gives every question the same scores; the lowest soft-target BCE it can reach on the training
    split predicts each answer with its mean target, and its accuracy is the majority answer's mean score.
    """
    spec = sources(tmp_path)[name]
    module, _, cls = spec["class_path"].rpartition(".")
    source = getattr(importlib.import_module(module), cls)(**spec["init_args"])
    datamodule = VQADataModule(source, batch_size=batch_size)
    datamodule.setup("fit")
    train = datamodule.dataset("train")
    batch = train.__getitems__(list(range(len(train))))
    targets = soft_targets(batch["answer_ids"], batch["answer_scores"], len(datamodule.vocab.answers))
    p = targets.mean(0)
    loss = -(torch.special.xlogy(targets, p) + torch.special.xlogy(1 - targets, 1 - p)).sum(-1).mean()
    return float(loss), 100.0 * float(targets.sum(0).max()) / len(train)


# Enough steps for every fixture's tiny model to get well past the answer prior (each fixture has 8-16 training
# questions, so a batch of 4 gives 2-4 steps per epoch); validation runs once, at the end.
EPOCHS, LR, BATCH = 30, 0.01, 4


@pytest.mark.parametrize("name", ["vqa_v2", "gqa", "clevr", "jsonl", "clevr_like"])
def test_trains_from_each_format(tmp_path, name):
    config = write_config(tmp_path, name)
    overrides = [f"--trainer.max_epochs={EPOCHS}", f"--model.lr={LR}", f"--data.batch_size={BATCH}"]
    main(["fit", "-c", str(config), *overrides, f"--trainer.check_val_every_n_epoch={EPOCHS}"])
    losses = epoch_metrics(tmp_path, "train/loss_epoch")
    accuracies = epoch_metrics(tmp_path, "train/acc")
    assert len(losses) == len(accuracies) == EPOCHS
    assert len(epoch_metrics(tmp_path, "val/acc")) == 1
    # Learned more than the answer frequencies: over the last 3 epochs, the training loss is well below the
    # answer prior's and the accuracy far above the majority answer's (the prior's own numbers).
    prior_loss, majority = answer_prior(tmp_path, name, BATCH)
    final_loss, final_accuracy = sum(losses[-3:]) / 3, sum(accuracies[-3:]) / 3
    assert final_loss < 0.75 * prior_loss, (final_loss, prior_loss, losses)
    assert final_accuracy > majority + 25, (final_accuracy, majority, accuracies)


def test_vqa_v2_predict_submit_evaluate(tmp_path, capsys):
    """fit -> predict on val -> results file in the server's format -> the official evaluator's numbers."""
    config = write_config(tmp_path, "vqa_v2")
    main(["fit", "-c", str(config), "--trainer.max_epochs=2", "--trainer.enable_checkpointing=true"])
    (checkpoint,) = (tmp_path / "logs").rglob("last.ckpt")  # `vqa fit` also writes the best one
    predictions = tmp_path / "predictions.jsonl"
    main(
        [
            "predict",
            "-c",
            str(config),
            "--ckpt_path",
            str(checkpoint),
            "--data.predict_split=val",
            "--predictions.path",
            str(predictions),
        ]
    )
    results = tmp_path / "results.json"
    main(["data", "submit", "--predictions", str(predictions), "--format", "vqa_v2", "--output", str(results)])
    entries = json.loads(results.read_text())
    assert sorted(e["question_id"] for e in entries) == [42000, 42001, 73000, 73001]
    assert all(set(e) == {"question_id", "answer"} and isinstance(e["answer"], str) for e in entries)
    scores_file = tmp_path / "scores.json"
    main(
        [
            "data",
            "evaluate",
            "--format",
            "vqa_v2",
            "--results",
            str(results),
            "--json",
            str(scores_file),
            "--annotations",
            str(FIXTURES / "vqa_v2" / "v2_mscoco_val2014_annotations.json"),
        ]
    )
    scores = json.loads(scores_file.read_text())
    # the same number, computed here from the predictions with the official per-question formula
    from vqa.evaluation.metrics import vqa_accuracy

    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    expected = (
        100 * sum(vqa_accuracy(row["predictions"][0]["answer"], row["raw_answers"]) for row in lines) / len(lines)
    )
    assert scores["overall"] == pytest.approx(expected)
    assert "answer_type/yes/no" in scores and "question_type/what color is the" in scores
    assert "overall:" in capsys.readouterr().out
