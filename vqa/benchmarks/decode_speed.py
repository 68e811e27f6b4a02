"""`vqa speed decode`: accuracy and throughput of a generator head's decoding modes on a test split, as a table.

    vqa speed decode -c configs/easy_vqa.yaml -c configs/fusion/cross_attention.yaml \\
        --ckpt runs/.../checkpoints/best.ckpt --batch-size 256 --beams 1 3 5   # plus any `vqa fit` override

The model is the checkpoint (trained with `--model.head generator`); the configs give the data. For each mode
(greedy, beam search with each `--beams`, rank over the training answers, and the likelihood-ranked answer
vocabulary that `mode="classify"` uses) every test question is answered in batches of `--batch-size`, scored
with the official VQA accuracy (answers outside the answer vocabulary against the human answers), and timed:
questions/s of the decoding alone (the fused streams are computed once per batch, outside the clock) and of
the whole answer (encoders + fusion + decoding).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import torch
from rich.console import Console
from rich.table import Table

from vqa.benchmarks.arguments import add_common_arguments, set_threads
from vqa.evaluation.metrics import class_scores, generated_classes, score_outside_vocabulary
from vqa.training.checkpoint_file import safe_load_checkpoint

console = Console()


def build(configs: Sequence[str], checkpoint: str, batch_size: int, overrides: Sequence[str] = ()):
    """The trained module (eval mode) and its data module, built as `vqa test` would (`overrides`: any `vqa fit`
    argument, e.g. the data's cache folder)."""
    from vqa.training.cli import build_cli

    args = [a for config in configs for a in ("-c", config)] + list(overrides)
    args += ["--model.head=generator", f"--data.eval_batch_size={batch_size}", "--trainer.logger=false"]
    state = safe_load_checkpoint(checkpoint)
    hyper = state.get("hyper_parameters", {})
    for name in ("decoder_dim", "decoder_layers", "decoder_heads", "answer_max_length"):
        if name in hyper:  # the decoder's shape as trained
            args.append(f"--model.{name}={hyper[name]}")
    cli = build_cli(args, run=False)
    module = cli.model
    module.load_state_dict(state["state_dict"])
    datamodule = cli.datamodule
    datamodule.setup("test")
    return module.eval(), datamodule


def score(module, datamodule, ids: torch.Tensor, batch: dict) -> torch.Tensor:
    """VQA scores [B] of generated answers (outside the vocabulary: against the test records), as `vqa test`."""
    classes = generated_classes(ids, module.model.answer_table)
    written = [module.answer_tokens.decode(row) for row in ids.tolist()]
    scores = class_scores(classes, batch["answer_ids"], batch["answer_scores"])
    return score_outside_vocabulary(scores, classes, written, batch["index"], datamodule.split("test").records)


@torch.inference_mode()
def measure(module, datamodule, modes: list[tuple[str, str, int]], max_batches: int | None) -> list[dict]:
    """One row per mode: accuracy (%), decoding questions/s, end-to-end questions/s."""
    batches = []
    for i, batch in enumerate(datamodule.test_dataloader()):
        if max_batches is not None and i >= max_batches:
            break
        batches.append(batch)
    rows = []
    for label, mode, beams in modes:
        total = count = 0.0
        decode_s = answer_s = 0.0
        for batch in batches:
            start = time.perf_counter()
            fused = module.fuse(batch)
            fused_at = time.perf_counter()
            if mode == "classify":
                likelihoods = module.model.answer_log_likelihoods(fused)
                ids = module.model.answer_table[likelihoods.argmax(1)]
            else:
                ids = module.model.generate(fused, mode, beams).ids
            end = time.perf_counter()
            decode_s += end - fused_at
            answer_s += end - start
            scores = score(module, datamodule, ids, batch)
            total += float(scores.sum())
            count += len(scores)
        rows.append(
            {
                "mode": label,
                "accuracy": 100.0 * total / max(count, 1),
                "questions": int(count),
                "decode_qps": count / max(decode_s, 1e-9),
                "answer_qps": count / max(answer_s, 1e-9),
            }
        )
    return rows


def render(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    for column in ("mode", "accuracy %", "questions", "decoding q/s", "whole answer q/s"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for row in rows:
        table.add_row(
            row["mode"],
            f"{row['accuracy']:.2f}",
            str(row["questions"]),
            f"{row['decode_qps']:.0f}",
            f"{row['answer_qps']:.0f}",
        )
    return table


def main(args: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="vqa speed decode", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", required=True, help="checkpoint of a model trained with --model.head generator")
    parser.add_argument("--batch-size", type=int, default=256, help="questions per batch (default 256)")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 3, 5], help="beam widths (default 1 3 5)")
    parser.add_argument("--max-batches", type=int, default=None, help="only the first N test batches")
    add_common_arguments(parser, json_report="the rows")
    options, overrides = parser.parse_known_args(args)
    set_threads(options)
    module, datamodule = build(options.config, options.ckpt, options.batch_size, overrides)
    modes = [("greedy", "greedy", 1)] + [(f"beam {k}", "beam", k) for k in options.beams]
    modes += [
        ("rank (top 128 of the training answers)", "rank", 1),
        ("classify (all answers by likelihood)", "classify", 1),
    ]
    rows = measure(module, datamodule, modes, options.max_batches)
    console.print(
        render(rows, f"decoding on the test split, batch {options.batch_size}, {torch.get_num_threads()} threads")
    )
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
