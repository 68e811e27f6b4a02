"""One measurement of the scale benchmark, run in a fresh process so that its peak memory is its own:
read VQA v2-shaped files into a `VQADataModule` as `vqa fit -c configs/vqa_v2.yaml` does, stage by stage.

    python -m vqa.benchmarks.setup_probe --data /tmp/vqa_v2_100 --cache-dir /tmp/vqa_v2_100/cache

Prints one JSON object: the seconds of each stage (imports, reader = every split read and checked, vocabulary,
datamodule = the training and validation splits encoded into tensors, first batch = the training loader's first
batch of decoded images, next batches), the peak resident memory after each stage (`ru_maxrss`: the process's
high-water mark, which never goes down) and the sizes read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


def peak_rss_gib() -> float:
    """The peak resident memory of this process so far, in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def vqa_v2_arguments(data: Path) -> dict[str, str]:
    """The `VQAv2` file arguments for the official file names under `data` (train2014 and val2014), as
    `vqa_v2_files.write_vqa_v2` writes them."""
    # Imported here, not at the top: it imports vqa.data, which `measure` times as the imports stage.
    from vqa.benchmarks.vqa_v2_files import official_files

    arguments = {}
    for split, subtype in (("train", "train2014"), ("val", "val2014")):
        questions, annotations, images = official_files(data, subtype)
        arguments |= {f"{split}_questions": str(questions), f"{split}_annotations": str(annotations)}
        arguments[f"{split}_images"] = str(images)
    return arguments


def measure(data: Path, cache_dir: str | None, batch_size: int, batches: int, image_size: int) -> dict[str, Any]:
    """Time each stage of setting up VQA v2 from `data` with the settings of configs/vqa_v2.yaml."""
    result: dict[str, Any] = {}
    started = time.perf_counter()
    from vqa.data import VQADataModule, VQAv2
    from vqa.models.encoders.tokenizer import WordTokenizer

    result["imports_s"] = time.perf_counter() - started
    result["imports_peak_gib"] = peak_rss_gib()
    # The cache argument is passed only when asked for, so that the probe also runs on code without the cache.
    cache = {} if cache_dir is None else {"cache_dir": cache_dir}
    source = VQAv2(**vqa_v2_arguments(data), image_size=(image_size, image_size), **cache)
    datamodule = VQADataModule(
        source,
        WordTokenizer(max_length=14),
        batch_size=batch_size,
        min_answer_count=9,
        max_answers=3129,
        group_by_image=False,
    )
    stages = {
        "reader": lambda: [datamodule.split(name) for name in ("train", "val", "test")],
        "vocab": lambda: datamodule.vocab,
        "datamodule": lambda: [datamodule.dataset(name) for name in ("train", "val")],
    }
    for name, stage in stages.items():
        begin = time.perf_counter()
        stage()
        result[f"{name}_s"] = time.perf_counter() - begin
        result[f"{name}_peak_gib"] = peak_rss_gib()
    result["setup_s"] = result["reader_s"] + result["vocab_s"] + result["datamodule_s"]
    begin = time.perf_counter()
    loader = iter(datamodule.train_dataloader())
    next(loader)
    result["first_batch_s"] = time.perf_counter() - begin
    begin = time.perf_counter()
    served = sum(1 for _ in itertools.islice(loader, batches))  # fewer when the split is that small
    result["next_batch_s"] = (time.perf_counter() - begin) / max(served, 1)
    result["peak_gib"] = peak_rss_gib()
    result["total_s"] = time.perf_counter() - started
    train, val = datamodule.dataset("train"), datamodule.dataset("val")
    result["sizes"] = {
        "train_questions": len(train),
        "val_questions": len(val),
        "train_images": len(datamodule.split("train").images),
        "val_images": len(datamodule.split("val").images),
        "answers": len(datamodule.vocab.answers),
        "words": datamodule.vocab.tokenizer.vocab_size,
    }
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Entry point of `python -m vqa.benchmarks.setup_probe`: prints the measurement as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m vqa.benchmarks.setup_probe", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="folder written by `vqa_v2_files.write_vqa_v2`")
    parser.add_argument("--cache-dir", default=None, help="the reader's parse cache (default: none)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=3, help="batches timed after the first")
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    result = measure(args.data, args.cache_dir, args.batch_size, args.batches, args.image_size)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
