"""`vqa data`: generate synthetic sets, show dataset statistics, write and score benchmark results files.

    vqa data generate -c configs/clevr_like.yaml
    vqa data stats    -c configs/vqa_v2.yaml [--json stats.json] [--top-answers 10]
    vqa data submit   --predictions runs/.../predictions.jsonl --format vqa_v2 --output results.json
    vqa data evaluate --format vqa_v2 --results results.json --annotations v2_mscoco_val2014_annotations.json

`generate` and `stats` read the `data:` section of the same config files `vqa fit` takes (other sections are
ignored), so `--data.source.init_args.num_images 500` and similar overrides work as for `vqa fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Optional

from jsonargparse import ActionConfigFile, ArgumentParser

from vqa.data.datamodule import VQADataModule
from vqa.data.sources.base import DatasetError
from vqa.io import write_json

# Sections of a `vqa fit` config that `generate` / `stats` accept and ignore.
OTHER_SECTIONS = (
    "trainer",
    "model",
    "seed_everything",
    "ckpt_path",
    "optimizer",
    "lr_scheduler",
    "predictions",
    "checkpoints",
)


def _data_parser(prog: str, description: str) -> ArgumentParser:
    parser = ArgumentParser(prog=prog, description=description)
    parser.add_argument("-c", "--config", action=ActionConfigFile, help="a `vqa fit` config (repeatable)")
    parser.add_class_arguments(VQADataModule, "data", fail_untyped=False)
    for key in OTHER_SECTIONS:
        parser.add_argument(f"--{key}", type=Optional[Any], default=None, help="ignored here")  # noqa: UP045 (Any | None needs Python 3.11)
    return parser


def _datamodule(parser: ArgumentParser, config) -> VQADataModule:
    return parser.instantiate_classes(config).data


def generate_main(args: Sequence[str]) -> None:
    parser = _data_parser("vqa data generate", "Generate a synthetic dataset into its cache (no-op when cached).")
    config = parser.parse_args(list(args))
    source = _datamodule(parser, config).source
    if not hasattr(source, "generate_to_cache"):
        raise DatasetError(f"{source.name} is read from files; there is nothing to generate")
    print(f"{source.describe()} -> {source.generate_to_cache()}")


def stats_main(args: Sequence[str]) -> None:
    from vqa.data.stats import dataset_stats, format_stats

    parser = _data_parser("vqa data stats", "Questions, images, answers, types and answer coverage of a dataset.")
    parser.add_argument("--json", type=str | None, default=None, help="also write the statistics to this file")
    parser.add_argument("--top-answers", type=int, default=10, help="most frequent answers listed per split")
    config = parser.parse_args(list(args))
    stats = dataset_stats(_datamodule(parser, config), config.top_answers)
    print(format_stats(stats))
    if config.json:
        write_json(config.json, stats)
        print(f"\nstatistics written to {config.json}")


def submit_main(args: Sequence[str]) -> None:
    from vqa.evaluation.results_files import results_from_predictions

    parser = ArgumentParser(prog="vqa data submit", description="Turn `vqa predict` output into a results file.")
    parser.add_argument("--predictions", type=str, required=True, help="predictions.jsonl written by `vqa predict`")
    parser.add_argument("--format", type=Literal["vqa_v2", "gqa", "clevr"], required=True)
    parser.add_argument("--output", type=str, required=True, help="the results file to write (JSON)")
    config = parser.parse_args(list(args))
    entries = results_from_predictions(config.predictions, config.format)
    write_json(config.output, entries)
    print(f"{len(entries)} results written to {config.output} ({config.format} format)")


def evaluate_main(args: Sequence[str]) -> None:
    from vqa.evaluation.evaluate import evaluate_clevr, evaluate_gqa, evaluate_vqa_v2
    from vqa.evaluation.results_files import read_results

    parser = ArgumentParser(prog="vqa data evaluate", description="Score a results file like the official evaluator.")
    parser.add_argument("--format", type=Literal["vqa_v2", "gqa", "clevr"], required=True)
    parser.add_argument("--results", type=str, required=True, help="results file (see `vqa data submit`)")
    parser.add_argument("--annotations", type=str | None, default=None, help="VQA v2: the annotations file")
    parser.add_argument("--questions", type=str | None, default=None, help="GQA / CLEVR: the questions file")
    parser.add_argument("--json", type=str | None, default=None, help="also write the scores to this file")
    config = parser.parse_args(list(args))
    results = read_results(config.results, config.format)
    needed = "annotations" if config.format == "vqa_v2" else "questions"
    if getattr(config, needed) is None:
        raise DatasetError(f"--{needed} is required to evaluate {config.format} results")
    evaluate = {"vqa_v2": evaluate_vqa_v2, "gqa": evaluate_gqa, "clevr": evaluate_clevr}[config.format]
    scores = evaluate(results, getattr(config, needed))
    for key, value in scores.items():
        suffix = " (lower is better)" if key == "distribution" else ""
        print(f"{key}: {value:.2f}{suffix}")
    if config.json:
        write_json(config.json, scores)


SUBCOMMANDS = {"generate": generate_main, "stats": stats_main, "submit": submit_main, "evaluate": evaluate_main}


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of `vqa data <subcommand> ...` (errors derived from VQAError are printed by `vqa.cli`)."""
    args = list(args or [])
    if not args or args[0] not in SUBCOMMANDS:
        names = ", ".join(SUBCOMMANDS)
        print(f"usage: vqa data {{{names}}} ...\n\n{__doc__}")
        if args and args[0] not in ("-h", "--help"):
            raise SystemExit(2)
        return
    SUBCOMMANDS[args[0]](args[1:])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
