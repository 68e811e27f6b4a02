"""Train every registered fusion on Sort-of-CLEVR through the `vqa` CLI and tabulate test accuracy.

    nice -n 19 python scripts/sort_of_clevr_sweep.py                      # every fusion, the reduced setting
    nice -n 19 python scripts/sort_of_clevr_sweep.py --fusions mlb film   # some of them

For each fusion, one after the other (never in parallel, so timings compare):

    vqa fit  -c configs/sort_of_clevr.yaml -c configs/fusion/<name>.yaml <setting>
    vqa test -c configs/sort_of_clevr.yaml -c configs/fusion/<name>.yaml <setting> --ckpt_path <best by val/acc>

The setting (the same for every fusion) overrides the base config: `--num-images` images (200 test, 200
validation, the rest training; 20 questions each), `--epochs` epochs, batch `--batch-size`, `--threads` CPU
threads. Everything else
(encoders, learning rate, schedule, seed) comes from the two YAML files. Lightning's `--ckpt_path best` only
works in the process that ran `fit`, so the best checkpoint file is passed explicitly.

Writes `<out>/<name>/` (logs, checkpoints), `<out>/results.json` and `<out>/results.md`; fusions that already
have a result are skipped unless `--force`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fusion import FUSIONS, list_fusions  # noqa: E402
from vqa.io import write_json, write_text  # noqa: E402

BASE_CONFIG = "configs/sort_of_clevr.yaml"


def setting_args(args: argparse.Namespace, run_dir: Path) -> list[str]:
    """The CLI overrides every fusion shares, plus where this fusion's run writes."""
    learning_rate = [] if args.lr is None else ["--model.lr", str(args.lr)]
    return learning_rate + [
        "--data.source.init_args.num_images", str(args.num_images),
        "--data.batch_size", str(args.batch_size),
        "--trainer.max_epochs", str(args.epochs),
        "--trainer.enable_progress_bar", "false",
        "--trainer.default_root_dir", str(run_dir),
        "--trainer.logger.init_args.save_dir", str(run_dir),
    ]


def run_cli(arguments: list[str], log: Path, threads: int) -> float:
    """Run `python -m vqa <arguments>` from the repository root with `threads` CPU threads; returns wall seconds.
    Output goes to `log`."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, "-m", "vqa", *arguments], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if done.returncode:
        raise SystemExit(f"`vqa {' '.join(arguments)}` failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - start


def last_metrics(metrics_csv: Path) -> dict[str, float]:
    """The last logged value of every column of a CSVLogger metrics file."""
    values: dict[str, float] = {}
    with open(metrics_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return values


def sweep_one(name: str, args: argparse.Namespace) -> dict:
    """Fit then test fusion `name`; returns its result row."""
    run_dir = args.out / name
    run_dir.mkdir(parents=True, exist_ok=True)
    configs = ["-c", BASE_CONFIG, "-c", f"configs/fusion/{name}.yaml"]
    common = configs + setting_args(args, run_dir)
    fit_seconds = run_cli(["fit", *common, "--trainer.logger.init_args.version", "fit"], run_dir / "fit.log",
                          args.threads)
    checkpoints = sorted((run_dir / "lightning_logs" / "fit" / "checkpoints").glob("best-*.ckpt"))
    if len(checkpoints) != 1:
        raise SystemExit(f"expected one best checkpoint for {name}, found {[c.name for c in checkpoints]}")
    best = checkpoints[0]
    run_cli(["test", *common, "--trainer.logger.init_args.version", "test", "--ckpt_path", str(best)],
            run_dir / "test.log", args.threads)
    test = last_metrics(run_dir / "lightning_logs" / "test" / "metrics.csv")
    val = last_metrics(run_dir / "lightning_logs" / "fit" / "metrics.csv")
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    return {
        "fusion": name,
        "family": FUSIONS.get(name).family,
        "test_acc": test["test/acc"],
        "test_relational": test["test/acc/family/relational"],
        "test_non_relational": test["test/acc/family/non-relational"],
        "last_val_acc": val.get("val/acc"),
        "best_checkpoint": best.name,
        "fusion_params": sum(v.numel() for k, v in state.items() if k.startswith("model.fusion.")),
        "model_params": sum(v.numel() for k, v in state.items() if k.startswith("model.")),
        "fit_seconds": round(fit_seconds, 1),
    }


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = [
        f"Sort-of-CLEVR, {args.num_images} images ({args.num_images - 400} train / 200 val / 200 test, 20 questions "
        f"each), {args.epochs} epochs, batch {args.batch_size}; test accuracy (%) of the best-val checkpoint.",
        "",
        "| fusion | family | relational | non-relational | overall | fusion params | fit time (s) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fusion']} | {r['family']} | {r['test_relational']:.1f} | {r['test_non_relational']:.1f} | "
            f"{r['test_acc']:.1f} | {r['fusion_params']:,} | {r['fit_seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fusions", nargs="+", default=list_fusions(), help="registered fusion names")
    parser.add_argument("--num-images", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the base config's)")
    parser.add_argument("--out", type=Path, default=Path("results/sort_of_clevr_sweep"))
    parser.add_argument(
        "--threads", type=int, default=1,
        help="CPU threads per run (OMP_NUM_THREADS); on a busy shared machine more threads wait on each other",
    )
    parser.add_argument("--force", action="store_true", help="rerun fusions that already have a result")
    args = parser.parse_args(argv)
    args.out = args.out if args.out.is_absolute() else REPO / args.out
    unknown = [n for n in args.fusions if n not in FUSIONS]
    if unknown:
        parser.error(f"unknown fusions {unknown}; registered: {', '.join(list_fusions())}")
    setting = {"num_images": args.num_images, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
    results_file = args.out / "results.json"
    saved = json.loads(results_file.read_text()) if results_file.exists() else {"setting": setting, "fusions": {}}
    if saved["setting"] != setting:
        raise SystemExit(f"{results_file} holds results for {saved['setting']}, not {setting}: choose another --out")
    results = saved["fusions"]
    for name in args.fusions:
        if name in results and not args.force:
            print(f"{name}: already done, skipped", flush=True)
            continue
        results[name] = sweep_one(name, args)
        print(json.dumps(results[name]), flush=True)
        write_json(results_file, {"setting": setting, "fusions": results})
    table = markdown([results[n] for n in args.fusions if n in results], args)
    write_text(args.out / "results.md", table)
    print(table)


if __name__ == "__main__":
    main()
