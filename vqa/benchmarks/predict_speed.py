"""`vqa speed predict`: inference speed of the Predictor, single-question latency and batched throughput, as tables.

    vqa speed predict                              # easy-VQA-sized models of each demo fusion
    vqa speed predict --model runs/.../last.ckpt   # your trained checkpoints or bundles
    vqa speed predict --device cuda

The workload is real: easy-VQA test images (64x64 PNG files, decoded on every call) and their questions, about
ten per image. Without `--model`, each model is built from `configs/easy_vqa.yaml` plus a fusion file with random
weights (speed does not depend on the weight values).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

import torch

from vqa.benchmarks.arguments import add_common_arguments, set_threads
from vqa.benchmarks.timing import time_each
from vqa.inference.predictor import Predictor, load

FUSION_CONFIGS = ("configs/fusion/early.yaml", "configs/fusion/late.yaml", "configs/fusion/cross_attention.yaml")


def easy_vqa_workload(count: int) -> tuple[list[Path], list[str]]:
    """The first `count` easy-VQA test questions with the PNG file of each one's image."""
    from vqa.data.sources.easy_vqa import EasyVQA, package_data_dir

    records = EasyVQA().read("test").records[:count]
    folder = package_data_dir() / "test" / "images"
    return [folder / f"{r.meta['image_id']}.png" for r in records], [r.question for r in records]


def random_init_predictor(fusion_config: str, device: str) -> Predictor:
    """The model `vqa fit -c configs/easy_vqa.yaml -c <fusion_config>` would train, untrained."""
    from vqa.training.cli import build_cli

    cli = build_cli(["-c", "configs/easy_vqa.yaml", "-c", fusion_config, "--trainer.logger=false"], run=False)
    return Predictor(cli.model.model, cli.model.vocab, device=device)


def measure(
    predictor: Predictor, files: list[Path], questions: list[str], repeats: int, batch_sizes: Sequence[int]
) -> dict:
    """Latency (ms) of one question from a file and from a decoded tensor; throughput (questions/s) of a loop of
    single calls and of `answer_batch` at each batch size."""
    device = predictor.device
    tensor = predictor.preprocess(files[0])
    row: dict[str, float] = {}
    for name, image in (("file", files[0]), ("tensor", tensor)):
        times = sorted(time_each(lambda image=image: predictor.answer(image, questions[0]), repeats, device))
        row[f"{name}_median"] = 1e3 * statistics.median(times)
        row[f"{name}_p90"] = 1e3 * times[int(0.9 * (len(times) - 1))]
    loop = time_each(lambda: [predictor.answer(f, q) for f, q in zip(files, questions)], 1, device, warmup=0)
    row["loop"] = len(questions) / min(loop)  # already warm from the latency runs
    for batch_size in batch_sizes:
        predictor.batch_size = batch_size
        batch = time_each(lambda: predictor.answer_batch(files, questions), 3, device, warmup=1)
        row[f"batch{batch_size}"] = len(questions) / min(batch)
    return row


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vqa speed predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="*", default=None, help="checkpoints or bundles (default: random-init demo models)")
    p.add_argument(
        "--fusion-config", nargs="*", default=list(FUSION_CONFIGS), help="fusion files for random-init models"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    add_common_arguments(p, configs=False, json_report=None)
    p.add_argument("--repeats", type=int, default=30, help="timed single-question calls")
    p.add_argument("--questions", type=int, default=256, help="questions in the throughput workload")
    p.add_argument("--batch-sizes", type=int, nargs="*", default=[16, 64, 256], help="answer_batch batch sizes")
    return p


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of `vqa speed predict`."""
    options = parser().parse_args(args)
    set_threads(options)
    files, questions = easy_vqa_workload(options.questions)
    if options.model:
        predictors = {str(path): load(path, device=options.device) for path in options.model}
    else:
        predictors = {Path(c).stem: random_init_predictor(c, options.device) for c in options.fusion_config}
    rows = {name: measure(p, files, questions, options.repeats, options.batch_sizes) for name, p in predictors.items()}

    first = next(iter(predictors.values()))
    print(
        f"\ndevice {first.device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"images resized to {first.image_size}; workload: {len(questions)} easy-VQA test questions about "
        f"{len(set(files))} PNG files\n"
    )
    print("Single question (`answer`, top-1): latency in ms, median / p90 of", options.repeats, "calls\n")
    print("| model | parameters | image file | decoded tensor |")
    print("|---|---:|---:|---:|")
    for name, row in rows.items():
        params = sum(p.numel() for p in predictors[name].model.parameters())
        print(
            f"| {name} | {params / 1e6:.2f} M | {row['file_median']:.2f} / {row['file_p90']:.2f} "
            f"| {row['tensor_median']:.2f} / {row['tensor_p90']:.2f} |"
        )
    print("\nThroughput in questions/s (best of 3; images decoded from files, each distinct image encoded once)\n")
    print(
        "| model | loop of `answer` | " + " | ".join(f"`answer_batch`, batch {b}" for b in options.batch_sizes) + " |"
    )
    print("|---|---:|" + "---:|" * len(options.batch_sizes))
    for name, row in rows.items():
        print(
            f"| {name} | {row['loop']:.0f} | "
            + " | ".join(f"{row[f'batch{b}']:.0f}" for b in options.batch_sizes)
            + " |"
        )


if __name__ == "__main__":
    main()
