"""Results files in the benchmarks' submission formats."""

from __future__ import annotations

import json

import pytest

from vqa.data.sources.base import DatasetError
from vqa.evaluation.results_files import read_results, write_gqa_results, write_results, write_vqa_v2_results


def test_vqa_v2_results_format_round_trip(tmp_path):
    path = tmp_path / "out" / "vqa_v2_results.json"
    write_vqa_v2_results(path, [458752000, 458752001], ["net", "2"])
    assert json.loads(path.read_text()) == [
        {"question_id": 458752000, "answer": "net"},
        {"question_id": 458752001, "answer": "2"},
    ]
    assert read_results(path, "vqa_v2") == {458752000: "net", 458752001: "2"}
    assert [p.name for p in path.parent.iterdir()] == ["vqa_v2_results.json"]  # atomic: no temporary file left


def test_gqa_results_format(tmp_path):
    path = tmp_path / "gqa.json"
    write_gqa_results(path, ["20968379", "20968380"], ["yes", "white"])
    assert json.loads(path.read_text()) == [
        {"questionId": "20968379", "prediction": "yes"},
        {"questionId": "20968380", "prediction": "white"},
    ]


def test_writer_refuses_duplicates_and_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="appear once"):
        write_vqa_v2_results(tmp_path / "r.json", [1, 1], ["a", "b"])
    with pytest.raises(ValueError, match="unknown results format"):
        write_results(tmp_path / "r.json", "okvqa", [1], ["a"])


def test_read_results_checks_entries(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"question_id": 1, "answer": "yes"}, {"question_id": "2", "answer": "no"}]))
    with pytest.raises(DatasetError, match=r"r.json: \[1\].question_id: expected an integer"):
        read_results(path, "vqa_v2")
