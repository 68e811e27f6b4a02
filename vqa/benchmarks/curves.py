"""`vqa speed curves`: the same loss curve with and without the fast path, on a fixed seed.

Every variant trains the configured model for `--steps` optimizer steps through the real `vqa fit` path
(LightningCLI, `VQALitModule`, the datamodule's batches in the same order), changing only the precision
(fp32 or Lightning's bf16-mixed) and `model.compile`. One more run, fp32 with another seed (another
initialization, same batches), measures the noise: a fast-path curve is "within noise" when it stays closer to
the fp32 curve than that run does.

    vqa speed curves -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml --steps 60
    vqa speed curves -c configs/speed/mcan_small.yaml --device cuda --steps 300 --batch-size 256
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from vqa.benchmarks.arguments import add_common_arguments, config_arguments, set_threads
from vqa.benchmarks.speed import build_from_configs
from vqa.io import write_json

# name -> (Lightning precision, model.compile, seed offset)
VARIANTS: dict[str, tuple[str, bool, int]] = {
    "fp32": ("32-true", False, 0),
    "bf16": ("bf16-mixed", False, 0),
    "fp32+compile": ("32-true", True, 0),
    "bf16+compile": ("bf16-mixed", True, 0),
    "fp32,other-seed": ("32-true", False, 1),
}
REFERENCE, NOISE = "fp32", "fp32,other-seed"


class LossRecorder(pl.Callback):
    """Keeps every training step's loss on the device; they are read back once, after training."""

    def __init__(self) -> None:
        self.losses: list[Tensor] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.losses.append(outputs["loss"].detach())

    def values(self) -> list[float]:
        return torch.stack(self.losses).float().cpu().tolist() if self.losses else []


def train_curve(config_args: Sequence[str], variant: str, steps: int, device: str, seed: int) -> list[float]:
    """Train one variant for `steps` steps; returns the loss of every step."""
    precision, compile_model, seed_offset = VARIANTS[variant]
    overrides = [
        f"--seed_everything={seed + seed_offset}",
        f"--trainer.precision={precision}",
        f"--model.compile={str(compile_model).lower()}",
        f"--trainer.max_steps={steps}",
        "--trainer.max_epochs=-1",
        f"--trainer.accelerator={'gpu' if device.startswith('cuda') else 'cpu'}",
        "--trainer.devices=1",
        "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0",
        "--trainer.logger=false",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.callbacks=[]",
    ]
    cli = build_from_configs([*config_args, *overrides], save_config_callback=None)
    recorder = LossRecorder()
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    losses = recorder.values()
    if len(losses) != steps:
        raise RuntimeError(f"{variant}: recorded {len(losses)} losses for {steps} steps")
    return losses


def window_means(values: Sequence[float], window: int) -> list[float]:
    """Means of consecutive windows of `window` values (the last may be shorter)."""
    return [sum(values[i : i + window]) / len(values[i : i + window]) for i in range(0, len(values), window)]


def mean_relative_gap(curve: Sequence[float], reference: Sequence[float]) -> float:
    """Mean over points of |curve - reference| / |reference|."""
    return sum(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(curve, reference)) / len(reference)


def compare(curves: dict[str, list[float]], window: int) -> dict[str, Any]:
    """Window-averaged curves, each variant's gap to fp32, and the verdict against the other-seed gap."""
    smooth = {name: window_means(values, window) for name, values in curves.items()}
    gaps = {name: mean_relative_gap(smooth[name], smooth[REFERENCE]) for name in curves if name != REFERENCE}
    noise = gaps.get(NOISE)
    verdicts = {name: (None if noise is None else gap <= noise) for name, gap in gaps.items() if name != NOISE}
    return {"window": window, "smoothed": smooth, "gap_to_fp32": gaps, "noise_gap": noise, "within_noise": verdicts}


def format_report(report: dict[str, Any]) -> str:
    comparison = report["comparison"]
    names = list(report["curves"])
    window = comparison["window"]
    lines = [
        f"config: {' '.join(report['config'])}; device {report['device']}; {report['steps']} steps; seed {report['seed']}",
        f"training loss, mean of each window of {window} steps:",
        "",
        "| steps | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for i in range(len(comparison["smoothed"][names[0]])):
        first, last = i * window + 1, min((i + 1) * window, report["steps"])
        cells = " | ".join(f"{comparison['smoothed'][name][i]:.4f}" for name in names)
        lines.append(f"| {first}-{last} | {cells} |")
    lines += ["", "mean relative gap of the windowed curve to fp32:"]
    for name, gap in comparison["gap_to_fp32"].items():
        verdict = comparison["within_noise"].get(name)
        note = "" if verdict is None else ("  within noise" if verdict else "  LARGER THAN NOISE")
        lines.append(f"  {name}: {100 * gap:.3f}%{note}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vqa speed curves",
        description="Loss curves with and without the fast path (bf16 autocast, torch.compile) on a fixed seed. "
        "Arguments not listed here go to the config parser.",
    )
    add_common_arguments(p, json_report="curves and comparison")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    p.add_argument("--steps", type=int, default=60, help="optimizer steps per variant")
    p.add_argument("--window", type=int, default=10, help="steps averaged per point of the compared curves")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS), help="what to train")
    p.add_argument("--seed", type=int, default=0, help="seed of the reference runs")
    p.add_argument("--batch-size", type=int, default=None, help="override data.batch_size")
    return p


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args, extra = parser().parse_known_args(argv)
    set_threads(args)
    config_args = config_arguments(args, extra)
    if args.batch_size is not None:
        config_args.append(f"--data.batch_size={args.batch_size}")
    variants = list(dict.fromkeys([REFERENCE, *args.variants]))
    curves = {}
    for variant in variants:
        curves[variant] = train_curve(config_args, variant, args.steps, args.device, args.seed)
        print(f"{variant}: loss {curves[variant][0]:.4f} -> {curves[variant][-1]:.4f}", flush=True)
    report = {
        "config": config_args,
        "device": args.device,
        "steps": args.steps,
        "seed": args.seed,
        "torch": torch.__version__,
        "curves": curves,
        "comparison": compare(curves, args.window),
    }
    print(format_report(report))
    if args.json is not None:
        write_json(args.json, report)
    return report
