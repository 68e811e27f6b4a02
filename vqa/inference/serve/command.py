"""`vqa serve --model DIR [--model DIR ...]`: the web page and HTTP API of `vqa.inference.serve.app`, on uvicorn.

vqa serve --model results/demo/cells/easy_vqa__cross_attention__seed0/bundle      # http://127.0.0.1:8000
vqa serve --model late=models/late --model cross=models/cross --port 8080 --api-key "$KEY"
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from vqa.inference.serve.inputs import MB, Limits

DEFAULT_LIMITS = Limits()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqa serve",
        description="Serve trained models over HTTP: a web page to compare them on your own images, a JSON API "
        "(POST /v1/answer, POST /v1/explain, GET /v1/models, GET /healthz) and its docs at /docs. Concurrent "
        "questions to a model are answered together in batches.",
    )
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]PATH",
        help="a model bundle directory (`vqa export`) or checkpoint; repeat to serve several. Named after its "
        "directory (a benchmark's cells/<key>/bundle after <key>) unless NAME= is given",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("VQA_API_KEY"),
        help="require this key in the X-API-Key header of /v1 requests (default: $VQA_API_KEY; unset: no key)",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: a GPU if there is one)")
    parser.add_argument("--max-batch", type=int, default=32, help="most questions per model call (default 32)")
    parser.add_argument(
        "--batch-window-ms",
        type=float,
        default=5.0,
        help="how long a question waits for others to join its batch (default 5 ms; 0: never waits)",
    )
    parser.add_argument(
        "--max-queue", type=int, default=1024, help="questions waiting per model before requests get 503 (default 1024)"
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_LIMITS.max_upload_bytes / MB,
        help=f"largest request body in MB (default {DEFAULT_LIMITS.max_upload_bytes / MB:g})",
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_LIMITS.max_image_pixels,
        help=f"largest image, width x height (default {DEFAULT_LIMITS.max_image_pixels:,})",
    )
    parser.add_argument(
        "--max-question-chars",
        type=int,
        default=DEFAULT_LIMITS.max_question_chars,
        help=f"longest question in characters (default {DEFAULT_LIMITS.max_question_chars})",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch's CPU threads (default: its own choice)")
    parser.add_argument("--access-log", action="store_true", help="log every request (off by default: it costs time)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(args: Sequence[str] | None = None) -> None:
    """Entry point of `vqa serve`: load the models, then serve until interrupted (Ctrl-C)."""
    parser = build_parser()
    options = parser.parse_args(args)
    if options.max_batch < 1:
        parser.error(f"--max-batch must be at least 1, got {options.max_batch}")
    if options.batch_window_ms < 0:
        parser.error(f"--batch-window-ms must be >= 0, got {options.batch_window_ms}")
    if options.max_queue < 1:
        parser.error(f"--max-queue must be at least 1, got {options.max_queue}")
    if options.max_upload_mb <= 0 or options.max_image_pixels < 1 or options.max_question_chars < 1:
        parser.error("--max-upload-mb, --max-image-pixels and --max-question-chars must be positive")
    if options.api_key is not None and not options.api_key.strip():
        parser.error("--api-key is empty; give a key, or leave it (and $VQA_API_KEY) unset to serve without one")

    import torch
    import uvicorn

    from vqa.inference.serve.app import create_app
    from vqa.inference.serve.models import load_models

    if options.threads is not None:
        torch.set_num_threads(options.threads)
    models = load_models(
        options.model,
        device=options.device,
        max_batch=options.max_batch,
        window_s=options.batch_window_ms / 1000,
        max_queue=options.max_queue,
    )
    limits = Limits(
        max_upload_bytes=int(options.max_upload_mb * MB),
        max_image_pixels=options.max_image_pixels,
        max_question_chars=options.max_question_chars,
    )
    app = create_app(models, limits, api_key=options.api_key)
    names = ", ".join(f"{m.name} ({m.predictor.model.fusion.name})" for m in models)
    print(f"serving {names} on http://{options.host}:{options.port} (page: /, API docs: /docs)", flush=True)
    uvicorn.run(app, host=options.host, port=options.port, log_level=options.log_level, access_log=options.access_log)
