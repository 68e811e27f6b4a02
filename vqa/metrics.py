"""Accuracy metrics as torchmetrics (summed states, so they reduce correctly across processes)."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


def predicted_scores(logits: Tensor, answer_ids: Tensor, answer_scores: Tensor) -> Tensor:
    """The VQA score of each arg-max prediction.

    The soft targets hold the official VQA accuracy of every in-vocabulary answer, so the score of the
    predicted class *is* the official accuracy of that prediction (exact match for one-answer datasets).

    Args:
        logits: [B, A].
        answer_ids: [B, K] in-vocabulary answers of each question (padding has score 0).
        answer_scores: [B, K] their scores.

    Returns:
        [B] float in [0, 1].
    """
    predicted = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    return ((answer_ids == predicted) * answer_scores).amax(dim=-1)


class VQAAccuracy(Metric):
    """Mean VQA score of the predictions, x100 (percent)."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, scores: Tensor) -> None:
        """scores [B]: per-question accuracy in [0, 1] (see `predicted_scores`)."""
        self.total += scores.double().sum()
        self.count += scores.numel()

    def compute(self) -> Tensor:
        return 100.0 * self.total / self.count.clamp_min(1.0)


class GroupAccuracy(Metric):
    """Mean VQA score per breakdown group (question type, family, answer type...), x100; NaN for empty groups.

    Args:
        num_groups: number of groups G.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, num_groups: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("total", torch.zeros(num_groups, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(num_groups, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, scores: Tensor, groups: Tensor) -> None:
        """scores [B] in [0, 1]; groups [B, G] bool membership."""
        membership = groups.double()
        self.total += scores.double() @ membership
        self.count += membership.sum(0)

    def compute(self) -> Tensor:
        return torch.where(self.count > 0, 100.0 * self.total / self.count.clamp_min(1.0), float("nan"))
