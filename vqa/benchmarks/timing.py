"""Timing and memory measurement that does not disturb an asynchronous device queue: the one set of helpers of
every benchmark (`vqa speed` and its sub-commands, the benchmark cells)."""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Callable, Iterator

import torch


def synchronize(device: torch.device) -> None:
    """Wait for all queued work on `device` (a no-op on the CPU, which runs synchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synchronized_time(device: torch.device) -> float:
    """`time.perf_counter()` once the work queued on `device` is done: a time stamp that includes that work."""
    synchronize(device)
    return time.perf_counter()


def time_each(call: Callable[[], object], repeats: int, device: torch.device, warmup: int = 2) -> list[float]:
    """Wall-clock seconds of each of `repeats` calls (latencies), after `warmup` untimed calls.

    The device is synchronized before and after every call, so each time covers that call's device work; use
    `time_repeated` for throughput, where the host must run ahead of the device.
    """
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = synchronized_time(device)
        call()
        times.append(synchronized_time(device) - start)
    return times


def time_repeated(step: Callable[[], object], steps: int, device: torch.device) -> tuple[float, list[object]]:
    """Run `step` `steps` times back to back; return the seconds they took and what each call returned.

    The device is synchronized once before and once after the loop, never inside it: on CUDA the time is
    measured with events around the queued work, so the host can run ahead and keep the GPU busy.
    """
    outputs: list[object] = []
    synchronize(device)
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(steps):
            outputs.append(step())
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1000.0, outputs
    begin = time.perf_counter()
    for _ in range(steps):
        outputs.append(step())
    synchronize(device)
    return time.perf_counter() - begin, outputs


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window (CUDA only; the CPU peak is the process's high-water mark)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory in GiB: allocated tensors since `reset_peak_memory` on CUDA; on the CPU the peak resident
    set of the whole process so far (it never goes down, so it is an upper bound for later measurements)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as elapsed:` ... then `elapsed[0]` holds the wall-clock seconds of the block."""
    elapsed = [0.0]
    begin = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - begin
