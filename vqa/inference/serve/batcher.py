"""Grouping concurrent questions into one `answer_batch` call, with model work kept off the event loop.

Requests arrive one by one on the event loop; each puts one question on a queue and awaits its future. One
asyncio task per model takes the first waiting question, waits up to `window_s` for more (less when `max_batch`
questions are already waiting), and runs the batch in the model's own worker thread. While a batch runs, new
questions queue up, so under load batches fill without waiting and at low load a question waits at most the window.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from torch import Tensor

from vqa.errors import VQAError
from vqa.inference.predictor import Answer

T = TypeVar("T")

# (images [3, H, W] uint8 each, questions, top_k) -> per question its top_k answers, best first.
AnswerBatch = Callable[[Sequence[Tensor], Sequence[str], int], list[list[Answer]]]


class ServerBusyError(VQAError):
    """More questions are waiting for a model than its queue holds; the client should retry later."""


@dataclass
class _Question:
    image: Tensor  # (3, H, W) uint8, preprocessed for this model
    question: str
    top_k: int
    future: asyncio.Future[list[Answer]]


@dataclass
class BatchStats:
    """What a batcher has done so far.

    Attributes:
        questions: questions answered or failed.
        batches: `answer_batch` calls made for them (a failed batch retried per question counts once).
        largest: the largest batch run.
    """

    questions: int = 0
    batches: int = 0
    largest: int = 0

    @property
    def mean_batch(self) -> float:
        """Mean questions per batch (0 before the first batch)."""
        return self.questions / self.batches if self.batches else 0.0


@dataclass
class Batcher:
    """Answers questions about one model in batches; start it inside a running event loop.

    Args:
        answer_batch: the model's batched call (e.g. `Predictor.answer_batch`), run in the worker thread.
        max_batch: most questions per call; 1 answers one question at a time.
        window_s: how long the first waiting question waits for others to join its batch (0: never waits).
        max_queue: most questions waiting at once; beyond it `answer` raises `ServerBusyError`.
        name: names the worker thread (the model's name).
    """

    answer_batch: AnswerBatch
    max_batch: int = 32
    window_s: float = 0.005
    max_queue: int = 1024
    name: str = "model"
    stats: BatchStats = field(default_factory=BatchStats, init=False)

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {self.window_s}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {self.max_queue}")
        self._queue: asyncio.Queue[_Question] = asyncio.Queue()
        self._full = asyncio.Event()
        # One thread per model: torch runs one batch at a time, and attention recording (explain) must not
        # interleave with a batch on the same fusion module.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"vqa-{self.name}")
        self._task: asyncio.Task[None] | None = None
        self._current: list[_Question] = []  # the batch being answered

    @property
    def waiting(self) -> int:
        """Questions queued and not yet taken into a batch."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Stop the loop, fail the questions still waiting or being answered, and shut the worker thread down."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        unanswered = self._current + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for item in unanswered:
            _settle(item.future, error=ServerBusyError("the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def answer(self, image: Tensor, question: str, top_k: int) -> list[Answer]:
        """The `top_k` answers to `question` about `image` [3, H, W], answered in a batch with other callers'.

        Raises:
            ServerBusyError: `max_queue` questions are already waiting.
            VQAError: the model refused this question (e.g. it has no words), raised to this caller only.
        """
        if self._task is None:
            raise RuntimeError("the batcher is not started; call start() inside the event loop first")
        if self._queue.qsize() >= self.max_queue:
            raise ServerBusyError(
                f"model {self.name!r} has {self.max_queue:,} questions waiting (its queue limit); retry shortly"
            )
        future: asyncio.Future[list[Answer]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Question(image, question, top_k, future))
        if self._queue.qsize() >= self.max_batch - 1:
            self._full.set()  # a batch is ready: stop waiting for the window
        return await future

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` in the model's worker thread, between batches (for work other than answering: `explain`)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _loop(self) -> None:
        while True:
            self._current = await self._collect()
            await self._answer(self._current)
            self._current = []

    async def _collect(self) -> list[_Question]:
        """The next batch: the first waiting question, then those that arrive within the window."""
        batch = [await self._queue.get()]
        if self.window_s > 0 and self._queue.qsize() < self.max_batch - 1:
            self._full.clear()
            with contextlib.suppress(asyncio.TimeoutError):  # the builtin TimeoutError only from Python 3.11
                await asyncio.wait_for(self._full.wait(), self.window_s)
        while len(batch) < self.max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _answer(self, batch: list[_Question]) -> None:
        """Answer `batch` in one call. If the model refuses it (a question it cannot answer), answer each question
        alone so that only the faulty ones fail; any other error is the model's, and every caller gets it."""
        self.stats.batches += 1
        self.stats.questions += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        try:
            results = await self.run(lambda: self._call(batch))
        except VQAError as error:
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
            else:
                for item in batch:
                    await self._answer_alone(item)
            return
        except Exception as error:
            for item in batch:
                _settle(item.future, error=error)
            return
        for item, answers in zip(batch, results):
            _settle(item.future, answers[: item.top_k])

    async def _answer_alone(self, item: _Question) -> None:
        try:
            answers = (await self.run(lambda: self._call([item])))[0]
        except Exception as error:
            _settle(item.future, error=error)
        else:
            _settle(item.future, answers[: item.top_k])

    def _call(self, batch: list[_Question]) -> list[list[Answer]]:
        """One `answer_batch` call for the whole batch, at its largest top_k (answers come best first, so each
        question's own top_k is a prefix)."""
        top_k = max(item.top_k for item in batch)
        return self.answer_batch([item.image for item in batch], [item.question for item in batch], top_k)


def _settle(
    future: asyncio.Future[list[Answer]], answers: list[Answer] | None = None, error: BaseException | None = None
) -> None:
    """Give the waiting caller its answers or error, unless it stopped waiting (a client that went away)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(answers)
