"""`vqa speed serve`: `vqa serve` under concurrent clients on loopback, with request batching
and answering one question at a time: throughput, p50 / p99 latency and errors.

    vqa speed serve                                   # 2,000 requests from 32 clients
    vqa speed serve --model my_bundle --requests 5000 --clients 64 --json load.json

Each configuration starts its own server (`vqa serve` in a child process, as users run it) and sends `--requests`
POST /v1/answer requests from `--clients` concurrent clients (aiohttp, one keep-alive connection each), stopping
early at `--max-time-s`. The workload is real: easy-VQA test images (64 x 64 PNG files, uploaded and decoded on
every request) with their questions. Without `--model`, the model is the one `vqa fit -c configs/easy_vqa.yaml -c
<--fusion-config>` trains, with random weights (speed does not depend on the weight values).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from vqa.inference.serve.process import ServerProcess, get_json
from vqa.io import write_json


@dataclass
class LoadResult:
    """One configuration's run.

    Attributes:
        mode: "batched" or "one at a time".
        max_batch / window_ms: the server's batching settings.
        requests: requests completed (ok or not) within the time bound.
        errors: requests that did not get a 200 (or got no answer at all).
        seconds: wall-clock time of the timed requests.
        throughput: requests per second.
        p50_ms / p99_ms: latency percentiles of the successful requests.
        mean_batch: questions per `answer_batch` call on the server during the timed requests.
        first_error: the first error seen, for the report.
    """

    mode: str
    max_batch: int
    window_ms: float
    clients: int
    requests: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float
    mean_batch: float
    first_error: str | None


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-quantile (0..1) of `values`, nearest rank; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def multipart_bodies(files: Sequence[Path], questions: Sequence[str]) -> list[tuple[bytes, str]]:
    """Each (image, question) as a ready multipart body and its content type, encoded once, so the clients spend
    their time sending rather than encoding."""
    bodies = []
    for file, question in zip(files, questions):
        form = aiohttp.FormData()
        form.add_field("question", question)
        form.add_field("image", file.read_bytes(), filename=file.name, content_type="image/png")
        writer = form()
        bodies.append((await writer.as_bytes(), writer.content_type))
    return bodies


async def send_load(
    url: str, bodies: Sequence[tuple[bytes, str]], requests: int, clients: int, max_time_s: float
) -> tuple[list[float], int, str | None, float]:
    """`requests` POST /v1/answer from `clients` concurrent clients (aiohttp: light enough that the clients do not
    compete with the server for the CPU), stopping at `max_time_s`.

    Returns:
        latencies of the successful requests (s), the number of errors, the first error, and the wall time (s).
    """
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    issued = 0
    deadline = time.perf_counter() + max_time_s

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal issued, errors, first_error
        while issued < requests and time.perf_counter() < deadline:
            body, content_type = bodies[issued % len(bodies)]
            issued += 1
            start = time.perf_counter()
            try:
                headers = {"content-type": content_type}
                async with session.post(f"{url}/v1/answer", data=body, headers=headers) as response:
                    text = await response.text()
                    ok, problem = response.status == 200, f"HTTP {response.status}: {text[:200]}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                ok, problem = False, f"{type(error).__name__}: {error}"
            if ok:
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1
                first_error = first_error or problem

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=max_time_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return latencies, errors, first_error, time.perf_counter() - start


def queue_stats(url: str) -> dict:
    """The served model's batching counters from /healthz."""
    return get_json(f"{url}/healthz")["models"]["load"]


def run_mode(
    mode: str,
    model: str,
    max_batch: int,
    window_ms: float,
    bodies: list[tuple[bytes, str]],
    options: argparse.Namespace,
) -> LoadResult:
    """Start a server with these batching settings, warm it up, then time the load."""
    arguments = ["--max-batch", str(max_batch), "--batch-window-ms", str(window_ms), "--log-level", "warning"]
    if options.server_threads is not None:
        arguments += ["--threads", str(options.server_threads)]
    with ServerProcess([f"load={model}"], arguments) as server:
        asyncio.run(send_load(server.url, bodies, options.clients * 2, options.clients, options.max_time_s))  # warm-up
        before = queue_stats(server.url)
        latencies, errors, first_error, seconds = asyncio.run(
            send_load(server.url, bodies, options.requests, options.clients, options.max_time_s)
        )
        after = queue_stats(server.url)
    batches = after["batches"] - before["batches"]
    done = len(latencies) + errors
    return LoadResult(
        mode=mode,
        max_batch=max_batch,
        window_ms=window_ms,
        clients=options.clients,
        requests=done,
        errors=errors,
        seconds=seconds,
        throughput=done / seconds,
        p50_ms=1e3 * statistics.median(latencies) if latencies else float("nan"),
        p99_ms=1e3 * percentile(latencies, 0.99),
        mean_batch=(after["questions"] - before["questions"]) / batches if batches else 0.0,
        first_error=first_error,
    )


def random_init_bundle(fusion_config: str, folder: Path) -> Path:
    """The easy-VQA model of `fusion_config`, untrained, written as a bundle in `folder`."""
    from vqa.benchmarks.predict_speed import random_init_predictor
    from vqa.inference.bundle import TrainedModel, write_bundle

    predictor = random_init_predictor(fusion_config, "cpu")
    return write_bundle(TrainedModel(predictor.model, predictor.vocab), folder / Path(fusion_config).stem)


def table(results: Sequence[LoadResult]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| mode | max batch | window ms | clients | requests | errors | throughput req/s | p50 ms | p99 ms | mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.max_batch} | {r.window_ms:g} | {r.clients} | {r.requests:,} | {r.errors} | "
            f"{r.throughput:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.mean_batch:.1f} |"
        )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vqa speed serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="a bundle or checkpoint (default: a random-init easy-VQA model)")
    p.add_argument(
        "--fusion-config", default="configs/fusion/cross_attention.yaml", help="the fusion of the default model"
    )
    p.add_argument("--requests", type=int, default=2000, help="timed requests per configuration (default 2000)")
    p.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    p.add_argument("--max-time-s", type=float, default=300.0, help="stop a configuration's load after this long")
    p.add_argument("--max-batch", type=int, default=32, help="the batched server's --max-batch (default 32)")
    p.add_argument("--window-ms", type=float, default=5.0, help="the batched server's --batch-window-ms (default 5)")
    p.add_argument("--server-threads", type=int, default=None, help="the servers' torch threads (default: torch's)")
    p.add_argument("--questions", type=int, default=256, help="distinct easy-VQA test questions cycled (default 256)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    return p


def main(args: Sequence[str] | None = None) -> list[LoadResult]:
    """Entry point: run both configurations and print the table."""
    options = parser().parse_args(args)
    from vqa.benchmarks.predict_speed import easy_vqa_workload

    files, questions = easy_vqa_workload(options.questions)
    bodies = asyncio.run(multipart_bodies(files, questions))
    with tempfile.TemporaryDirectory(prefix="vqa-serve-load-") as folder:
        model = options.model or str(random_init_bundle(options.fusion_config, Path(folder)))
        results = [
            run_mode("batched", model, options.max_batch, options.window_ms, bodies, options),
            run_mode("one at a time", model, 1, 0.0, bodies, options),
        ]
    print(
        f"\n`vqa serve` on loopback: {options.clients} clients, POST /v1/answer with easy-VQA test images "
        f"({len(bodies)} distinct questions); model: {options.model or Path(options.fusion_config).stem + ' (random init)'}\n"
    )
    print(table(results))
    speedup = results[0].throughput / results[1].throughput
    print(f"\nbatching: {speedup:.2f}x the throughput of one question at a time")
    for result in results:
        if result.first_error:
            print(f"first error ({result.mode}): {result.first_error}")
    if options.json:
        write_json(options.json, {"results": [asdict(r) for r in results], "speedup": speedup})
    return results


if __name__ == "__main__":
    main()
