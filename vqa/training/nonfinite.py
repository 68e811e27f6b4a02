"""Stopping training at the first non-finite loss, naming the questions of the batch that produced it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from vqa.errors import VQAError


class NonFiniteLossError(VQAError, FloatingPointError):
    """The training loss became NaN or infinite; the message names the step and the batch's questions."""


class NonFiniteGuard:
    """Watches the training loss of every step and raises `NonFiniteLossError` at the first NaN or infinity.

    Reading a value computed on a GPU makes the host wait until the device has caught up (a sync), which at
    every step would stall the queue of launched kernels. So on an accelerator each step's verdict
    (`isfinite(loss)`) stays on the device, next to a reference to the batch's question indices, and the host
    reads all pending verdicts in one transfer every `every_n_steps` steps, and whenever `check` is called
    (the training module calls it before writing any checkpoint and at the end of each epoch). The report
    names the first bad step of the window. At most `every_n_steps - 1` further steps run on bad weights
    before training stops, and no checkpoint is ever written after a bad step, so the newest checkpoint is
    finite and training can resume from it. On the CPU (`immediate`) reading costs nothing: every step is
    checked at once.

    Args:
        every_n_steps: steps between reads of the pending verdicts (accelerators).
        immediate: check each step as it comes (CPU).
    """

    def __init__(self, every_n_steps: int = 16, immediate: bool = False) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be at least 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.immediate = immediate
        self._losses: list[Tensor] = []  # detached losses, on the device
        self._batches: list[tuple[int, int, Tensor]] = []  # (epoch, global step, question indices [B])

    def update(self, loss: Tensor, index: Tensor, epoch: int, step: int) -> bool:
        """Record one step; returns True when enough steps are pending that `check` should run now."""
        self._losses.append(loss.detach().float().reshape(()))
        self._batches.append((epoch, step, index))
        return self.immediate or len(self._losses) >= self.every_n_steps

    def first_bad_step(self) -> tuple[str, Tensor] | None:
        """Read the pending steps (one sync) and forget them: for the first non-finite one, what happened and the
        question indices [B] of its batch (on the CPU); None when all were finite."""
        if not self._losses:
            return None
        losses = torch.stack(self._losses).cpu()
        batches = self._batches
        self._losses, self._batches = [], []
        bad = (~torch.isfinite(losses)).nonzero().flatten()
        if len(bad) == 0:
            return None
        first = int(bad[0])
        epoch, step, index = batches[first]
        return f"the training loss is {float(losses[first])} at epoch {epoch}, global step {step}", index.cpu()

    def check(self, describe: Callable[[Tensor], str] = lambda index: str(index.tolist())) -> None:
        """Raise `NonFiniteLossError` if any pending step had a non-finite loss.

        Args:
            describe: names the questions at the indices [B] of the offending batch.
        """
        found = self.first_bad_step()
        if found is not None:
            raise NonFiniteLossError(failure_message(found[0], describe(found[1])))


def failure_message(what: str, questions: str) -> str:
    """The error text for a non-finite loss: what happened, which questions, what to try."""
    return (
        f"{what}; the batch held the questions {questions}. Training stopped; no checkpoint was written after "
        "that step, so the newest checkpoint is finite (resume with --ckpt_path last). Usual causes: a learning "
        "rate too high, float16 overflow (try precision bf16-mixed or 32-true), or bad values in these inputs"
    )
