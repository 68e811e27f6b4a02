"""Accuracy metrics as torchmetrics (summed states, so they reduce correctly across processes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from vqa.data.sources.clevr import TYPE_NAMES as CLEVR_TYPES
from vqa.data.sources.gqa import reasoning_steps
from vqa.data.vocab import soft_score
from vqa.evaluation.normalize import clean_whitespace, normalize_answer


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
    return class_scores(logits.argmax(dim=-1), answer_ids, answer_scores)


def class_scores(classes: Tensor, answer_ids: Tensor, answer_scores: Tensor) -> Tensor:
    """The VQA score of one answer class per question, read from its sparse soft targets.

    Args:
        classes: [B] answer-vocabulary ids (-1 = an answer outside the vocabulary: score 0).
        answer_ids: [B, K] in-vocabulary answers of each question (padding has score 0).
        answer_scores: [B, K] their scores.

    Returns:
        [B] float in [0, 1].
    """
    return ((answer_ids == classes[:, None]) * answer_scores).amax(dim=-1)


def generated_classes(ids: Tensor, answer_table: Tensor) -> Tensor:
    """Which answer of the vocabulary each generated answer is: [B] class ids, -1 for an answer outside it.

    Args:
        ids: [B, L] generated answer tokens (words, `<eos>`, `<pad>` after it), L <= T.
        answer_table: [A, T] the vocabulary's answers as decoder targets (`AnswerTokens.table`).
    """
    padded = torch.zeros(ids.shape[0], answer_table.shape[1], dtype=ids.dtype, device=ids.device)  # <pad> = 0
    padded[:, : ids.shape[1]] = ids[:, : answer_table.shape[1]]
    match = (padded[:, None, :] == answer_table[None]).all(-1)  # (B, A); answers are distinct, so one at most
    return torch.where(match.any(1), match.float().argmax(1), -1)


def generated_scores(ids: Tensor, answer_table: Tensor, answer_ids: Tensor, answer_scores: Tensor) -> Tensor:
    """The VQA score of each generated answer, like `predicted_scores` for a classifier: [B] in [0, 1].

    A generated answer is scored through the answer vocabulary it is found in; one outside the vocabulary
    scores 0 here, as it would against in-vocabulary targets (`vqa_accuracy` scores any string
    against the human answers).

    Args:
        ids: [B, L] generated answer tokens; answer_table [A, T] (see `generated_classes`).
        answer_ids: [B, K] in-vocabulary answers of each question; answer_scores [B, K] their scores.
    """
    return class_scores(generated_classes(ids, answer_table), answer_ids, answer_scores)


def score_outside_vocabulary(
    scores: Tensor, classes: Tensor, written: Sequence[str], index: Tensor, records: Sequence[Any]
) -> Tensor:
    """Score the generated answers that are not training answers against the questions' human answers.

    The in-vocabulary targets cannot score them (an answer composed from seen words, such as a held-out
    combination of attributes, is nowhere in them), so they are scored against the split's records with the
    arithmetic of the soft targets (`soft_score`: the official VQA accuracy; exact match for one annotator).
    One host sync.

    Args:
        scores: [B] in-vocabulary scores (`class_scores`; 0 where outside).
        classes: [B] the answers' vocabulary ids (-1 = outside).
        written: the B generated answers as strings.
        index: [B] the questions' positions in `records`.
        records: the split's records (`answers` as the reader normalized them for the answer vocabulary).

    Returns:
        [B] scores, those of answers outside the vocabulary filled in.
    """
    outside = (classes < 0).nonzero()[:, 0].tolist()
    if not outside:
        return scores
    scores = scores.clone()
    for row in outside:
        human = records[int(index[row])].answers
        if human:
            scores[row] = soft_score(sum(answer == written[row] for answer in human), len(human))
    return scores


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


# ---- official benchmark metrics ------------------------------------------------------------------------------
# These work on answer strings (what a results file holds), so they reproduce the official evaluators exactly.
# Their states are tensors reduced by summation, so under DDP each process updates with its own questions and
# `compute` sees the totals of all processes.

VQA_ANSWER_TYPES = ("yes/no", "number", "other")


def vqa_accuracy(prediction: str, human_answers: Sequence[str]) -> float:
    """Official VQA accuracy of one predicted answer, in [0, 1].

    Whitespace is cleaned on every answer; the full normalization (`vqa.evaluation.normalize.normalize_answer`) is applied
    to the prediction and the human answers only when the human answers are not all identical. Then, for each
    human answer left out in turn, the prediction scores min(1, matches among the others / 3); these are
    averaged. With 10 answers this gives 0, 0.3, 0.6, 0.9, 1 for 0, 1, 2, 3, >=4 matching humans.

    Args:
        prediction: the predicted answer.
        human_answers: the annotators' answers as given (10 in VQA v2).
    """
    if not human_answers:
        raise ValueError("the official VQA accuracy needs the human answers; got none")
    answers = [clean_whitespace(a) for a in human_answers]
    prediction = clean_whitespace(prediction)
    if len(set(answers)) > 1:
        answers = [normalize_answer(a) for a in answers]
        prediction = normalize_answer(prediction)
    matches = sum(answer == prediction for answer in answers)
    left_out = (min(1.0, (matches - (answer == prediction)) / 3) for answer in answers)
    return sum(left_out) / len(answers)


class _TypedMean(Metric):
    """Mean of per-question scores, overall and per named type (fixed at construction), x100; summed states."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, type_sets: dict[str, Sequence[str]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.type_sets = {key: list(names) for key, names in type_sets.items()}
        self._positions = {key: {name: i for i, name in enumerate(names)} for key, names in self.type_sets.items()}
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        for key, names in self.type_sets.items():
            self.add_state(f"{key}_total", torch.zeros(len(names), dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{key}_count", torch.zeros(len(names), dtype=torch.float64), dist_reduce_fx="sum")

    def _add(self, scores: list[float], types: dict[str, Sequence[str] | None]) -> None:
        values = torch.tensor(scores, dtype=torch.float64, device=self.total.device)
        self.total += values.sum()
        self.count += values.numel()
        for key, names in types.items():
            if names is None:
                continue
            if len(names) != len(scores):
                raise ValueError(f"got {len(names)} {key} values for {len(scores)} predictions")
            positions = self._positions[key]
            unknown = [n for n in names if n not in positions]
            if unknown:
                raise ValueError(f"unknown {key} {unknown[0]!r}; this metric was built with {self.type_sets[key]}")
            index = torch.tensor([positions[n] for n in names], dtype=torch.long, device=values.device)
            getattr(self, f"{key}_total").index_add_(0, index, values)
            getattr(self, f"{key}_count").index_add_(0, index, torch.ones_like(values))

    def compute(self) -> dict[str, Tensor]:
        """{"overall": ..., "<type key>/<type>": ...} in percent; NaN where no question was seen."""
        result = {"overall": _percent(self.total, self.count)}
        for key, names in self.type_sets.items():
            values = _percent(getattr(self, f"{key}_total"), getattr(self, f"{key}_count"))
            result.update({f"{key}/{name}": values[i] for i, name in enumerate(names)})
        return result


def _percent(total: Tensor, count: Tensor) -> Tensor:
    return torch.where(count > 0, 100.0 * total / count.clamp_min(1.0), float("nan"))


class OfficialVQAAccuracy(_TypedMean):
    """The official VQA v2 accuracy (see `vqa_accuracy`) overall, per answer type and per question type, x100.

    Args:
        question_types: the question types to break down by (VQA v2 has 65, e.g. "what color is the").
        answer_types: the answer types (default: "yes/no", "number", "other").
    """

    def __init__(
        self, question_types: Sequence[str] = (), answer_types: Sequence[str] = VQA_ANSWER_TYPES, **kwargs
    ) -> None:
        super().__init__({"answer_type": answer_types, "question_type": question_types}, **kwargs)

    def update(
        self,
        predictions: Sequence[str],
        human_answers: Sequence[Sequence[str]],
        answer_types: Sequence[str] | None = None,
        question_types: Sequence[str] | None = None,
    ) -> None:
        """predictions: one answer per question; human_answers: the raw human answers of each question."""
        if len(predictions) != len(human_answers):
            raise ValueError(f"got {len(predictions)} predictions for {len(human_answers)} questions")
        scores = [vqa_accuracy(p, answers) for p, answers in zip(predictions, human_answers)]
        self._add(scores, {"answer_type": answer_types, "question_type": question_types})


class TypedExactMatch(_TypedMean):
    """Exact-match accuracy overall and per question type, x100 (CLEVR, GQA's per-type tables, custom sets).

    Args:
        types: the question types, e.g. `vqa.data.sources.clevr.TYPE_NAMES`.
        key: the name of the breakdown in `compute()`'s keys ("type/count", ...).
    """

    def __init__(self, types: Sequence[str], key: str = "type", **kwargs) -> None:
        super().__init__({key: types}, **kwargs)
        self.key = key

    def update(self, predictions: Sequence[str], answers: Sequence[str], types: Sequence[str] | None = None) -> None:
        """predictions and gold answers: one string per question; types: each question's type."""
        if len(predictions) != len(answers):
            raise ValueError(f"got {len(predictions)} predictions for {len(answers)} answers")
        self._add([float(p == a) for p, a in zip(predictions, answers)], {self.key: types})


class CLEVRAccuracy(TypedExactMatch):
    """CLEVR accuracy overall and per question type (exist, count, compare_number, query_attribute,
    compare_attribute: the type is the last function of the question's program)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(CLEVR_TYPES, key="type", **kwargs)


class GQAMetrics(Metric):
    """The GQA evaluator's metrics without scene graphs, computed from a questions file's content.

    - accuracy: exact match; binary (structural type other than "query") and open ("query") accuracy;
    - per structural, semantic and detailed type, per number of reasoning steps and of question words;
    - consistency: for each correctly answered question with entailed questions, the accuracy on those; averaged;
    - distribution: chi-square between the gold and the predicted answer histograms of each global group,
      each group weighted by its number of questions, divided by 100 (lower is better).
    Accuracies are in percent. As officially, only balanced questions (`"isBalanced"` not false) are scored,
    while entailed questions may be any question of the file. Only questions given predictions count; entailed
    questions missing from the file or without a prediction are left out of consistency (the official script,
    fed the *_all_questions file and predictions for all of them, has them all).

    The state is one summed table over all questions (prediction id + 1 and a seen count), so it reduces across
    processes by summation, and questions repeated by a distributed sampler are not counted twice.

    Args:
        questions: the content of a GQA questions file (question id -> entry with "answer", "types",
            "groups", "entailed", "question", optionally "semantic").
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, questions: Mapping[str, Mapping[str, Any]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.question_ids = list(questions)
        self.position = {qid: i for i, qid in enumerate(self.question_ids)}
        entries = [questions[qid] for qid in self.question_ids]
        gold = [entry["answer"] for entry in entries]
        self.answer_names = ["<not a gold answer>", *sorted(set(gold))]
        self.answer_id = {name: i for i, name in enumerate(self.answer_names)}
        self.register_buffer(
            "gold", torch.tensor([self.answer_id[a] for a in gold], dtype=torch.long), persistent=False
        )
        balanced = [entry.get("isBalanced") is not False for entry in entries]
        self.register_buffer("balanced", torch.tensor(balanced, dtype=torch.bool), persistent=False)
        self.breakdowns: dict[str, list[str]] = {}
        for key in ("structural", "semantic", "detailed"):
            self._add_breakdown(key, [entry["types"][key] for entry in entries])
        self._add_breakdown("steps", [str(reasoning_steps(entry.get("semantic") or [])) for entry in entries])
        self._add_breakdown("words", [str(len(entry["question"].split())) for entry in entries])
        groups = [(entry.get("groups") or {}).get("global") for entry in entries]
        group_names = sorted({g for g in groups if g is not None})
        group_id = {name: i for i, name in enumerate(group_names)}
        self.num_groups = len(group_names)
        self.register_buffer(
            "group",
            torch.tensor([group_id[g] if g is not None else -1 for g in groups], dtype=torch.long),
            persistent=False,
        )
        pairs = [
            (i, self.position[e])
            for i, entry in enumerate(entries)
            for e in entry.get("entailed", [])
            if e in self.position and e != self.question_ids[i]
        ]
        source, target = zip(*pairs) if pairs else ((), ())
        self.register_buffer("entail_source", torch.tensor(source, dtype=torch.long), persistent=False)
        self.register_buffer("entail_target", torch.tensor(target, dtype=torch.long), persistent=False)
        self.add_state("prediction_sum", torch.zeros(len(entries), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("seen", torch.zeros(len(entries), dtype=torch.long), dist_reduce_fx="sum")

    def _add_breakdown(self, key: str, values: list[str]) -> None:
        names = sorted(set(values), key=lambda v: (len(v), v) if v.isdigit() else (0, v))
        self.breakdowns[key] = names
        index = {name: i for i, name in enumerate(names)}
        self.register_buffer(
            f"{key}_index", torch.tensor([index[v] for v in values], dtype=torch.long), persistent=False
        )

    def update(self, question_ids: Sequence[str], predictions: Sequence[str]) -> None:
        """question_ids: GQA question ids (keys of the questions file); predictions: the predicted answers."""
        if len(question_ids) != len(predictions):
            raise ValueError(f"got {len(predictions)} predictions for {len(question_ids)} question ids")
        unknown = [q for q in question_ids if q not in self.position]
        if unknown:
            raise ValueError(f"question id {unknown[0]!r} is not in the questions this metric was built with")
        index = torch.tensor([self.position[q] for q in question_ids], dtype=torch.long, device=self.seen.device)
        ids = torch.tensor([self.answer_id.get(p, 0) for p in predictions], dtype=torch.long, device=self.seen.device)
        self.prediction_sum.index_add_(0, index, ids + 1)
        self.seen.index_add_(0, index, torch.ones_like(ids))

    def compute(self) -> dict[str, Tensor]:
        answered = self.seen > 0
        predicted = torch.where(answered, self.prediction_sum // self.seen.clamp_min(1) - 1, -1)  # (N,)
        right = (predicted == self.gold) & answered  # any question (entailed ones too)
        seen = answered & self.balanced  # the scored questions
        correct = right & self.balanced
        result = {"accuracy": _percent(correct.double().sum(), seen.double().sum())}
        structural = self.breakdowns["structural"]
        query = structural.index("query") if "query" in structural else -1
        is_open = self.structural_index == query  # "open" questions; the others are "binary"
        result["binary"] = _percent((correct & ~is_open).double().sum(), (seen & ~is_open).double().sum())
        result["open"] = _percent((correct & is_open).double().sum(), (seen & is_open).double().sum())
        result["consistency"] = self._consistency(correct, answered, right)
        result["distribution"] = self._distribution(seen, predicted)
        for key, names in self.breakdowns.items():
            index = getattr(self, f"{key}_index")
            total = torch.zeros(len(names), dtype=torch.float64, device=seen.device).index_add_(
                0, index, correct.double()
            )
            count = torch.zeros(len(names), dtype=torch.float64, device=seen.device).index_add_(0, index, seen.double())
            values = _percent(total, count)
            result.update({f"{key}/{name}": values[i] for i, name in enumerate(names) if count[i] > 0})
        return result

    def _consistency(self, correct: Tensor, answered: Tensor, right: Tensor) -> Tensor:
        """Mean over correctly answered (scored) questions of the accuracy on their answered entailed questions."""
        valid = correct[self.entail_source] & answered[self.entail_target]  # (pairs,)
        n = len(correct)
        hits = torch.zeros(n, dtype=torch.float64, device=correct.device).index_add_(
            0, self.entail_source, (valid & right[self.entail_target]).double()
        )
        counts = torch.zeros(n, dtype=torch.float64, device=correct.device).index_add_(
            0, self.entail_source, valid.double()
        )
        has = counts > 0
        return _percent((hits[has] / counts[has]).sum(), has.double().sum())

    def _distribution(self, seen: Tensor, predicted: Tensor) -> Tensor:
        """Group-size-weighted chi-square of predicted vs gold answer counts per global group, / 100."""
        answers = len(self.answer_names)
        use = seen & (self.group >= 0)
        cells = self.num_groups * answers
        gold = torch.bincount(self.group[use] * answers + self.gold[use], minlength=cells).double()
        pred = torch.bincount(self.group[use] * answers + predicted[use], minlength=cells).double()
        gold, pred = gold.view(self.num_groups, answers), pred.view(self.num_groups, answers)
        present = gold > 0  # the official sum runs over the answers of the gold histogram only
        chi = torch.where(present, (pred - gold) ** 2 / gold.clamp_min(1.0), 0.0).sum(1)  # (groups,)
        size = gold.sum(1)
        if size.sum() == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=seen.device)
        return (chi * size).sum() / size.sum() / 100.0
