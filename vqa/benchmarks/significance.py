"""Statistics for "is fusion A really better than fusion B?": intervals over seeds, the paired image-clustered
bootstrap, Holm's correction and McNemar's test. NumPy and the standard library only.

Per-question scores are VQA soft scores in [0, 1] (0 / 0.3 / 0.6 / 0.9 / 1 on VQA v2, 0 or 1 on single-label
sets). Several questions share an image, and a model that misreads an image tends to miss all of its questions,
so the questions are not independent draws: the bootstrap resamples images (clusters) and brings every question of
a drawn image along (Field & Welsh 2007, "Bootstrapping clustered data"); resampling single questions would give
intervals that are too narrow. References: Efron & Tibshirani 1993 (bootstrap tests, ch. 16); Berg-Kirkpatrick et
al. 2012 (paired bootstrap in NLP); Dror et al. 2018 (significance testing in NLP); Holm 1979; McNemar 1947 and
Fagerland et al. 2013 (the mid-p version).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Resampled clusters held in memory at once (resamples x clusters weights, float64): about 16 MB.
_WEIGHTS_PER_CHUNK = 2_000_000


# ---- intervals over seeds --------------------------------------------------------------------------------------


def student_t_central(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with `df` (integer) degrees of freedom, in closed form.

    Abramowitz & Stegun 26.7.3 / 26.7.4: with theta = atan(t / sqrt(df)), a finite series in cos(theta), exact
    for integer df (seeds are counted, so df always is one).
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    theta = math.atan(abs(t) / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:  # 2/pi * (theta + sin * (cos + 2/3 cos^3 + (2*4)/(3*5) cos^5 + ... up to cos^(df-2)))
        term, series = math.cos(theta), 0.0
        for k in range(1, (df - 1) // 2 + 1):
            if k > 1:
                term *= cos2 * (2 * k - 2) / (2 * k - 1)
            series += term
        return 2.0 / math.pi * (theta + sin * series)
    term, series = 1.0, 1.0  # sin * (1 + 1/2 cos^2 + (1*3)/(2*4) cos^4 + ... up to cos^(df-2))
    for k in range(1, df // 2):
        term *= cos2 * (2 * k - 1) / (2 * k)
        series += term
    return sin * series


def student_t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| <= t) = `confidence` (e.g. 0.95 -> 12.706 for df 1, 2.776 for df 4), by bisection."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    low, high = 0.0, 1.0
    while student_t_central(high, df) < confidence:
        high *= 2.0
    for _ in range(100):  # halves the bracket to far below float precision
        middle = 0.5 * (low + high)
        low, high = (middle, high) if student_t_central(middle, df) < confidence else (low, middle)
    return 0.5 * (low + high)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of `values` (e.g. one accuracy per seed) and its `confidence` interval from the t-distribution.

    With few seeds the t quantile is large (12.7 for 2 seeds, 4.3 for 3, 2.8 for 5 at 95%): the honest width of
    what few runs can tell. NaN values are left out; with fewer than two values the bounds are NaN.

    Returns:
        (mean, low, high).
    """
    kept = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if len(kept) == 0:
        return math.nan, math.nan, math.nan
    mean = float(kept.mean())
    if len(kept) < 2:
        return mean, math.nan, math.nan
    half = student_t_quantile(confidence, len(kept) - 1) * float(kept.std(ddof=1)) / math.sqrt(len(kept))
    return mean, mean - half, mean + half


# ---- the paired, clustered bootstrap ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapResult:
    """A paired difference mean(a) - mean(b) with its bootstrap interval and two-sided p-value.

    Attributes:
        difference: the observed difference of mean scores (in the scores' units; x100 for percentage points).
        low: lower bound of the percentile interval.
        high: upper bound.
        p_value: two-sided p-value of "no difference".
        questions: questions the difference is over.
        clusters: clusters (images) those questions belong to.
    """

    difference: float
    low: float
    high: float
    p_value: float
    questions: int
    clusters: int


def paired_bootstrap(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    clusters: np.ndarray,
    groups: Mapping[str, np.ndarray] | None = None,
    resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, BootstrapResult]:
    """Paired bootstrap of mean(scores_a) - mean(scores_b), resampling clusters (images) and, with several seeds,
    each system's seeds, with replacement.

    Each resample draws as many clusters as there are, with replacement; every question of a drawn cluster comes
    along with both systems' scores (paired). When a system has several seeds (a [S, N] array: one row of scores
    per training seed), the resample also draws S of its seeds with replacement, for each system independently
    (seeds are not paired: seed 0 of one fusion has nothing in common with seed 0 of another), and averages the
    drawn seeds' scores per question. The interval then covers both the test-set sampling and how much a training
    run moves with its seed, the two-stage bootstrap of Davison & Hinkley 1997 (3.8); with one seed it is the
    plain clustered bootstrap. Pass `clusters = np.arange(N)` to resample single questions instead.

    The interval is the percentile interval of the resampled differences. The p-value is that of the bootstrap
    distribution shifted to the null hypothesis (Efron & Tibshirani 1993, 16.4; two-sided form of
    Berg-Kirkpatrick et al. 2012): the share of resamples whose difference lies at least as far from the observed
    one as the observed one lies from 0, counted as (1 + hits) / (1 + resamples) so that it is never 0.
    Identical systems get p = 1.

    Every group (e.g. a question type) is tested on the same resampled images and seeds, restricted to its
    questions.

    Args:
        scores_a: per-question scores of system A, [N] (one run) or [S_a, N] (one row per seed).
        scores_b: scores of system B on the same questions in the same order, [N] or [S_b, N].
        clusters: [N] cluster of each question (image ids: any values that compare equal for the same image).
        groups: name -> [N] bool membership; "overall" (every question) is always included.
        resamples: bootstrap resamples.
        confidence: interval coverage.
        seed: seed of the resampling (reports are reproducible).

    Returns:
        group name -> result ("overall" first). A group with no question gets NaN everywhere.
    """
    runs_a, runs_b = _as_runs(scores_a), _as_runs(scores_b)
    if runs_a.shape[1] != runs_b.shape[1] or len(clusters) != runs_a.shape[1]:
        raise ValueError(
            f"expected paired scores [N] or [seeds, N] and clusters [N]; got {np.shape(scores_a)}, "
            f"{np.shape(scores_b)}, {len(clusters)}"
        )
    _, cluster_index = np.unique(np.asarray(clusters), return_inverse=True)
    cluster_index = cluster_index.reshape(-1)
    num_clusters = int(cluster_index.max()) + 1 if len(cluster_index) else 0
    masks = {"overall": np.ones(runs_a.shape[1], dtype=bool)}
    masks.update({name: np.asarray(mask, dtype=bool) for name, mask in (groups or {}).items() if name != "overall"})

    def cluster_sums(runs: np.ndarray) -> np.ndarray:  # (S, N) -> per seed, cluster and group: summed scores (S, C, G)
        return np.stack(
            [
                np.stack([np.bincount(cluster_index, run * m, num_clusters) for m in masks.values()], axis=1)
                for run in runs
            ]
        )

    sums_a, sums_b = cluster_sums(runs_a), cluster_sums(runs_b)
    counts = np.stack([np.bincount(cluster_index, m.astype(np.float64), num_clusters) for m in masks.values()], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = (sums_a.mean(0) - sums_b.mean(0)).sum(0) / counts.sum(0)  # (G,)
    # Seeds are drawn from their own generator, so that one-seed systems get exactly the cluster draws they
    # always got, and systems whose seeds all agree get the one-seed result.
    resampled = _resample_means(
        sums_a, sums_b, counts, resamples, np.random.default_rng(seed), np.random.default_rng([seed, 1])
    )  # (R, G)
    results = {}
    for g, name in enumerate(masks):
        values = resampled[:, g][np.isfinite(resampled[:, g])]  # a rare group may be absent from some resamples
        if counts[:, g].sum() == 0 or len(values) == 0:
            results[name] = BootstrapResult(math.nan, math.nan, math.nan, math.nan, 0, 0)
            continue
        low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
        hits = int(np.sum(np.abs(values - observed[g]) >= abs(observed[g]) - 1e-12))
        results[name] = BootstrapResult(
            difference=float(observed[g]),
            low=float(low),
            high=float(high),
            p_value=(1 + hits) / (1 + len(values)),
            questions=int(counts[:, g].sum()),
            clusters=int(np.count_nonzero(counts[:, g])),
        )
    return results


def _as_runs(scores: np.ndarray) -> np.ndarray:
    """Scores as [runs, N] float64: a [N] vector is one run."""
    runs = np.asarray(scores, dtype=np.float64)
    if runs.ndim == 1:
        runs = runs[None]
    if runs.ndim != 2 or runs.shape[0] == 0:
        raise ValueError(f"expected per-question scores [N] or [seeds, N], got shape {np.shape(scores)}")
    return runs


def _seed_weights(num_seeds: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """[size, S] weights summing to 1 per row: the share of each seed among S seeds drawn with replacement."""
    if num_seeds == 1:
        return np.ones((size, 1))
    drawn = rng.integers(0, num_seeds, size=(size, num_seeds))
    return np.stack([np.count_nonzero(drawn == s, axis=1) for s in range(num_seeds)], axis=1) / num_seeds


def _resample_means(
    sums_a: np.ndarray,
    sums_b: np.ndarray,
    counts: np.ndarray,
    resamples: int,
    rng: np.random.Generator,
    seed_rng: np.random.Generator,
) -> np.ndarray:
    """Mean difference of every resample and group, [R, G], from per-seed, per-cluster sums [S, C, G] of each
    system and per-cluster counts [C, G]."""
    num_clusters = counts.shape[0]
    if num_clusters == 0:
        return np.full((resamples, counts.shape[1]), np.nan)
    chunk = max(1, _WEIGHTS_PER_CHUNK // num_clusters)
    means = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.integers(0, num_clusters, size=(size, num_clusters))  # (r, C) cluster drawn at each place
        offsets = np.arange(size)[:, None] * num_clusters
        weights = np.bincount((drawn + offsets).ravel(), minlength=size * num_clusters)
        weights = weights.reshape(size, num_clusters).astype(np.float64)  # (r, C) times each cluster was drawn
        seeds_a = _seed_weights(sums_a.shape[0], size, seed_rng)  # (r, S_a)
        seeds_b = _seed_weights(sums_b.shape[0], size, seed_rng)  # (r, S_b)
        total_a = np.einsum("rs,rsg->rg", seeds_a, np.einsum("rc,scg->rsg", weights, sums_a))  # (r, G)
        total_b = np.einsum("rs,rsg->rg", seeds_b, np.einsum("rc,scg->rsg", weights, sums_b))
        with np.errstate(invalid="ignore", divide="ignore"):
            means.append((total_a - total_b) / (weights @ counts))  # (r, G)
    return np.concatenate(means)


# ---- multiple comparisons --------------------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), controlling the family-wise error rate.

    Sorted ascending, the i-th smallest of m p-values (i from 0) becomes min(1, (m - i) * p), and adjusted values
    never decrease along that order. Rejecting where adjusted < alpha is Holm's procedure at level alpha.
    NaN p-values (untestable pairs) stay NaN and do not count towards m.
    """
    values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(len(values), np.nan)
    testable = np.flatnonzero(~np.isnan(values))
    order = testable[np.argsort(values[testable], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * values[i]))
        adjusted[i] = running
    return adjusted.tolist()


# ---- McNemar ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired right/wrong outcomes.

    Attributes:
        only_a: questions A answers right and B wrong.
        only_b: questions B answers right and A wrong.
        p_exact: two-sided exact (binomial) p-value.
        p_mid: two-sided mid-p value (less conservative; Fagerland et al. 2013 recommend it).
    """

    only_a: int
    only_b: int
    p_exact: float
    p_mid: float


def is_binary(scores: np.ndarray) -> bool:
    """Whether every score is 0 or 1 (single-label answers), the case McNemar's test applies to."""
    scores = np.asarray(scores)
    return bool(np.all((scores == 0) | (scores == 1)))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """McNemar's test of paired binary outcomes [N] (right = True / 1).

    Only discordant questions count: under "no difference" each of the n = only_a + only_b is equally likely to
    go either way, so min(only_a, only_b) ~ Binomial(n, 1/2). Exact p = min(1, 2 P(X <= k)); mid-p = 2 P(X <= k)
    - P(X = k) (half the probability of the observed count; equals 1 when only_a == only_b).
    """
    a = np.asarray(correct_a).astype(bool)
    b = np.asarray(correct_b).astype(bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return McNemarResult(0, 0, 1.0, 1.0)
    pmf = [_binomial_half_pmf(i, n) for i in range(k + 1)]
    tail = math.fsum(pmf)
    return McNemarResult(only_a, only_b, min(1.0, 2.0 * tail), min(1.0, 2.0 * tail - pmf[k]))


def _binomial_half_pmf(k: int, n: int) -> float:
    """P(X = k) for X ~ Binomial(n, 1/2), through logarithms (n may be in the thousands)."""
    return math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2.0))
