"""`vqa speed`: training and inference speed of any model built from `vqa fit` config files.

The model is built exactly as `vqa fit` builds it (same config files, same CLI, same `VQALitModule`), then fed
random inputs of the shapes and dtypes the configured data produce. A training step is what Lightning runs:
forward and loss under the chosen precision, backward, gradient clipping if the config sets it, the fused AdamW
step and `zero_grad`. FLOPs of one step are counted with `torch.utils.flop_counter.FlopCounterMode`.

    vqa speed -c configs/speed/mcan_small.yaml --device cuda --precision bf16 --compile \\
        --batch-sizes 128 256 512 --steps 50 --warmup 10 --json results/speed/mcan_small.json
    vqa speed -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --batch-sizes 64 512
    vqa speed -c configs/speed/vilt_b32.yaml --model.fusion.init_args.num_layers=2  # any config override
    vqa speed data --help           # easy-VQA data pipeline: in-memory vs per-sample PNG decoding
    vqa speed curves --help         # loss curves with and without the fast path, on a fixed seed
    vqa speed predict --help        # single-question latency and batched throughput of trained models
    vqa speed feature-cache --help  # a benchmark grid with and without the feature cache
    vqa speed scale --help          # VQA v2-sized data (10%-300%): set-up time, memory, the parse cache
    vqa speed decode --help         # greedy / beam / rank decoding of a generator head: accuracy, questions/s
"""

from __future__ import annotations

import argparse
import copy
import importlib
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from vqa.benchmarks.arguments import add_common_arguments, config_arguments, set_threads
from vqa.benchmarks.timing import peak_memory_gib, reset_peak_memory, time_repeated
from vqa.data.datamodule import VQADataModule
from vqa.errors import VQAError
from vqa.io import write_json
from vqa.training.cli import VQACLI, build_cli
from vqa.training.module import VQALitModule, soft_targets

# Lightning precision settings -> what the benchmark runs.
PRECISIONS = {"32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16"}
# `vqa speed <name> ...`: name -> (one line for `vqa speed --help`, "module:function" taking the other arguments).
SUBCOMMANDS = {
    "data": ("easy-VQA data pipeline: in-memory vs per-sample PNG decoding", "vqa.benchmarks.data_pipeline:main"),
    "curves": ("loss curves with and without the fast path, on a fixed seed", "vqa.benchmarks.curves:main"),
    "predict": ("latency and batched throughput of trained models", "vqa.benchmarks.predict_speed:main"),
    "feature-cache": ("a benchmark grid with and without the feature cache", "vqa.benchmarks.feature_cache:main"),
    "serve": ("vqa serve under load: concurrent clients, batched vs one at a time", "vqa.benchmarks.serve_load:main"),
    "scale": ("VQA v2-sized data: set-up time and memory, 10%-300%; the feature cache", "vqa.benchmarks.scale:main"),
    "decode": ("a generator head's decoding modes: accuracy and questions/s", "vqa.benchmarks.decode_speed:main"),
}


@dataclass
class InputSpec:
    """Shapes and dtypes of one question's inputs, read from the configured data."""

    image_shape: tuple[int, ...]
    image_dtype: torch.dtype
    text_length: int
    vocab_size: int
    pad_id: int
    num_answers: int
    answer_width: int
    num_groups: int

    @classmethod
    def from_datamodule(cls, datamodule: VQADataModule) -> InputSpec:
        dataset = datamodule.dataset("train")
        example = dataset.__getitems__([0])
        vocab = datamodule.vocab
        return cls(
            image_shape=tuple(example["images"].shape[1:]),
            image_dtype=example["images"].dtype,
            text_length=dataset.token_ids.shape[1],  # the longest training question
            vocab_size=vocab.tokenizer.vocab_size,
            pad_id=vocab.tokenizer.pad_id,
            num_answers=len(vocab.answers),
            answer_width=dataset.answer_ids.shape[1],
            num_groups=len(vocab.groups),
        )


def build_from_configs(config_args: Sequence[str], **kwargs: Any) -> VQACLI:
    """Parse and instantiate `vqa fit`'s CLI (trainer, model, datamodule) from config arguments; run nothing."""
    return build_cli(list(config_args), run=False, **kwargs)


def random_batch(spec: InputSpec, batch_size: int, generator: torch.Generator) -> dict[str, Tensor]:
    """A batch of `batch_size` questions with random content: one image each, every question token real."""
    shape = (batch_size, *spec.image_shape)
    if spec.image_dtype == torch.uint8:
        images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    else:
        images = torch.randn(shape, generator=generator).to(spec.image_dtype)
    token_ids = torch.randint(0, spec.vocab_size, (batch_size, spec.text_length), generator=generator)
    token_ids[token_ids == spec.pad_id] = (spec.pad_id + 1) % spec.vocab_size  # no padding inside questions
    return {
        "images": images,
        "image_index": torch.arange(batch_size),
        "token_ids": token_ids,
        "token_mask": torch.ones(batch_size, spec.text_length, dtype=torch.bool),
        "answer_ids": torch.randint(0, spec.num_answers, (batch_size, spec.answer_width), generator=generator),
        "answer_scores": torch.rand((batch_size, spec.answer_width), generator=generator),
        "groups": torch.zeros(batch_size, spec.num_groups, dtype=torch.bool),
        "index": torch.arange(batch_size),
    }


def training_flops(module: VQALitModule, batch: dict[str, Tensor]) -> int | None:
    """FLOPs of one training step's forward and backward passes (matmuls, convolutions, attention).

    Counted by `FlopCounterMode` on a copy of the (uncompiled, CPU) model on the meta device: no memory, no
    time, and every op in its decomposed form (so cuDNN RNN kernels, which the counter does not know, are counted
    too). Returns None when the model cannot run on the meta device. The optimizer step is not counted.
    """
    model = copy.deepcopy(module.model).to("meta")
    meta = {key: torch.empty_like(value, device="meta") for key, value in batch.items()}
    meta["token_mask"] = meta["token_mask"].fill_(True)
    try:
        with FlopCounterMode(display=False) as counter:
            logits = model(meta["images"], meta["token_ids"], meta["token_mask"], meta["image_index"])
            targets = soft_targets(meta["answer_ids"], meta["answer_scores"], logits.shape[-1])
            module.compute_loss(logits, targets).backward()
    except (RuntimeError, NotImplementedError, ValueError) as error:
        print(f"note: FLOPs not counted, the model does not run on the meta device ({error})")
        return None
    return int(counter.get_total_flops())


def training_step(
    module: VQALitModule, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor], bf16: bool, clip: float | None
) -> Tensor:
    """One optimizer step as Lightning runs it: forward and loss (under bf16 autocast if asked), backward,
    gradient clipping by norm if `clip`, optimizer step, `zero_grad`. Returns the loss, still on the device."""
    with torch.autocast(module.device.type, dtype=torch.bfloat16, enabled=bf16):
        loss = module.step_loss(batch, "train")
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_([p for p in module.parameters() if p.requires_grad], clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def measure(
    module: VQALitModule,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, Tensor],
    steps: int,
    warmup: int,
    bf16: bool,
    clip: float | None,
    inference: bool,
) -> dict[str, Any]:
    """Time `steps` training steps (after `warmup` untimed ones) and as many inference passes on one batch."""
    device = module.device

    def train_step() -> Tensor:
        return training_step(module, optimizer, batch, bf16, clip)

    def inference_step() -> Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return module(batch)

    module.train()
    reset_peak_memory(device)
    time_repeated(train_step, warmup, device)
    train_seconds, losses = time_repeated(train_step, steps, device)
    result: dict[str, Any] = {"train_seconds": train_seconds, "train_peak_gib": peak_memory_gib(device)}
    loss_values = torch.stack(losses).float().cpu()  # read back once, after the timed loop
    result["loss_first"], result["loss_last"] = float(loss_values[0]), float(loss_values[-1])
    result["loss_finite"] = bool(torch.isfinite(loss_values).all())
    if inference:
        module.eval()
        with torch.inference_mode():
            reset_peak_memory(device)
            time_repeated(inference_step, warmup, device)
            result["inference_seconds"], _ = time_repeated(inference_step, steps, device)
            result["inference_peak_gib"] = peak_memory_gib(device)
        module.train()
    return result


def add_rates(row: dict[str, Any], steps: int, flops: int | None, peak_tflops: float | None) -> dict[str, Any]:
    """Samples/s, ms/step, TFLOP/s (and % of `peak_tflops`) from the measured seconds of `steps` steps."""
    batch_size = row["batch_size"]
    if "train_seconds" in row:
        row["train_samples_per_s"] = batch_size * steps / row["train_seconds"]
        row["train_ms_per_step"] = 1000 * row["train_seconds"] / steps
        if flops is not None:
            row["train_tflop_per_s"] = flops * steps / row["train_seconds"] / 1e12
            if peak_tflops:
                row["percent_of_peak"] = 100 * row["train_tflop_per_s"] / peak_tflops
    if "inference_seconds" in row:
        row["inference_samples_per_s"] = batch_size * steps / row["inference_seconds"]
    return row


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def run(args: argparse.Namespace, config_args: Sequence[str]) -> dict[str, Any]:
    """Build the configured model and measure it at every batch size; returns the report."""
    device = torch.device(args.device)
    if args.tf32:
        torch.set_float32_matmul_precision("high")
    overrides = ["--model.compile=true"] if args.compile else []
    cli = build_from_configs(list(config_args) + overrides)
    module, datamodule = cli.model, cli.datamodule
    precision = args.precision or PRECISIONS.get(str(cli.trainer.precision))
    if precision is None:
        raise VQAError(
            f"the benchmark runs fp32 or bf16; the config's trainer.precision is "
            f"{cli.trainer.precision!r}: pass --precision fp32 or --precision bf16"
        )
    spec = InputSpec.from_datamodule(datamodule)
    batches = {b: random_batch(spec, b, torch.Generator().manual_seed(args.seed)) for b in args.batch_sizes}
    flops = {b: training_flops(module, batch) for b, batch in batches.items()}
    module.configure_model()  # compiles the model when `--compile` (the path `vqa fit` takes)
    module.to(device)
    optimizer = module.build_optimizer()
    clip = cli.trainer.gradient_clip_val
    report: dict[str, Any] = {
        "config": list(config_args),
        "device": device_name(device),
        "precision": precision,
        "compile": args.compile,
        "tf32": args.tf32,
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "trainable_parameters": sum(p.numel() for p in module.model.parameters() if p.requires_grad),
        "inputs": {**asdict(spec), "image_dtype": str(spec.image_dtype)},
        "gradient_clip_val": clip,
        "steps": args.steps,
        "warmup": args.warmup,
        "rows": [],
    }
    for batch_size, cpu_batch in batches.items():
        row: dict[str, Any] = {"batch_size": batch_size, "train_gflop_per_sample": None}
        if flops[batch_size] is not None:
            row["train_gflop_per_sample"] = flops[batch_size] / batch_size / 1e9
        try:
            batch = {k: v.pin_memory() if device.type == "cuda" else v for k, v in cpu_batch.items()}
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            row.update(
                measure(
                    module, optimizer, batch, args.steps, args.warmup, precision == "bf16", clip, not args.no_inference
                )
            )
        except torch.cuda.OutOfMemoryError:
            row["error"] = "out of memory"
        finally:
            batch = None
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        report["rows"].append(add_rates(row, args.steps, flops[batch_size], args.peak_tflops))
        if args.verbose:
            print(format_row(row), flush=True)
        if "error" in row:
            break  # larger batches will not fit either
    return report


COLUMNS = [
    ("batch", "batch_size", "{:d}"),
    ("train samples/s", "train_samples_per_s", "{:,.1f}"),
    ("ms/step", "train_ms_per_step", "{:,.1f}"),
    ("GFLOP/sample", "train_gflop_per_sample", "{:.2f}"),
    ("train TFLOP/s", "train_tflop_per_s", "{:.3f}"),
    ("% of peak", "percent_of_peak", "{:.1f}"),
    ("infer samples/s", "inference_samples_per_s", "{:,.1f}"),
    ("peak GiB (train)", "train_peak_gib", "{:.2f}"),
    ("loss first->last", None, None),
]


def format_row(row: dict[str, Any]) -> str:
    return " | ".join(_cell(row, key, fmt) for _, key, fmt in COLUMNS)


def _cell(row: dict[str, Any], key: str | None, fmt: str | None) -> str:
    if key is None:
        return f"{row['loss_first']:.3f}->{row['loss_last']:.3f}" if "loss_first" in row else row.get("error", "")
    value = row.get(key)
    return "-" if value is None else fmt.format(value)


def format_report(report: dict[str, Any]) -> str:
    """A Markdown table of the rows, preceded by what was measured."""
    rows = report["rows"]
    columns = [c for c in COLUMNS if c[1] is None or any(r.get(c[1]) is not None for r in rows)]
    memory = "peak allocated by tensors" if "CPU" not in report["device"] else "peak RSS of the whole process"
    lines = [
        f"config: {' '.join(report['config'])}",
        f"device: {report['device']}; precision: {report['precision']}; compile: {report['compile']}; "
        f"torch {report['torch']}; {report['parameters'] / 1e6:.1f}M parameters "
        f"({report['trainable_parameters'] / 1e6:.1f}M trainable); {report['steps']} timed steps after "
        f"{report['warmup']} warm-up; random inputs already on the device (data loading not timed); "
        f"memory = {memory}",
        "",
        "| " + " | ".join(c[0] for c in columns) + " |",
        "|" + "|".join("---:" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row, key, fmt) for _, key, fmt in columns) + " |")
    if any(not r.get("loss_finite", True) for r in rows):
        lines.append("WARNING: a training loss was not finite")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vqa speed",
        usage="vqa speed [-c CONFIG ...] [options]  |  vqa speed {" + ",".join(SUBCOMMANDS) + "} ...",
        description="Training and inference speed of a model built from `vqa fit` config files.\nArguments not "
        "listed here (e.g. --model.fusion.init_args.num_layers=2) are passed to the config parser.",
        epilog="sub-commands (`vqa speed <name> --help`):\n"
        + "\n".join(f"  {name:<13}  {summary}" for name, (summary, _) in SUBCOMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(p)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default=None,
        help="fp32, or bf16 autocast (Lightning's bf16-mixed); default: the config's trainer.precision. "
        "The loss is computed in fp32 either way",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model (model.compile=true)")
    p.add_argument(
        "--tf32", action="store_true", help="allow TF32 matmuls for fp32 (set_float32_matmul_precision high)"
    )
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32], help="questions per step")
    p.add_argument("--steps", type=int, default=20, help="timed steps per batch size")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, autotuning, caches)")
    p.add_argument("--no-inference", action="store_true", help="time training only")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's peak TFLOP/s at this precision, to report the fraction reached",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--verbose", action="store_true", help="print each row as soon as it is measured")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Entry point of `vqa speed`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module_name, function = SUBCOMMANDS[argv[0]][1].split(":")
        return getattr(importlib.import_module(module_name), function)(argv[1:])
    args, extra = parser().parse_known_args(argv)
    set_threads(args)
    report = run(args, config_arguments(args, extra))
    print(format_report(report))
    if args.json is not None:
        write_json(args.json, report)
    return report


if __name__ == "__main__":
    from vqa.cli import main as vqa_main

    vqa_main(["speed", *sys.argv[1:]])  # the `vqa` entry point prints user errors as one line
