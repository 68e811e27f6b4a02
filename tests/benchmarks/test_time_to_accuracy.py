"""Time to accuracy: the training time at which validation first reached a target, from the logged curve."""

from __future__ import annotations

from vqa.benchmarks.report import aggregate, render_markdown, time_to_target

CURVE = [
    {"train_s": 10.0, "val": {"val/acc": 60.0, "val/acc/family/relational": 50.0}},
    {"train_s": 20.0, "val": {"val/acc": 80.0, "val/acc/family/relational": 96.0}},
    {"train_s": 30.0, "val": {"val/acc": 70.0, "val/acc/family/relational": 94.0}},  # fell back: still 20 s
]


def test_first_validation_at_or_above_the_target():
    assert time_to_target(CURVE, "val/acc/family/relational", 95.0) == 20.0
    assert time_to_target(CURVE, "val/acc", 60.0) == 10.0
    assert time_to_target(CURVE, "val/acc", 90.0) is None
    assert time_to_target(CURVE, "val/acc/type/nope", 1.0) is None


def cell(seed: int, curve: list[dict]) -> dict:
    numbers = dict.fromkeys(
        ["parameters", "train_time_s", "train_samples_per_s", "test_samples_per_s", "peak_memory_mb"], 1.0
    )
    return {"dataset": "d", "fusion": "f", "seed": seed, "test": {"acc": 90.0}, "curve": curve, "device": "cpu"} | (
        numbers | {"epochs": 3, "test_loss": 0.1, "fit_time_s": 2.0, "train_samples": 10, "best_val_acc": 90.0}
    )


def test_table_reports_the_mean_over_seeds_that_reached_it():
    slower = [{**point, "train_s": 2 * point["train_s"]} for point in CURVE]
    never = [{"train_s": 5.0, "val": {"val/acc/family/relational": 10.0}}]
    targets = {"val/acc/family/relational": 95.0}
    rows = aggregate([cell(0, CURVE), cell(1, slower)], targets)
    assert rows[0]["time_to"]["val/acc/family/relational"] == (30.0, 2)
    table = render_markdown("t", rows, [cell(0, CURVE)], targets)
    assert "train s to family/relational >= 95" in table and "| 30 |" in table
    rows = aggregate([cell(0, CURVE), cell(1, never)], targets)
    assert "20 (1/2 seeds)" in render_markdown("t", rows, [cell(0, CURVE)], targets)
    rows = aggregate([cell(0, never)], targets)
    assert "not reached" in render_markdown("t", rows, [cell(0, never)], targets)
