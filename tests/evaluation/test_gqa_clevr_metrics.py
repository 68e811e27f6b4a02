"""GQA and CLEVR metrics against hand-worked cases, and their reduction across processes (gloo, 2 ranks)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from vqa.evaluation.metrics import CLEVRAccuracy, GQAMetrics, OfficialVQAAccuracy, TypedExactMatch


def question(
    answer, structural, question="What is it?", group=None, entailed=(), balanced=True, detailed="d", semantic=None
):
    return {
        "question": question,
        "answer": answer,
        "isBalanced": balanced,
        "entailed": list(entailed),
        "types": {"structural": structural, "semantic": "attr", "detailed": detailed},
        "groups": {"global": group, "local": None},
        "semantic": semantic or [{"operation": "select", "argument": "x"}],
    }


# q1 entails q2 and q3; q4 entails q1; q5 is not balanced (entailed by q1's answerers only via q3 -> no).
QUESTIONS = {
    "q1": question("red", "query", "What color is the bus?", group="color", entailed=["q2", "q3"]),
    "q2": question("yes", "verify", "Is the bus red?", entailed=["q1"]),
    "q3": question("no", "verify", "Is the bus blue?", entailed=["q1", "q5"]),
    "q4": question("bus", "query", "Which vehicle is it?", group="vehicle", entailed=["q1"]),
    "q5": question("car", "query", "What is behind the bus?", group="vehicle", balanced=False),
    "q6": question("blue", "query", "What color is the car?", group="color"),
}
PREDICTIONS = {"q1": "red", "q2": "yes", "q3": "yes", "q4": "truck", "q5": "car", "q6": "red"}


def expected_gqa():
    """Worked by hand.

    Scored (balanced): q1 right, q2 right, q3 wrong, q4 wrong, q6 wrong -> accuracy 2/5 = 40.
    Binary (verify): q2 right, q3 wrong -> 50. Open (query): q1 right, q4, q6 wrong -> 33.33.
    Consistency: right and with answered entailed questions: q1 -> {q2 right, q3 wrong} = 0.5;
    q2 -> {q1 right} = 1.0. Mean 0.75 -> 75.
    Distribution over balanced questions with a global group:
      color: gold {red: 1, blue: 1}, predicted {red: 2} -> (2-1)^2/1 + (0-1)^2/1 = 2, size 2;
      vehicle: gold {bus: 1}, predicted {truck: 1} -> (0-1)^2/1 = 1, size 1 (q5 is not balanced).
      (2 * 2 + 1 * 1) / 3 / 100 = 0.016667.
    """
    return {"accuracy": 40.0, "binary": 50.0, "open": 100.0 / 3, "consistency": 75.0, "distribution": 5.0 / 3 / 100}


def test_gqa_metrics_hand_worked():
    metric = GQAMetrics(QUESTIONS)
    ids = list(PREDICTIONS)
    metric.update(ids, [PREDICTIONS[q] for q in ids])
    result = {k: float(v) for k, v in metric.compute().items()}
    for key, value in expected_gqa().items():
        assert result[key] == pytest.approx(value), key
    assert result["structural/verify"] == pytest.approx(50.0)
    assert result["structural/query"] == pytest.approx(100.0 / 3)


def test_gqa_repeated_questions_count_once():
    """A distributed sampler pads with repeated questions; they must not count twice."""
    metric = GQAMetrics(QUESTIONS)
    ids = list(PREDICTIONS)
    metric.update(ids, [PREDICTIONS[q] for q in ids])
    metric.update(["q1", "q1"], ["red", "red"])
    assert float(metric.compute()["accuracy"]) == pytest.approx(40.0)


def test_gqa_unknown_question_raises():
    metric = GQAMetrics(QUESTIONS)
    with pytest.raises(ValueError, match="'q9'"):
        metric.update(["q9"], ["red"])


def test_clevr_accuracy_per_type():
    metric = CLEVRAccuracy()
    metric.update(["yes", "2", "red", "no"], ["yes", "3", "red", "no"], ["exist", "count", "query_attribute", "exist"])
    result = {k: float(v) for k, v in metric.compute().items()}
    assert result["overall"] == pytest.approx(75.0)
    assert result["type/exist"] == pytest.approx(100.0)
    assert result["type/count"] == pytest.approx(0.0)
    assert torch.isnan(torch.tensor(result["type/compare_number"]))


def test_typed_exact_match_is_case_sensitive_exact_match():
    metric = TypedExactMatch(["a"])
    metric.update(["Yes", "yes"], ["yes", "yes"], ["a", "a"])
    assert float(metric.compute()["type/a"]) == pytest.approx(50.0)


# ---- distributed reduction ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    ids = list(PREDICTIONS)
    mine = ids[rank::world]  # each process sees part of the questions (q1 sees its entailed ones elsewhere)
    gqa = GQAMetrics(QUESTIONS)
    gqa.update(mine, [PREDICTIONS[q] for q in mine])
    vqa = OfficialVQAAccuracy(question_types=["t"])
    cases = [("red", ["red"] * 10), ("3", ["2"] * 9 + ["3"]), ("yes", ["yes"] * 10), ("blue", ["black"] * 9 + ["blue"])]
    part = cases[rank::world]
    vqa.update([p for p, _ in part], [a for _, a in part], ["other"] * len(part), ["t"] * len(part))
    results = {
        "gqa": {k: float(v) for k, v in gqa.compute().items()},
        "vqa": {k: float(v) for k, v in vqa.compute().items()},
    }
    torch.save(results, f"{out}.{rank}")
    dist.destroy_process_group()


def test_metrics_sync_across_processes(tmp_path):
    out = str(tmp_path / "result")
    mp.start_processes(_worker, args=(2, _free_port(), out), nprocs=2, join=True, start_method="fork")
    for rank in range(2):
        results = torch.load(f"{out}.{rank}")
        for key, value in expected_gqa().items():
            assert results["gqa"][key] == pytest.approx(value), (rank, key)
        # scores 1.0, 0.3, 1.0, 0.3 -> 65
        assert results["vqa"]["overall"] == pytest.approx(65.0)
        assert results["vqa"]["question_type/t"] == pytest.approx(65.0)
