"""`vqa speed decode` end to end on a tiny generator: every mode gets a row, beam 1 scores as greedy."""

from __future__ import annotations

import json

from tests.conftest import TINY_CONFIG
from tests.inference.tiny_model import train_tiny
from vqa.benchmarks.decode_speed import main


def test_decode_benchmark_table(tmp_path):
    _, checkpoint = train_tiny(
        tmp_path, "generator.ckpt", "--model.head=generator", "--model.decoder_dim=16", "--model.decoder_heads=2"
    )
    out = tmp_path / "rows.json"
    rows = main(
        [
            "-c",
            str(TINY_CONFIG),
            f"--data.source.init_args.cache_dir={tmp_path / 'data'}",
            "--ckpt",
            str(checkpoint),
            "--batch-size",
            "8",
            "--beams",
            "1",
            "3",
            "--json",
            str(out),
        ]
    )
    assert [r["mode"] for r in rows][:3] == ["greedy", "beam 1", "beam 3"] and len(rows) == 5
    assert all(r["questions"] == rows[0]["questions"] > 0 for r in rows)
    assert rows[0]["accuracy"] == rows[1]["accuracy"]
    assert all(0 <= r["accuracy"] <= 100 and r["decode_qps"] > 0 and r["answer_qps"] > 0 for r in rows)
    assert json.loads(out.read_text()) == rows
