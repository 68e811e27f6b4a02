"""Which variants of a benchmark really differ: the tests of `vqa.benchmarks.significance` applied to cells.

A *system* is one variant of a suite (dataset x encoder x fusion) over its seeds: one row of per-question scores
per seed; its accuracy is the seed average. Two systems are compared on the same test questions with the paired
bootstrap that resamples images and each system's seeds (so a gap smaller than the seeds' spread is not called
real), overall and per question type; p-values are
Holm-adjusted across all pairs of a dataset (separately for each metric); McNemar's test is added per shared seed
where the answers are single labels (every score 0 or 1).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vqa.benchmarks.predictions import predictions_path, read_predictions
from vqa.benchmarks.significance import BootstrapResult, McNemarResult, holm, is_binary, mcnemar, paired_bootstrap
from vqa.errors import VQAError

ALPHA = 0.05  # significance level of the "tied with the best" marks
OVERALL = "overall"


@dataclass
class System:
    """One variant of a suite on one dataset, its per-question test scores averaged over its seeds.

    Attributes:
        dataset: the dataset label.
        name: the variant label (fusion, or "fusion + encoder").
        seeds: the seeds averaged.
        question_ids: [N] question ids, in the order of the first seed's file.
        image_ids: [N] image of each question (the bootstrap's clusters).
        groups: metric name (e.g. "type/color") -> [N] bool, the questions of that type.
        scores: [N] float, each question's score in percent, averaged over the seeds.
        seed_scores: seed -> [N] that seed's scores in percent (McNemar's test pairs seeds).
    """

    dataset: str
    name: str
    seeds: list[int]
    question_ids: np.ndarray
    image_ids: np.ndarray
    groups: dict[str, np.ndarray]
    scores: np.ndarray
    seed_scores: dict[int, np.ndarray] = field(repr=False)

    def accuracy(self, metric: str) -> float:
        """Mean score (percent) over the questions of `metric` ("overall" or a type such as "type/color")."""
        mask = self.groups.get(metric) if metric != OVERALL else np.ones(len(self.scores), dtype=bool)
        return float(self.scores[mask].mean()) if mask is not None and mask.any() else math.nan

    @property
    def metrics(self) -> list[str]:
        return [OVERALL, *self.groups]


def fusion_label(cell: dict[str, Any]) -> str:
    """A cell's fusion as tables name it: with its answer head in brackets when the grid has a head axis."""
    head = cell.get("head", "")
    return f"{cell['fusion']} ({head})" if head else cell["fusion"]


def variant(cell: dict[str, Any]) -> str:
    """How a cell's variant is named in tables and plots: its fusion (and head), and its encoder when the grid
    has several."""
    encoder = cell.get("encoder", "")
    return f"{fusion_label(cell)} + {encoder}" if encoder else fusion_label(cell)


def predictions_file(run_dir: Path, cell: dict[str, Any]) -> Path:
    """The per-question results file of a finished cell of the run in `run_dir`."""
    if "predictions" in cell:
        return Path(run_dir) / cell["predictions"]
    return predictions_path(run_dir, cell["key"])


def aligned(reference_ids: np.ndarray, other_ids: np.ndarray, what: str) -> np.ndarray:
    """Positions in `other_ids` [N] of the questions `reference_ids` [N]: a clear error when the sets differ."""
    position = {qid: i for i, qid in enumerate(other_ids.tolist())}
    reference = reference_ids.tolist()
    missing = [qid for qid in reference if qid not in position]
    if missing or len(position) != len(reference):
        example = f"; e.g. question_id {missing[0]!r} is missing from one" if missing else ""
        raise VQAError(
            f"{what}: the test questions differ ({len(reference)} vs {len(position)} questions{example}); only "
            "results on the same test questions can be compared (same dataset config, data size and data seed)"
        )
    return np.asarray([position[qid] for qid in reference], dtype=np.int64)


def load_system(run_dir: Path, cells: Sequence[dict[str, Any]]) -> System:
    """The system of `cells` (one variant, one cell per seed) from their per-question files in `run_dir`."""
    files = [predictions_file(run_dir, cell) for cell in cells]
    first = read_predictions(files[0])
    seed_scores = {int(cells[0]["seed"]): 100.0 * first.scores}
    for cell, path in zip(cells[1:], files[1:]):
        results = read_predictions(path)
        order = aligned(first.question_ids, results.question_ids, f"{files[0]} and {path}")
        seed_scores[int(cell["seed"])] = 100.0 * results.scores[order]
    groups = {
        f"{key}/{value}": values == value
        for key, values in first.types.items()
        for value in sorted(set(values))
        if value
    }
    return System(
        dataset=cells[0]["dataset"],
        name=variant(cells[0]),
        seeds=list(seed_scores),
        question_ids=first.question_ids,
        image_ids=first.image_ids,
        groups=groups,
        scores=np.mean(np.stack(list(seed_scores.values())), axis=0),
        seed_scores=seed_scores,
    )


def group_cells(cells: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Cells by (dataset, variant), in order of first appearance; the cells of a variant sorted by seed."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["dataset"], variant(cell)), []).append(cell)
    return {key: sorted(members, key=lambda c: c["seed"]) for key, members in groups.items()}


# ---- comparing two systems ---------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """System `a` against system `b` on the same test questions; differences are a - b in percentage points.

    Attributes:
        a: name of the first system.
        b: name of the second.
        tests: metric ("overall", "type/color", ...) -> paired image-clustered bootstrap.
        accuracy_a: metric -> accuracy of `a` (percent, seed-averaged) on the metric's questions.
        accuracy_b: metric -> accuracy of `b`.
        holm: metric -> Holm-adjusted p-value (filled by `adjust`; the family is every comparison of a dataset).
        mcnemar: seed -> McNemar's test of that seed's right/wrong answers (single-label sets only).
    """

    a: str
    b: str
    tests: dict[str, BootstrapResult]
    accuracy_a: dict[str, float]
    accuracy_b: dict[str, float]
    holm: dict[str, float] = field(default_factory=dict)
    mcnemar: dict[int, McNemarResult] = field(default_factory=dict)

    def significant(self, metric: str = OVERALL, alpha: float = ALPHA) -> bool:
        """Whether the difference on `metric` is significant after Holm's correction."""
        return bool(self.holm.get(metric, math.nan) < alpha)

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "tests": {
                metric: {
                    "accuracy_a": self.accuracy_a[metric],
                    "accuracy_b": self.accuracy_b[metric],
                    **asdict(test),
                    "p_holm": self.holm.get(metric),
                }
                for metric, test in self.tests.items()
            },
            "mcnemar": {str(seed): asdict(test) for seed, test in self.mcnemar.items()},
        }


def compare(a: System, b: System, resamples: int = 10_000, seed: int = 0, what: str = "") -> Comparison:
    """The paired bootstrap of a - b (test images and each side's seeds resampled), overall and per question type,
    and McNemar per shared seed.

    Args:
        a: one system.
        b: the other, on the same test questions (in any order).
        resamples: bootstrap resamples.
        seed: the bootstrap's seed.
        what: how to name the pair in an error.
    """
    order = aligned(a.question_ids, b.question_ids, what or f"{a.dataset}: {a.name} vs {b.name}")  # b's positions
    runs_a = np.stack(list(a.seed_scores.values()))  # (S_a, N): the bootstrap also resamples each side's seeds
    runs_b = np.stack([scores[order] for scores in b.seed_scores.values()])  # (S_b, N), in a's question order
    tests = paired_bootstrap(runs_a, runs_b, a.image_ids, a.groups, resamples=resamples, seed=seed)
    tests_mcnemar = {}
    for shared in sorted(set(a.seed_scores) & set(b.seed_scores)):
        score_a, score_b = a.seed_scores[shared] / 100.0, b.seed_scores[shared][order] / 100.0
        if is_binary(score_a) and is_binary(score_b):
            tests_mcnemar[shared] = mcnemar(score_a == 1, score_b == 1)
    accuracy_a = {metric: a.accuracy(metric) for metric in tests}
    accuracy_b = {metric: b.accuracy(metric) for metric in tests}  # b's own groups: the same questions, reordered
    return Comparison(a.name, b.name, tests, accuracy_a, accuracy_b, mcnemar=tests_mcnemar)


def adjust(comparisons: Sequence[Comparison]) -> None:
    """Fill every comparison's Holm-adjusted p-values; each metric is its own family of tests."""
    for metric in dict.fromkeys(m for c in comparisons for m in c.tests):
        tested = [c for c in comparisons if metric in c.tests]
        for comparison, adjusted in zip(tested, holm([c.tests[metric].p_value for c in tested])):
            comparison.holm[metric] = adjusted


# ---- a whole suite ---------------------------------------------------------------------------------------------


@dataclass
class DatasetSignificance:
    """Every pair of systems on one dataset, and which systems are best or tied with the best.

    Attributes:
        systems: the dataset's systems, in table order.
        comparisons: one per pair (i < j in `systems`), a = systems[i].
        best: metric -> name of the system with the highest accuracy.
        tied: metric -> names of the systems whose difference from the best is not significant (Holm p >= alpha).
        resamples: bootstrap resamples of every comparison.
    """

    systems: list[System]
    comparisons: list[Comparison]
    best: dict[str, str]
    tied: dict[str, list[str]]
    resamples: int

    def comparison(self, a: str, b: str) -> tuple[Comparison, float] | None:
        """The comparison of `a` and `b` with the sign that makes its differences a - b (+1 or -1)."""
        for comparison in self.comparisons:
            if (comparison.a, comparison.b) == (a, b):
                return comparison, 1.0
            if (comparison.a, comparison.b) == (b, a):
                return comparison, -1.0
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "variants": {
                s.name: {
                    "seeds": s.seeds,
                    "questions": len(s.scores),
                    "images": len(np.unique(s.image_ids)),
                    "accuracy": {metric: s.accuracy(metric) for metric in s.metrics},
                }
                for s in self.systems
            },
            "resamples": self.resamples,
            "best": self.best,
            "tied_with_best": self.tied,
            "pairs": [c.to_json() for c in self.comparisons],
        }


def dataset_significance(
    systems: Sequence[System], resamples: int = 10_000, seed: int = 0, alpha: float = ALPHA
) -> DatasetSignificance:
    """Compare every pair of `systems` (all on one dataset), Holm-adjust, and find the best and those tied."""
    comparisons = [compare(a, b, resamples, seed) for a, b in itertools.combinations(systems, 2)]
    smallest = len(comparisons) / (resamples + 1)  # Holm multiplies the smallest possible bootstrap p by the pairs
    if smallest >= alpha:
        warnings.warn(
            f"{resamples} bootstrap resamples cannot show any of {len(comparisons)} pairs significant after Holm's "
            f"correction (smallest possible adjusted p {smallest:.3f}); use at least "
            f"{math.ceil(len(comparisons) / alpha * 2)} resamples",
            stacklevel=2,
        )
    adjust(comparisons)
    result = DatasetSignificance(list(systems), comparisons, {}, {}, resamples)
    for metric in dict.fromkeys(m for s in systems for m in s.metrics):
        scored = [s for s in systems if not math.isnan(s.accuracy(metric))]
        if not scored:
            continue
        best = max(scored, key=lambda s: s.accuracy(metric))
        result.best[metric] = best.name
        result.tied[metric] = []
        for other in scored:
            found = result.comparison(best.name, other.name) if other is not best else None
            if found is not None and not found[0].significant(metric, alpha):
                result.tied[metric].append(other.name)
    return result


def suite_significance(
    run_dir: Path, cells: Sequence[dict[str, Any]], resamples: int = 10_000, seed: int = 0
) -> dict[str, DatasetSignificance]:
    """Per dataset, the significance of every pair of variants of a finished suite.

    Args:
        run_dir: the suite's output folder (holds `cells/<key>/test_predictions.jsonl.gz`).
        cells: the suite's cell results (as in results.json).
        resamples: bootstrap resamples per comparison.
        seed: the bootstrap's seed.

    Returns:
        dataset -> its significance; datasets with a cell lacking its per-question file are left out (cells run
        before the files were recorded).
    """
    by_dataset: dict[str, list[System]] = {}
    skipped = set()
    for (dataset, _), members in group_cells(cells).items():
        if dataset in skipped or not all(predictions_file(run_dir, c).is_file() for c in members):
            skipped.add(dataset)
            by_dataset.pop(dataset, None)
            continue
        by_dataset.setdefault(dataset, []).append(load_system(run_dir, members))
    return {dataset: dataset_significance(systems, resamples, seed) for dataset, systems in by_dataset.items()}
