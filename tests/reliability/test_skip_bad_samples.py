"""A dataset with a few bad entries: by default the first one stops the run with a clear error; with
`skip_bad_samples` every bad entry is left out, counted, reported, and training runs on the rest."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from pathlib import Path

import lightning.pytorch as pl
import pytest
from PIL import Image

from tests.data.fixture_sources import FIXTURES, clevr_source, gqa_source, vqa_v2_source
from tests.training.test_training import tiny_module
from vqa.data import DatasetError, JSONLSource, VQADataModule
from vqa.data.images import ImageLoadError

COLORS = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220), "gray": (128, 128, 128)}


def make_jsonl(root: Path, bad_lines: list[str | bytes]) -> Path:
    """train.jsonl about 8 one-colour images (4 questions each, one non-ASCII), then `bad_lines`; val.jsonl."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = []
    for i in range(8):
        color = list(COLORS)[i % 4]
        Image.new("RGB", (20, 16), COLORS[color]).save(root / "images" / f"{i}.png")
        for question, answer in [
            ("What color is it?", color),
            ("Is it red?", "yes" if color == "red" else "no"),
            ("Quelle est la couleur ?", color),
            ("この色は何ですか", color),
        ]:
            lines.append(
                json.dumps(
                    {"image": f"images/{i}.png", "question": question, "answers": [answer]}, ensure_ascii=False
                ).encode()
            )
    lines += [line.encode() if isinstance(line, str) else line for line in bad_lines]
    (root / "train.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    val = [
        {"image": "images/0.png", "question": "What color is it?", "answers": ["red"]},
        {"image": "images/1.png", "question": "What color is it?", "answers": ["turquoise"]},
    ]  # not in vocab
    (root / "val.jsonl").write_text("\n".join(json.dumps(v) for v in val) + "\n")
    return root / "train.jsonl"


def bad_files(root: Path) -> None:
    """images/notes.png (text) and images/cut.png (a truncated PNG)."""
    (root / "images" / "notes.png").write_text("not an image")
    Image.new("RGB", (64, 64)).save(root / "images" / "cut.png")
    (root / "images" / "cut.png").write_bytes((root / "images" / "cut.png").read_bytes()[:60])


def line(image: str, question: str = "What color is it?", answers: tuple[str, ...] = ("red",)) -> str:
    return json.dumps({"image": image, "question": question, "answers": list(answers)})


# Bad line -> what its error says (the line number is 33: 32 good lines come first).
BAD_LINES = {
    "invalid JSON": ('{"image": "images/0.png", "question": "What?"', "line 33: invalid JSON"),
    "not UTF-8": (b'{"image": "images/0.png", "question": "Wh\xff?", "answers": ["red"]}', "line 33: not UTF-8"),
    "missing key": (json.dumps({"image": "images/0.png", "answers": ["red"]}), "line 33: missing key 'question'"),
    "empty question": (line("images/0.png", question="   "), "line 33.question: the question is empty"),
    "missing image": (line("images/nowhere.png"), "image file not found: "),
}


@pytest.mark.parametrize("kind", BAD_LINES)
def test_without_the_option_the_first_bad_entry_stops_with_its_error(tmp_path, kind):
    bad, message = BAD_LINES[kind]
    path = make_jsonl(tmp_path, [bad])
    datamodule = VQADataModule(JSONLSource(str(path), val=str(tmp_path / "val.jsonl"), image_size=(8, 8)))
    with pytest.raises(DatasetError, match=message) as info:
        datamodule.split("train")
    assert "train.jsonl" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("image", ["images/notes.png", "images/cut.png"])
def test_an_unreadable_image_stops_the_batch_that_needs_it(tmp_path, image):
    path = make_jsonl(tmp_path, [line(image)])
    bad_files(tmp_path)
    datamodule = VQADataModule(JSONLSource(str(path), val=str(tmp_path / "val.jsonl"), image_size=(8, 8)))
    dataset = datamodule.dataset("train")
    expected = rf"cannot read image .*{Path(image).name}.*question\(s\) #32.*skip_bad_samples"
    with pytest.raises(ImageLoadError, match=expected):
        dataset.__getitems__(list(range(len(dataset))))


def test_skipping_counts_reports_and_trains_on_the_rest(tmp_path):
    bad = [entry for entry, _ in BAD_LINES.values()] + [line("images/notes.png"), line("images/cut.png")] * 2
    path = make_jsonl(tmp_path, bad)
    bad_files(tmp_path)
    datamodule = VQADataModule(
        JSONLSource(str(path), val=str(tmp_path / "val.jsonl"), image_size=(32, 32)),
        batch_size=8,
        skip_bad_samples=True,
    )
    with pytest.warns(UserWarning) as caught:
        train = datamodule.split("train")
    report = "\n".join(str(w.message) for w in caught)
    assert "left out 5 bad entries" in report and "line 33: invalid JSON" in report, report
    assert "line 35: missing key 'question'" in report and "more reason(s)" not in report
    assert datamodule.skipped_samples == 5
    # The four lines about unreadable (but existing) images are read; their batches leave them out.
    assert len(train.records) == 32 + 4
    assert {r.question for r in train.records} >= {"この色は何ですか", "Quelle est la couleur ?"}

    module = tiny_module(datamodule)
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, datamodule=datamodule)
    messages = "\n".join(str(w.message) for w in caught)
    assert re.search(r"skip_bad_samples: left out [12] question\(s\): cannot read image", messages), messages
    # 4 questions about unreadable images, left out in each of 2 epochs, on top of the 5 bad lines
    assert datamodule.skipped_samples == 5 + 2 * 4
    assert float(trainer.callback_metrics["data/skipped_samples"]) == 13
    assert "left out 8 bad entries" in messages and "notes.png" in messages and "cut.png" in messages


def test_a_batch_of_only_bad_images_is_skipped(tmp_path):
    path = make_jsonl(tmp_path, [line("images/notes.png"), line("images/cut.png")])
    bad_files(tmp_path)
    datamodule = VQADataModule(
        JSONLSource(str(path), val=str(tmp_path / "val.jsonl"), image_size=(8, 8)), skip_bad_samples=True
    )
    dataset = datamodule.dataset("train")
    batch = dataset.__getitems__([32, 33])
    assert batch["index"].numel() == 0 and batch["images"].shape == (0, 3, 8, 8)
    assert [questions for _, questions in batch["skipped"]] == [1, 1]
    module = tiny_module(datamodule)
    assert module.training_step(batch, 0) is None  # Lightning skips the optimizer step


def test_answers_outside_the_vocabulary_are_counted_not_fatal(tmp_path):
    path = make_jsonl(tmp_path, [])
    datamodule = VQADataModule(JSONLSource(str(path), val=str(tmp_path / "val.jsonl"), image_size=(8, 8)))
    val = datamodule.dataset("val")
    assert (val.unanswerable, val.unknown_answers) == (1, 1)
    assert val.answer_scores[1].sum() == 0  # the question stays, and scores 0 whatever the model says


def test_long_questions_are_truncated_with_a_warning_naming_the_split(tmp_path):
    long = "is " * 40 + "it red?"
    path = make_jsonl(tmp_path, [line("images/0.png", question=long)])
    datamodule = VQADataModule(JSONLSource(str(path), val=str(tmp_path / "val.jsonl"), image_size=(8, 8)))
    with pytest.warns(UserWarning, match=r"jsonl train split: 1 of 33 questions are longer than max_length=32"):
        dataset = datamodule.dataset("train")
    assert dataset.token_mask[32].sum() == 32


def _copy(tmp_path: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("name", ["vqa_v2", "gqa", "clevr"])
def test_every_reader_skips_and_counts(tmp_path, name):
    root = _copy(tmp_path, name)
    if name == "vqa_v2":
        source = lambda: vqa_v2_source(root)  # noqa: E731
        _edit(root / "v2_OpenEnded_mscoco_train2014_questions.json", lambda d: d["questions"][1].update(question=""))
        (root / "train2014" / "COCO_train2014_000000000030.jpg").unlink()
    elif name == "gqa":
        source = lambda: gqa_source(root)  # noqa: E731
        _edit(root / "train_balanced_questions.json", lambda d: d["07333409"].pop("imageId"))
        (root / "images" / "n161313.jpg").unlink()
    else:
        source = lambda: clevr_source(root)  # noqa: E731
        _edit(root / "questions" / "CLEVR_train_questions.json", lambda d: d["questions"][3].pop("program"))
        (root / "images" / "train" / "CLEVR_train_000002.png").unlink()
    with pytest.raises(DatasetError):
        VQADataModule(source()).split("train")
    datamodule = VQADataModule(source(), skip_bad_samples=True)
    with pytest.warns(UserWarning, match="left out"):
        kept = datamodule.split("train").records
    assert datamodule.skipped_samples >= 2
    assert all(Path(p).exists() for p in datamodule.split("train").images.paths)
    assert len(kept) > 0


def test_cli_reports_an_unreadable_image_from_a_worker_in_one_line(tmp_path, capsys):
    from tests.conftest import TINY_CONFIG
    from vqa.cli import main

    path = make_jsonl(tmp_path, [line("images/notes.png")])
    bad_files(tmp_path)
    args = [
        "fit",
        "-c",
        str(TINY_CONFIG),
        "--data.source=vqa.data.JSONLSource",
        f"--data.source.init_args.train={path}",
        f"--data.source.init_args.val={tmp_path / 'val.jsonl'}",
        "--data.source.init_args.image_size=[32, 32]",
        "--data.source.init_args.val_images=0",
        "--data.num_workers=1",
        "--trainer.max_epochs=1",
        f"--trainer.default_root_dir={tmp_path}",
    ]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"error: cannot read image \S*notes.png: .* \(needed by question\(s\) #32 "
        r"\(question_id 33\)\); fix or remove the file, or set data.skip_bad_samples=true .* "
        r"\(raised in a data loader worker\)",
        error,
    ), error
    with pytest.warns(UserWarning, match="left out 1 question"):
        main([*args, "--data.skip_bad_samples=true"])
