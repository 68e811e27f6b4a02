"""`vqa data generate / stats / submit / evaluate` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.data.fixture_sources import FIXTURES
from vqa.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_generate_clevr_like_from_the_base_config(tmp_path, capsys):
    args = [
        "data",
        "generate",
        "-c",
        str(CONFIGS / "clevr_like.yaml"),
        "--data.source.init_args.num_images=6",
        "--data.source.init_args.test_images=1",
        "--data.source.init_args.val_images=1",
        "--data.source.init_args.questions_per_image=2",
        f"--data.source.init_args.cache_dir={tmp_path}",
    ]
    main(args)
    (cache,) = tmp_path.glob("clevr_like_*.npz")
    assert str(cache) in capsys.readouterr().out
    main(args)  # cached: the same file again
    assert list(tmp_path.glob("clevr_like_*.npz")) == [cache]


def test_generate_refuses_file_datasets(tmp_path, capsys):
    config = {
        "data": {
            "source": {
                "class_path": "vqa.data.JSONLSource",
                "init_args": {"train": str(FIXTURES / "jsonl" / "train.jsonl")},
            }
        }
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "generate", "-c", str(path)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: jsonl is read from files; there is nothing to generate"


def vqa_v2_config(tmp_path: Path, root: Path = FIXTURES / "vqa_v2") -> Path:
    config = yaml.safe_load((CONFIGS / "vqa_v2.yaml").read_text())
    files = config["data"]["source"]["init_args"]
    for key, value in list(files.items()):
        if isinstance(value, str) and value.startswith("data/vqa_v2/"):
            files[key] = str(root / Path(value).name)
    files["image_size"] = [24, 24]
    files["cache_dir"] = str(tmp_path / "parse_cache")  # the config's cache goes under data/: not in the checkout
    config["data"].update(min_answer_count=1, max_answers=None, num_workers=0)
    path = tmp_path / "vqa_v2.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_stats_of_vqa_v2_fixture(tmp_path, capsys):
    out = tmp_path / "stats.json"
    main(["data", "stats", "-c", str(vqa_v2_config(tmp_path)), "--json", str(out), "--top-answers", "2"])
    stats = json.loads(out.read_text())
    train, val, test = (stats["splits"][s] for s in ("train", "val", "test"))
    assert (train["questions"], train["images"], val["questions"], val["images"]) == (11, 4, 4, 2)
    assert test["questions"] == 0  # no test files in the base config
    assert train["answers_per_question"] == 10.0
    # Worked by hand: every training question's majority answer is in the vocabulary -> 100; on val,
    # "red", "2" and "yes" are in the training answers but no answer to "What color is the bike?" is -> 75.
    assert train["coverage"] == 100.0 and val["coverage"] == 75.0
    assert train["types"]["answer_type/number"] == 2 and val["types"]["question_type/what color is the"] == 2
    assert train["top_answers"][0]["answer"] == "yes" and len(train["top_answers"]) == 2
    text = capsys.readouterr().out
    assert "coverage %" in text and "answer_type/yes/no" in text


def test_stats_reports_a_broken_dataset_in_one_line(tmp_path, capsys, fixture_copy):
    root = fixture_copy("vqa_v2")
    (root / "val2014" / "COCO_val2014_000000000073.jpg").unlink()
    with pytest.raises(SystemExit):
        main(["data", "stats", "-c", str(vqa_v2_config(tmp_path, root))])
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: VQA v2 val: image file not found:") and "question_id 73000" in err
    assert "\n" not in err and "Traceback" not in err


def test_submit_and_evaluate_gqa(tmp_path, capsys):
    """predictions.jsonl -> GQA results file -> the evaluator's metrics (hand-worked on the val fixture)."""
    predictions = tmp_path / "predictions.jsonl"
    answers = {"201307251": "red", "201307252": "no", "201640614": "no", "201640615": "truck"}
    predictions.write_text(
        "".join(
            json.dumps(
                {"question": "?", "answers": [], "predictions": [{"answer": a, "probability": 0.9}], "question_id": q}
            )
            + "\n"
            for q, a in answers.items()
        )
    )
    results = tmp_path / "results.json"
    main(["data", "submit", "--predictions", str(predictions), "--format", "gqa", "--output", str(results)])
    assert json.loads(results.read_text())[0] == {"questionId": "201307251", "prediction": "red"}
    scores = tmp_path / "scores.json"
    main(
        [
            "data",
            "evaluate",
            "--format",
            "gqa",
            "--results",
            str(results),
            "--json",
            str(scores),
            "--questions",
            str(FIXTURES / "gqa" / "val_balanced_questions.json"),
        ]
    )
    got = json.loads(scores.read_text())
    # 251 right, 252 wrong, 614 right, 615 wrong. Binary: 252, 614 -> 50; open: 251, 615 -> 50.
    # Consistency: 251 is right and entails 252 (wrong) -> 0; 614 entails nothing.
    # Distribution: color {red: 1} vs {red: 1} -> 0; vehicle {bus: 1} vs {truck: 1} -> 1; (0 + 1) / 2 / 100.
    assert got["accuracy"] == 50.0 and got["binary"] == 50.0 and got["open"] == 50.0
    assert got["consistency"] == 0.0 and got["distribution"] == pytest.approx(0.005)
    assert "distribution: 0.01 (lower is better)" in capsys.readouterr().out


def test_evaluate_clevr_and_missing_predictions(tmp_path, capsys):
    questions = FIXTURES / "clevr" / "questions" / "CLEVR_val_questions.json"
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps(
            [
                {"question_index": 0, "answer": "yes"},
                {"question_index": 1, "answer": "3"},
                {"question_index": 2, "answer": "yes"},
                {"question_index": 3, "answer": "no"},
            ]
        )
    )
    scores = tmp_path / "scores.json"
    main(
        [
            "data",
            "evaluate",
            "--format",
            "clevr",
            "--results",
            str(results),
            "--questions",
            str(questions),
            "--json",
            str(scores),
        ]
    )
    got = json.loads(scores.read_text())
    assert got["overall"] == 75.0 and got["type/count"] == 0.0 and got["type/compare_attribute"] == 100.0
    results.write_text(json.dumps([{"question_index": 0, "answer": "yes"}]))
    with pytest.raises(SystemExit):
        main(["data", "evaluate", "--format", "clevr", "--results", str(results), "--questions", str(questions)])
    assert "results miss 3 of the 4 questions" in capsys.readouterr().err
