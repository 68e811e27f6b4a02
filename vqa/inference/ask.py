"""`vqa ask --model PATH --image IMG --question "..."`: answer questions about one image from the command line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict

from vqa.inference.predictor import load


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqa ask", description="Answer questions about an image with a trained model (checkpoint or bundle)."
    )
    parser.add_argument("--model", required=True, help="a checkpoint file or a model bundle directory")
    parser.add_argument("--image", required=True, help="the image file (any format and size Pillow reads)")
    parser.add_argument(
        "--question", required=True, action="append", help="the question; repeat to ask several about the same image"
    )
    parser.add_argument("--top-k", type=int, default=1, help="answers to show per question (default 1)")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="a model with a generator head writes its answer word by word (may be an answer it never saw in training)",
    )
    parser.add_argument("--num-beams", type=int, default=3, help="beams of --generate (1 = greedy; default 3)")
    parser.add_argument(
        "--candidate",
        action="append",
        default=None,
        help="with a generator head, choose the answer among these by likelihood; repeat for each candidate",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per question instead of text")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: a GPU if there is one)")
    parser.add_argument(
        "--attention-map",
        metavar="PNG",
        default=None,
        help="also save the first question's attention heatmap here (fusions with question-to-image attention)",
    )
    return parser


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of `vqa ask`."""
    options = build_parser().parse_args(args)
    predictor = load(options.model, device=options.device)
    questions = options.question
    if options.generate and options.candidate:
        raise SystemExit("vqa ask: give either --generate or --candidate, not both")
    mode = "generate" if options.generate else ("rank" if options.candidate else "classify")
    results = predictor.answer_batch(
        [options.image] * len(questions),
        questions,
        options.top_k,
        mode=mode,
        num_beams=options.num_beams,
        candidates=options.candidate,
    )
    for question, answers in zip(questions, results):
        if options.json:
            line = {"image": options.image, "question": question, "answers": [asdict(a) for a in answers]}
            print(json.dumps(line, ensure_ascii=False))
        else:
            print(f"Q: {question}")
            width = max(len(a.answer) for a in answers)
            for rank, answer in enumerate(answers, 1):
                print(f"  {rank}. {answer.answer:<{width}}  {answer.probability:.3f}")
    if options.attention_map:
        path = predictor.explain(options.image, questions[0], options.attention_map, options.top_k).path
        if not options.json:
            print(f"attention map written to {path}")
