import math

import torch

from vqa.evaluation.metrics import GroupAccuracy, VQAAccuracy, predicted_scores


def test_predicted_scores_reads_the_score_of_the_argmax_answer():
    logits = torch.tensor([[0.1, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    answer_ids = torch.tensor([[1, 2], [1, 0], [0, 0]])  # padding: id 0 with score 0
    answer_scores = torch.tensor([[0.9, 0.3], [1.0, 0.0], [0.0, 0.0]])
    torch.testing.assert_close(predicted_scores(logits, answer_ids, answer_scores), torch.tensor([0.9, 0.0, 0.0]))


def test_accuracy_and_group_accuracy_by_hand():
    accuracy, groups = VQAAccuracy(), GroupAccuracy(3)
    scores = torch.tensor([1.0, 0.0, 0.6, 1.0])
    membership = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 0]], dtype=torch.bool)
    accuracy.update(scores[:2])
    accuracy.update(scores[2:])
    groups.update(scores, membership)
    assert math.isclose(float(accuracy.compute()), 65.0, rel_tol=1e-6)
    values = groups.compute()
    assert math.isclose(float(values[0]), 50.0, rel_tol=1e-6) and math.isclose(float(values[1]), 160 / 3, rel_tol=1e-6)
    assert math.isnan(float(values[2])), "an empty group is NaN, not 0"
