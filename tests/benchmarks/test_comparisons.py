"""Per-question result files, the suite's significance report and `vqa benchmark compare`, on synthetic runs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tests.benchmarks.fake_cells import fake_cell
from vqa.benchmarks.compare import compare_runs
from vqa.benchmarks.comparisons import suite_significance
from vqa.benchmarks.predictions import predictions_path, read_predictions, write_predictions
from vqa.benchmarks.report import aggregate, curve_band, render_markdown, write_reports
from vqa.cli import main as vqa_main
from vqa.errors import VQAError

IMAGES, PER_IMAGE = 80, 5


def lines(accuracy: float, seed: int, questions: int = IMAGES * PER_IMAGE) -> list[dict]:
    """A cell's per-question results: exactly `accuracy` of the questions right (0/1 scores), which ones drawn
    with `seed`; half the questions of family "a"."""
    right = np.random.default_rng(seed).permutation(questions) < round(accuracy * questions)
    return [
        {
            "question_id": q,
            "image_id": q // PER_IMAGE,
            "types": {"family": "a" if q % 2 else "b"},
            "answer": "yes" if right[q] else "no",
            "score": float(right[q]),
        }
        for q in range(questions)
    ]


def fake_run(root: Path, accuracies: dict[str, float], seeds=(0, 1), questions: int = IMAGES * PER_IMAGE) -> Path:
    """A finished run folder: cells/<key>.json and their per-question files, with what the reports read."""
    for index, (fusion, accuracy) in enumerate(accuracies.items()):
        for seed in seeds:
            key = f"toy__{fusion}__seed{seed}"
            per_question = lines(accuracy, 100 * index + seed, questions)
            write_predictions(predictions_path(root, key), per_question)
            scores = np.array([line["score"] for line in per_question])
            test = {"acc": 100 * scores.mean(), "family/a": 100 * scores[1::2].mean()}
            curve = [{"epoch": e, "step": 10 * e, "val_acc": 50.0 + 10 * e + seed} for e in range(3)]
            cell = fake_cell("toy", fusion, seed, test, curve, key=key)
            (root / "cells" / f"{key}.json").write_text(json.dumps(cell))
    return root


# ---- the per-question files --------------------------------------------------------------------------------------


def test_predictions_round_trip_and_equal_content_gives_equal_bytes(tmp_path):
    written = lines(0.7, seed=0)[:20] + [
        {"question_id": "q-x", "image_id": "img.png", "types": {}, "answer": "blue", "score": 0.3}
    ]
    write_predictions(tmp_path / "a.jsonl.gz", written)
    write_predictions(tmp_path / "b.jsonl.gz", written)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()  # no time stamp
    results = read_predictions(tmp_path / "a.jsonl.gz")
    assert results.question_ids.tolist()[-1] == "q-x" and len(results.scores) == 21
    assert results.types["family"].tolist()[-1] == ""  # a question without that type key
    assert results.accuracy == pytest.approx(100 * np.mean([line["score"] for line in written]))
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_damaged_predictions_file_is_named_with_its_line(tmp_path):
    path = tmp_path / "p.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(lines(1.0, 0)[0]) + "\n" + '{"question_id": 1, "image_id": 0}\n')
    with pytest.raises(VQAError, match=r"p.jsonl.gz, line 2: missing key 'types'"):
        read_predictions(path)
    with pytest.raises(VQAError, match="no per-question test results"):
        read_predictions(tmp_path / "absent.jsonl.gz")


# ---- a suite's report ------------------------------------------------------------------------------------------


def test_suite_marks_the_best_and_the_tied_and_writes_the_matrix(tmp_path):
    run = fake_run(tmp_path, {"strong": 0.8, "close": 0.78, "weak": 0.5})
    cells = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]
    significance = suite_significance(run, cells, resamples=1000)
    tested = significance["toy"]
    assert tested.best["overall"] == "strong" and tested.tied["overall"] == ["close"]
    assert set(tested.best) == {"overall", "family/a", "family/b"}
    weak = tested.comparison("strong", "weak")[0]
    assert weak.significant() and weak.holm["overall"] >= weak.tests["overall"].p_value  # Holm only raises p
    assert set(weak.mcnemar) == {0, 1}  # single labels: McNemar per shared seed
    rows = aggregate(cells)
    write_reports(run, "toy suite", cells, rows, significance=significance)
    table = (run / "results.md").read_text()
    strong_row = next(line for line in table.splitlines() if line.startswith("| strong |"))
    close_row = next(line for line in table.splitlines() if line.startswith("| close |"))
    weak_row = next(line for line in table.splitlines() if line.startswith("| weak |"))
    assert "★" in strong_row.split("|")[2] and "**" in close_row.split("|")[2] and "**" not in weak_row.split("|")[2]
    assert "95% CI over seeds" in table and "every pair, overall" in table and "| strong | weak |" in table
    report = json.loads((run / "results.json").read_text())
    pairs = report["significance"]["datasets"]["toy"]["pairs"]
    assert len(pairs) == 3 and {"p_holm", "low", "high", "accuracy_a"} <= set(pairs[0]["tests"]["overall"])
    low, high = report["aggregate"][0]["ci95"]["acc:family/a"]  # the seeds differ on family "a"
    assert low < report["aggregate"][0]["acc:family/a"][0] < high
    assert "acc:acc_ci95_low" in (run / "results.csv").read_text().splitlines()[0]
    assert (run / "toy_significance.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "toy.png").stat().st_size > 10_000


def test_seed_averaged_scores_are_what_is_compared(tmp_path):
    run = fake_run(tmp_path, {"x": 0.7, "y": 0.6}, seeds=(0, 1, 2))
    cells = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]
    tested = suite_significance(run, cells, resamples=200)["toy"]
    x = tested.systems[0]
    assert x.seeds == [0, 1, 2] and set(np.unique(x.scores)) <= {0.0, 100 / 3, 200 / 3, 100.0}
    mean_over_seeds = np.mean([c["test"]["acc"] for c in cells if c["fusion"] == "x"])
    assert x.accuracy("overall") == pytest.approx(mean_over_seeds)


def test_a_dataset_without_per_question_files_gets_no_marks(tmp_path):
    run = fake_run(tmp_path, {"x": 0.7, "y": 0.6}, seeds=(0,))
    predictions_path(run, "toy__y__seed0").unlink()  # a cell from before the files were recorded
    cells = [json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))]
    assert suite_significance(run, cells) == {}
    assert "★" not in render_markdown("t", aggregate(cells), cells, significance={})


def test_learning_curves_band_over_seeds():
    curves = [
        [{"epoch": 0, "step": 5, "val_acc": 40.0}, {"epoch": 1, "step": 10, "val_acc": 60.0}],
        [{"epoch": 0, "step": 5, "val_acc": 50.0}],  # this seed stopped after one epoch
    ]
    xs, mean, low, high = curve_band(curves, per_epoch=True)
    assert xs.tolist() == [1, 2] and mean.tolist() == [45.0, 60.0]
    assert low.tolist() == [40.0, 60.0] and high.tolist() == [50.0, 60.0]
    assert curve_band(curves, per_epoch=False)[0].tolist() == [5, 10]


# ---- vqa benchmark compare ---------------------------------------------------------------------------------------


def test_compare_two_runs_on_their_shared_cells(tmp_path, capsys):
    before = fake_run(tmp_path / "before", {"strong": 0.6, "same": 0.7, "only_before": 0.5})
    after = fake_run(tmp_path / "after", {"strong": 0.85, "same": 0.7})
    found = compare_runs(before, after, resamples=1000)
    assert [(v.name, v.seeds) for v in found] == [("same", [0, 1]), ("strong", [0, 1])]  # cell keys' order
    same, strong = (v.comparison for v in found)
    assert strong.tests["overall"].difference == pytest.approx(25.0)  # B - A, percentage points
    assert strong.significant() and strong.tests["overall"].low > 0
    # "same" drew the same answers in both runs (same position, same seeds): no difference, p = 1
    assert same.tests["overall"].difference == 0 and same.tests["overall"].p_value == 1.0 and not same.significant()
    vqa_main(["benchmark", "compare", str(before), str(after), "--resamples", "300", "--out", str(tmp_path / "cmp")])
    out = capsys.readouterr().out
    assert "strong" in out and "B - A" in out
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [v["variant"] for v in report["variants"]] == ["same", "strong"]
    assert "| toy | strong | overall | 0 1 |" in (tmp_path / "cmp" / "compare.md").read_text()


def test_compare_refuses_different_test_questions(tmp_path, capsys):
    before = fake_run(tmp_path / "before", {"x": 0.6}, seeds=(0,))
    after = fake_run(tmp_path / "after", {"x": 0.6}, seeds=(0,), questions=IMAGES * PER_IMAGE - 5)
    with pytest.raises(VQAError, match="the test questions differ"):
        compare_runs(before, after)
    with pytest.raises(SystemExit) as done:
        vqa_main(["benchmark", "compare", str(before), str(after)])
    assert done.value.code == 2 and "the test questions differ" in capsys.readouterr().err
    other = fake_run(tmp_path / "other", {"z": 0.6}, seeds=(0,))
    with pytest.raises(VQAError, match="share no finished cell"):
        compare_runs(before, other)
    with pytest.raises(VQAError, match="not a benchmark run folder"):
        compare_runs(before, tmp_path / "nowhere")


def test_compare_help_names_the_command(capsys):
    with pytest.raises(SystemExit) as done:
        vqa_main(["benchmark", "compare", "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: vqa benchmark compare")
