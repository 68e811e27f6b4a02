"""The batching queue of `vqa serve`, against a fake model that records every call it gets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest
import torch

from vqa.errors import VQAError
from vqa.inference.predictor import Answer
from vqa.inference.serve.batcher import Batcher, ServerBusyError

IMAGE = torch.zeros(3, 2, 2, dtype=torch.uint8)


class FakeModel:
    """An `answer_batch` whose answers name their question ("q:0", "q:1", ...), recording each call."""

    def __init__(self, delay_s: float = 0.0, refuse: str | None = None, broken: bool = False) -> None:
        self.delay_s, self.refuse, self.broken = delay_s, refuse, broken
        self.calls: list[tuple[list[str], int]] = []
        self.threads: set[int] = set()

    def __call__(self, images: Sequence[torch.Tensor], questions: Sequence[str], top_k: int) -> list[list[Answer]]:
        assert len(images) == len(questions)
        self.calls.append((list(questions), top_k))
        self.threads.add(threading.get_ident())
        time.sleep(self.delay_s)
        if self.broken:
            raise RuntimeError("the model broke")
        if self.refuse in questions:
            raise VQAError(f"cannot answer {self.refuse!r}")
        return [[Answer(f"{q}:{rank}", 1.0 - rank / 10) for rank in range(top_k)] for q in questions]


def run(scenario):
    """Run `scenario(batcher_factory)` in a fresh event loop; batchers made by the factory are started and
    stopped around it."""

    async def main():
        made: list[Batcher] = []

        def make(model: FakeModel, **kwargs) -> Batcher:
            batcher = Batcher(model, **kwargs)
            batcher.start()
            made.append(batcher)
            return batcher

        try:
            return await scenario(make)
        finally:
            for batcher in made:
                await batcher.stop()

    return asyncio.run(main())


def ask_all(batcher: Batcher, questions: Sequence[str], top_k: int = 1):
    return asyncio.gather(*(batcher.answer(IMAGE, q, top_k) for q in questions), return_exceptions=True)


def test_concurrent_questions_share_one_call_and_each_gets_its_own_answers():
    model = FakeModel()
    questions = [f"q{i}" for i in range(8)]

    async def scenario(make):
        return await ask_all(make(model, max_batch=8, window_s=0.5), questions, top_k=2)

    results = run(scenario)
    assert model.calls == [(questions, 2)]
    assert [[a.answer for a in answers] for answers in results] == [[f"{q}:0", f"{q}:1"] for q in questions]


def test_batches_never_exceed_max_batch():
    model = FakeModel(delay_s=0.02)

    async def scenario(make):
        return await ask_all(make(model, max_batch=8, window_s=0.05), [f"q{i}" for i in range(20)])

    results = run(scenario)
    assert [len(questions) for questions, _ in model.calls] == [8, 8, 4]
    assert [answers[0].answer for answers in results] == [f"q{i}:0" for i in range(20)]


def test_max_batch_one_answers_one_question_per_call():
    model = FakeModel()

    async def scenario(make):
        return await ask_all(make(model, max_batch=1, window_s=0.0), ["a", "b", "c"])

    run(scenario)
    assert [questions for questions, _ in model.calls] == [["a"], ["b"], ["c"]]


def test_a_full_batch_does_not_wait_for_the_window():
    model = FakeModel()

    async def scenario(make):
        batcher = make(model, max_batch=4, window_s=30.0)
        start = time.perf_counter()
        await ask_all(batcher, ["a", "b", "c", "d"])
        return time.perf_counter() - start

    assert run(scenario) < 10.0  # the window is 30 s: the fourth question closed the batch
    assert len(model.calls) == 1


def test_the_model_runs_in_a_worker_thread_while_the_event_loop_keeps_serving():
    model = FakeModel(delay_s=0.3)

    async def scenario(make):
        batcher = make(model, max_batch=4, window_s=0.0)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        await batcher.answer(IMAGE, "q", 1)
        ticking.cancel()
        return ticks, threading.get_ident()

    ticks, loop_thread = run(scenario)
    assert loop_thread not in model.threads and len(model.threads) == 1
    assert ticks >= 5  # the loop ran other work during the model's 0.3 s


def test_a_question_the_model_refuses_fails_alone():
    model = FakeModel(refuse="bad")

    async def scenario(make):
        return await ask_all(make(model, max_batch=8, window_s=0.5), ["good", "bad", "fine"])

    good, bad, fine = run(scenario)
    assert isinstance(bad, VQAError) and "cannot answer 'bad'" in str(bad)
    assert good[0].answer == "good:0" and fine[0].answer == "fine:0"
    # the batch was refused, then each question asked alone
    assert [questions for questions, _ in model.calls] == [["good", "bad", "fine"], ["good"], ["bad"], ["fine"]]


def test_a_broken_model_fails_every_caller_and_the_batcher_goes_on():
    model = FakeModel(broken=True)

    async def scenario(make):
        batcher = make(model, max_batch=8, window_s=0.05)
        failed = await ask_all(batcher, ["a", "b"])
        model.broken = False
        return failed, await batcher.answer(IMAGE, "c", 1)

    failed, after = run(scenario)
    assert all(isinstance(error, RuntimeError) and "the model broke" in str(error) for error in failed)
    assert after[0].answer == "c:0"


def test_questions_beyond_the_queue_limit_are_refused_as_busy():
    model = FakeModel(delay_s=0.5)

    async def scenario(make):
        batcher = make(model, max_batch=1, window_s=0.0, max_queue=2)
        first = asyncio.create_task(batcher.answer(IMAGE, "running", 1))
        await asyncio.sleep(0.1)  # taken into a batch: the model is busy with it
        queued = [asyncio.create_task(batcher.answer(IMAGE, f"waiting{i}", 1)) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(ServerBusyError, match="2 questions waiting"):
            await batcher.answer(IMAGE, "one too many", 1)
        return await asyncio.gather(first, *queued)

    assert [answers[0].answer for answers in run(scenario)] == ["running:0", "waiting0:0", "waiting1:0"]


def test_stop_fails_the_questions_waiting_or_being_answered():
    model = FakeModel(delay_s=0.2)

    async def scenario(make):
        batcher = Batcher(model, max_batch=1, window_s=0.0)
        batcher.start()
        tasks = [asyncio.create_task(batcher.answer(IMAGE, f"q{i}", 1)) for i in range(3)]
        await asyncio.sleep(0.05)
        await batcher.stop()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = run(scenario)  # q0 was being answered, q1 and q2 waited
    assert [isinstance(r, ServerBusyError) and "shutting down" in str(r) for r in results] == [True, True, True]


def test_answering_before_start_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_batch must be at least 1"):
        Batcher(FakeModel(), max_batch=0)
    with pytest.raises(ValueError, match="window_s must be >= 0"):
        Batcher(FakeModel(), window_s=-1)

    async def unstarted():
        with pytest.raises(RuntimeError, match="not started"):
            await Batcher(FakeModel()).answer(IMAGE, "q", 1)

    asyncio.run(unstarted())
