"""What happens to a bad dataset entry: by default its clear error stops the run; with `skip_bad_samples` it is
skipped, counted and reported (never silently)."""

from __future__ import annotations

from vqa.errors import VQAError


class BadSamples:
    """Raises the error of a bad entry, or (when skipping) counts it and keeps its reason for the report.

    One object per data module collects what readers (malformed entries, missing images), the encoder (empty
    questions) and the batch decoder (unreadable images) skip.

    Args:
        skip: skip bad entries instead of raising their error.
        shown: how many reasons a summary quotes.

    Attributes:
        count: entries (questions, lines, annotations) left out so far. An unreadable image is met again in
            every epoch, and its questions are counted each time.
        reasons: the reasons (error messages), in order; at most `MAX_REASONS` are kept.
    """

    MAX_REASONS = 1000

    def __init__(self, skip: bool = False, shown: int = 5) -> None:
        self.skip = skip
        self.shown = shown
        self.count = 0
        self.reasons: list[str] = []
        self._counts_before: list[int] = []  # `count` when each reason was recorded

    def handle(self, error: VQAError, questions: int = 1) -> None:
        """Raise `error` unless skipping; when skipping, count `questions` left-out entries with its reason."""
        if not self.skip:
            raise error
        self.record(str(error), questions)

    def record(self, reason: str, questions: int = 1) -> None:
        """Count `questions` entries already left out (e.g. in a DataLoader worker) for `reason`."""
        if len(self.reasons) < self.MAX_REASONS:
            self.reasons.append(reason)
            self._counts_before.append(self.count)
        self.count += questions

    def summary(self, what: str, since: int = 0) -> str:
        """How many entries of `what` were left out after the first `since`, quoting the first reasons."""
        recent = [reason for reason, before in zip(self.reasons, self._counts_before) if before >= since]
        shown = "\n".join(f"  - {reason}" for reason in recent[: self.shown])
        more = f"\n  ... and {len(recent) - self.shown} more reason(s)" if len(recent) > self.shown else ""
        return (
            f"{what}: left out {self.count - since} bad entr{'y' if self.count - since == 1 else 'ies'} because "
            f"data.skip_bad_samples is on ({self.count} in all so far); first reasons:\n{shown}{more}"
        )
