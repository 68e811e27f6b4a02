"""`vqa speed data`: an easy-VQA training epoch through our in-memory path vs per-sample PNG decoding.

Variants, each run back to back `--repeats` times (medians reported, since the machine may be shared):

* `memory`: our path. Every image was decoded once, at setup, into one uint8 tensor; `EncodedVQADataset`
  cuts whole batches of image-grouped questions out of it (`__getitems__`), images stay uint8 until the model
  scales them on the device.
* `memory-ungrouped`: the same, with questions shuffled freely (one image per question, as below).
* `png-wN`: the classic path. A `Dataset` whose `__getitem__` opens the question's PNG file with PIL and
  converts it to a float tensor in [0, 1] (torchvision's `to_tensor`), batched by the default collate, with N
  worker processes. It gets the same pre-tokenized questions and answers, so only the image path differs.

Each variant is timed twice: the data alone for one epoch (every batch is produced, nothing else), and the data
plus the model's training step for `--model-steps` batches (the model of the given config, fp32, on the CPU).

    vqa speed data -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate
from torchvision.transforms.functional import to_tensor

from vqa.benchmarks.arguments import add_common_arguments, config_arguments, set_threads
from vqa.benchmarks.speed import build_from_configs, training_step
from vqa.benchmarks.timing import stopwatch
from vqa.data.datamodule import VQADataModule
from vqa.data.dataset import EncodedVQADataset
from vqa.data.sources.easy_vqa import EasyVQA, package_data_dir
from vqa.errors import VQAError
from vqa.io import write_json

DEFAULT_CONFIGS = ("configs/easy_vqa.yaml", "configs/fusion/cross_attention.yaml")


class PNGPerSampleDataset(Dataset):
    """The classic per-sample baseline: question i's image is read from its PNG file on every access.

    Args:
        paths: the image file of each question.
        encoded: the same split, already tokenized (questions, answers, groups are taken from it).
    """

    def __init__(self, paths: Sequence[Path], encoded: EncodedVQADataset) -> None:
        if len(paths) != len(encoded):
            raise ValueError(f"{len(paths)} image paths for {len(encoded)} questions")
        self.paths = list(paths)
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        with Image.open(self.paths[index]) as image:
            pixels = to_tensor(image.convert("RGB"))  # (3, H, W) float in [0, 1]
        e = self.encoded
        return {
            "images": pixels,
            "token_ids": e.token_ids[index],
            "token_mask": e.token_mask[index],
            "answer_ids": e.answer_ids[index],
            "answer_scores": e.answer_scores[index],
            "groups": e.groups[index],
            "index": torch.tensor(index),
        }


def collate_per_sample(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """The default collate, plus `image_index` (question i is about image i of the batch)."""
    batch = default_collate(samples)
    batch["image_index"] = torch.arange(len(samples))
    return batch


def easy_vqa_image_paths(datamodule: VQADataModule, split: str = "train") -> list[Path]:
    """The PNG file of every question of an easy-VQA split (the validation split is carved from `train/`)."""
    source = datamodule.source
    if not isinstance(source, EasyVQA):
        raise VQAError(
            f"the data benchmark reads easy-VQA's PNG files; the config's data source is {type(source).__name__}"
        )
    folder = (source.root or package_data_dir()) / ("test" if split == "test" else "train") / "images"
    return [folder / f"{record.meta['image_id']}.png" for record in datamodule.dataset(split).records]


def train_loader(datamodule: VQADataModule, group_by_image: bool) -> DataLoader:
    """The datamodule's own training loader, with or without image grouping."""
    configured = datamodule.group_by_image
    datamodule.group_by_image = group_by_image
    try:
        return datamodule.train_dataloader()
    finally:
        datamodule.group_by_image = configured


def loaders(datamodule: VQADataModule, png_workers: Sequence[int]) -> dict[str, DataLoader]:
    """The training loaders of every variant, all with the config's batch size and a fixed shuffling seed."""
    result = {"memory": train_loader(datamodule, True), "memory-ungrouped": train_loader(datamodule, False)}
    baseline = PNGPerSampleDataset(easy_vqa_image_paths(datamodule), datamodule.dataset("train"))
    for workers in png_workers:
        result[f"png-w{workers}"] = DataLoader(
            baseline,
            batch_size=datamodule.batch_size,
            shuffle=True,
            num_workers=workers,
            collate_fn=collate_per_sample,
            generator=torch.Generator().manual_seed(0),
        )
    return result


def data_epoch(loader: DataLoader) -> int:
    """Produce every batch of one epoch; returns the number of questions seen."""
    return sum(batch["token_ids"].shape[0] for batch in loader)


def run(args: argparse.Namespace, config_args: Sequence[str]) -> dict[str, Any]:
    cli = build_from_configs(config_args)
    module, datamodule = cli.model, cli.datamodule
    with stopwatch() as setup:  # the in-memory path's one-time cost: decode every PNG of the split once
        fresh = VQADataModule(type(datamodule.source)(**datamodule.source.init_args), datamodule.tokenizer)
        EncodedVQADataset(fresh.split("train"), datamodule.vocab)
    variants = loaders(datamodule, args.png_workers)
    optimizer = module.build_optimizer()
    clip = cli.trainer.gradient_clip_val
    questions = len(datamodule.dataset("train"))
    epoch: dict[str, list[float]] = {name: [] for name in variants}
    with_model: dict[str, list[float]] = {name: [] for name in variants}
    training_step(module, optimizer, next(iter(variants["memory"])), bf16=False, clip=clip)  # warm-up, untimed
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for name, loader in variants.items():  # back to back, so every variant sees the same machine load
            with stopwatch() as elapsed:
                seen = data_epoch(loader)
            if seen != questions:
                raise RuntimeError(f"{name}: an epoch gave {seen} questions, expected {questions}")
            epoch[name].append(elapsed[0])
        if args.model_steps:
            for name, loader in variants.items():
                if name.startswith("png-w") and name != f"png-w{args.png_workers[0]}":
                    continue  # the model step is timed with the first baseline setting only
                with stopwatch() as elapsed:
                    for batch in islice(loader, args.model_steps):
                        training_step(module, optimizer, batch, bf16=False, clip=clip)
                with_model[name].append(elapsed[0])
        load.append(os.getloadavg()[0])
    reference = statistics.median(epoch["memory"])
    rows = []
    for name in variants:
        row: dict[str, Any] = {"variant": name, "epoch_s": statistics.median(epoch[name]), "epoch_runs_s": epoch[name]}
        row["epoch_slowdown_vs_memory"] = row["epoch_s"] / reference
        if with_model[name]:
            row["model_steps_s"] = statistics.median(with_model[name])
            row["model_steps_runs_s"] = with_model[name]
            row["model_steps_slowdown_vs_memory"] = row["model_steps_s"] / statistics.median(with_model["memory"])
        rows.append(row)
    return {
        "config": list(config_args),
        "questions_per_epoch": questions,
        "batch_size": datamodule.batch_size,
        "batches_per_epoch": len(variants["memory"]),
        "model_steps": args.model_steps,
        "setup_decode_s": setup[0],
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": load,
        "rows": rows,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"config: {' '.join(report['config'])}",
        f"{report['questions_per_epoch']} training questions, batch {report['batch_size']} "
        f"({report['batches_per_epoch']} batches with image grouping); {report['cpu_count']} CPU cores, "
        f"{report['torch_threads']} torch threads; 1-min load average during the run: "
        + ", ".join(f"{x:.1f}" for x in report["load_average_1min"]),
        f"in-memory setup (decode every training PNG once, tokenize): {report['setup_decode_s']:.1f} s",
        f"medians of {report['repeats']} back-to-back runs; slowdown = time / time of `memory`",
        "",
        f"| variant | data epoch s | slowdown | data + model, {report['model_steps']} steps s | slowdown |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        model = (
            f"{row['model_steps_s']:.1f} | {row['model_steps_slowdown_vs_memory']:.2f}x"
            if "model_steps_s" in row
            else "- | -"
        )
        lines.append(f"| {row['variant']} | {row['epoch_s']:.2f} | {row['epoch_slowdown_vs_memory']:.2f}x | {model} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vqa speed data",
        description="easy-VQA training epoch: in-memory uint8 path vs per-sample PNG decoding (CPU). Arguments not "
        "listed here go to the config parser.",
    )
    add_common_arguments(p, default_configs=DEFAULT_CONFIGS)
    p.add_argument("--repeats", type=int, default=3, help="runs of each variant (medians reported)")
    p.add_argument("--png-workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers of the PNG baseline")
    p.add_argument("--model-steps", type=int, default=10, help="training steps timed with the model (0 = data only)")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args, extra = parser().parse_known_args(argv)
    set_threads(args)
    report = run(args, config_arguments(args, extra, DEFAULT_CONFIGS))
    print(format_report(report))
    if args.json is not None:
        write_json(args.json, report)
    return report
