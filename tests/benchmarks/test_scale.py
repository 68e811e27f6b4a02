"""`vqa speed scale` at a tiny size: the VQA v2-shaped files read like the real ones, the set-up probe measures
every stage, the table has its columns, and the feature cache part reports its rates."""

from __future__ import annotations

import json

from vqa.benchmarks.feature_cache_io import format_feature_cache, measure_feature_cache
from vqa.benchmarks.scale import format_rows, json_megabytes
from vqa.benchmarks.setup_probe import measure
from vqa.benchmarks.vqa_v2_files import write_vqa_v2


def test_vqa_v2_shaped_files_and_the_setup_probe(tmp_path):
    splits = write_vqa_v2(tmp_path / "data", 0.0005, seed=1)
    annotations = json.loads(splits["train"].annotations.read_text())
    entry = annotations["annotations"][0]
    assert annotations["data_subtype"] == "train2014" and len(entry["answers"]) == 10
    assert {"question_type", "multiple_choice_answer", "image_id", "answer_type", "question_id"} <= entry.keys()
    assert {"answer", "answer_confidence", "answer_id"} == entry["answers"][0].keys()
    first = measure(tmp_path / "data", str(tmp_path / "cache"), batch_size=32, batches=1, image_size=16)
    assert first["sizes"]["train_questions"] == splits["train"].num_questions
    assert first["sizes"]["train_images"] == splits["train"].num_images
    for key in ("reader_s", "vocab_s", "datamodule_s", "setup_s", "first_batch_s", "peak_gib"):
        assert first[key] > 0
    row = {"fraction": 0.0005, "json_mb": json_megabytes(tmp_path / "data"), "first": first, "second": first}
    header, rule, line = format_rows([{**row, "cache_mb": 1.0}]).splitlines()
    assert header.count("|") == rule.count("|") == line.count("|")
    assert "2nd read set-up s" in header and "peak RSS GiB" in header and line.startswith("| 0.05% |")


def test_feature_cache_part(tmp_path):
    report = measure_feature_cache(
        tmp_path, count=48, image_size=32, batch_size=16, read_batches=2, source_size=(24, 32), decode_batches=1
    )
    assert report["disk_bytes"] > 0 and report["tokens_per_image"] == [1, 256]
    assert report["decode_images_per_s"] > 0 and report["read_cold_images_per_s"] > 0
    assert "size on disk" in format_feature_cache(report)
