"""`vqa speed scale`: setting up VQA v2-sized data, from 10% to 300% of the real size, and the feature cache at
100,000 images.

    vqa speed scale                                    # 10%, 30%, 100%, 300%; data under a temporary folder
    vqa speed scale --sizes 0.1 1 --data-dir /scratch/scale --json results/scale.json
    vqa speed scale --sizes 0.001 --cache-images 1000  # a quick check that it all runs

For each size it writes VQA v2-shaped files of synthetic content (`vqa.benchmarks.vqa_v2_files`; kept in
`--data-dir` and reused when present), then sets up a `VQADataModule` as `vqa fit -c configs/vqa_v2.yaml` does,
twice, each time in a fresh process (`vqa.benchmarks.setup_probe`) so that the peak resident memory is that run's
own: first with an empty parse cache (the first read of the files), then again (a later read of unchanged files).
Stages: reader (every split read, checked, image files checked), vocabulary, datamodule (train and val splits
encoded), then the first batch and the next ones. Imports (torch and Lightning: about 0.8 GB resident before any
data) are timed apart and included in the peak.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqa.benchmarks.feature_cache_io import format_feature_cache, measure_feature_cache
from vqa.benchmarks.vqa_v2_files import write_vqa_v2
from vqa.errors import VQAError
from vqa.io import write_json

SIZES = (0.1, 0.3, 1.0, 3.0)


def data_folder(root: Path, fraction: float) -> Path:
    """The files of one size, written unless a previous run completed them."""
    folder = root / f"vqa_v2_{fraction * 100:g}pct"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"writing VQA v2-shaped files at {fraction * 100:g}% of the real size into {folder} ...", flush=True)
        write_vqa_v2(folder, fraction)
        done.write_text(str(fraction))
    return folder


def probe(folder: Path, cache_dir: Path | None, batch_size: int) -> dict[str, Any]:
    """One set-up in a fresh process (`vqa.benchmarks.setup_probe`); its JSON result."""
    command = [
        sys.executable,
        "-m",
        "vqa.benchmarks.setup_probe",
        "--data",
        str(folder),
        "--batch-size",
        str(batch_size),
    ]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise VQAError(f"the set-up probe failed on {folder}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def json_megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("*.json")) / 1e6


def cache_megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6 if folder.exists() else 0.0


def measure_size(root: Path, fraction: float, batch_size: int, use_cache: bool) -> dict[str, Any]:
    folder = data_folder(root, fraction)
    cache_dir = folder / "parse_cache" if use_cache else None
    if cache_dir is not None:
        shutil.rmtree(cache_dir, ignore_errors=True)  # the first read finds no cache
    first = probe(folder, cache_dir, batch_size)
    row: dict[str, Any] = {"fraction": fraction, "json_mb": json_megabytes(folder), "first": first}
    if cache_dir is not None:
        row["second"] = probe(folder, cache_dir, batch_size)
        row["cache_mb"] = cache_megabytes(cache_dir)
    return row


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Markdown tables: the first read, the second read, and set-up time per 100,000 questions (linearity)."""
    lines = [
        "| size | questions (train + val) | JSON MB | reader s | vocab s | datamodule s | set-up s | peak RSS GiB | "
        "first batch s | 2nd read set-up s | 2nd read peak GiB | 2nd read first batch s | cache MB | "
        "set-up s per 100k questions |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        first, second = row["first"], row.get("second")
        questions = first["sizes"]["train_questions"] + first["sizes"]["val_questions"]
        later = (
            f"{second['setup_s']:.2f} | {second['peak_gib']:.2f} | {second['first_batch_s']:.2f} | {row['cache_mb']:,.0f}"
            if second
            else "- | - | - | -"
        )
        lines.append(
            f"| {row['fraction'] * 100:g}% | {questions:,} | {row['json_mb']:,.0f} | {first['reader_s']:.1f} | "
            f"{first['vocab_s']:.1f} | {first['datamodule_s']:.1f} | {first['setup_s']:.1f} | {first['peak_gib']:.2f} | "
            f"{first['first_batch_s']:.2f} | {later} | {first['setup_s'] / questions * 1e5:.2f} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vqa speed scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=float, nargs="+", default=list(SIZES), help="fractions of VQA v2's size")
    p.add_argument("--data-dir", type=Path, default=None, help="where the files go (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (with --data-dir: always kept)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--no-cache", action="store_true", help="no parse cache: measure the first read only")
    p.add_argument("--cache-images", type=int, default=100_000, help="images of the feature cache part (0: skip)")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Entry point of `vqa speed scale`."""
    args = parser().parse_args(argv)
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="vqa_scale_"))
    report: dict[str, Any] = {"sizes": [], "feature_cache": None}
    try:
        for fraction in args.sizes:
            report["sizes"].append(measure_size(root, fraction, args.batch_size, not args.no_cache))
            print(format_rows(report["sizes"][-1:]).splitlines()[-1], flush=True)
        print(format_rows(report["sizes"]))
        if args.cache_images:
            report["feature_cache"] = measure_feature_cache(root / "feature_cache_bench", args.cache_images)
            print(format_feature_cache(report["feature_cache"]))
    finally:
        if args.data_dir is None and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if args.json is not None:
        write_json(args.json, report)
    return report
