"""`vqa speed feature-cache`: what the feature cache saves. The same benchmark grid with a frozen image encoder,
run once with the cache (encoding each image once, included in the time) and once without it (encoding every batch).

    vqa speed feature-cache --epochs 3 --fusions late_product mfb cross_attention
    vqa speed feature-cache --epochs 3 --fusions late_product --seeds 0 1 2 --out results/cache_check_seeds

Prints a table of wall-clock times and the speed-up; both grids write their reports under `--out`
(default results/cache_check/).
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vqa.benchmarks.grid import run_benchmark

ROOT = Path(__file__).resolve().parents[2]  # the repository, where configs/ lies


def run_grid(
    label: str, fusions: list[str], seeds: list[int], epochs: int, image_config: str, cache: bool, out: Path
) -> tuple[float, list]:
    output_dir = out / label
    shutil.rmtree(output_dir, ignore_errors=True)
    overrides = [
        "-c",
        image_config,
        f"--trainer.max_epochs={epochs}",
        f"--model.cache_image_features={str(cache).lower()}",
        f"--data.feature_cache_dir={out / 'feature_cache'}",
    ]
    started = time.perf_counter()
    results = run_benchmark(
        datasets={"easy_vqa": str(ROOT / "configs" / "easy_vqa.yaml")},
        fusions={name: str(ROOT / "configs" / "fusion" / f"{name}.yaml") for name in fusions},
        seeds=seeds,
        overrides=overrides,
        output_dir=str(output_dir),
        name=f"feature cache {label}",
    )
    return time.perf_counter() - started, results


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `vqa speed feature-cache`."""
    parser = argparse.ArgumentParser(prog="vqa speed feature-cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fusions", nargs="+", default=["late_product", "mfb", "cross_attention"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-config", default=str(ROOT / "configs" / "image" / "efficientnet_lite0.yaml"))
    parser.add_argument("--out", default="results/cache_check")
    args = parser.parse_args(argv)
    out = Path(args.out)
    shutil.rmtree(out / "feature_cache", ignore_errors=True)  # the cached run pays for building its cache
    cached_time, cached = run_grid("with_cache", args.fusions, args.seeds, args.epochs, args.image_config, True, out)
    plain_time, plain = run_grid("without_cache", args.fusions, args.seeds, args.epochs, args.image_config, False, out)
    table = Table(
        title=f"easy-VQA, frozen image encoder, {len(args.fusions)} fusion(s) x {len(args.seeds)} seed(s) "
        f"x {args.epochs} epochs"
    )
    for column in ("grid", "wall time (s)", "train samples/s (mean)", "test acc per fusion (%)"):
        table.add_column(column)
    for label, seconds, results in (("with cache", cached_time, cached), ("without cache", plain_time, plain)):
        rate = sum(r["train_samples_per_s"] for r in results) / len(results)
        accs = ", ".join(f"{r['fusion']}/{r['seed']} {r['test']['acc']:.2f}" for r in results)
        table.add_row(label, f"{seconds:.0f}", f"{rate:.0f}", accs)
    Console().print(table)
    Console().print(f"speed-up of the whole grid: {plain_time / cached_time:.2f}x")


if __name__ == "__main__":
    main()
