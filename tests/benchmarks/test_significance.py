"""The statistics behind the benchmark's rankings, on synthetic scores whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vqa.benchmarks.significance import (
    holm,
    is_binary,
    mcnemar,
    mean_interval,
    paired_bootstrap,
    student_t_central,
    student_t_quantile,
)

# ---- intervals over seeds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "quantile"), [(1, 12.7062047), (2, 4.3026527), (3, 3.1824463), (4, 2.7764451), (30, 2.0422725)]
)
def test_t_quantiles_match_the_tables(df, quantile):
    assert student_t_quantile(0.95, df) == pytest.approx(quantile, abs=1e-6)
    assert student_t_central(quantile, df) == pytest.approx(0.95, abs=1e-7)  # the tables round t


def test_t_distribution_agrees_with_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 9, 10, 57):
        for t in (0.1, 1.0, 2.5, 7.0):
            assert student_t_central(t, df) == pytest.approx(stats.t.cdf(t, df) - stats.t.cdf(-t, df), abs=1e-12)
        assert student_t_quantile(0.95, df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-9)


def test_mean_interval_over_seeds():
    mean, low, high = mean_interval([1.0, 2.0, 3.0])  # s = 1, n = 3: half-width t(0.975, 2) / sqrt(3)
    assert (
        mean == 2.0 and high - mean == pytest.approx(4.3026527 / math.sqrt(3), abs=1e-6) and mean - low == high - mean
    )
    assert mean_interval([5.0, 5.0]) == (5.0, 5.0, 5.0)
    single = mean_interval([7.0, float("nan")])
    assert single[0] == 7.0 and math.isnan(single[1]) and math.isnan(single[2])


# ---- the paired bootstrap ---------------------------------------------------------------------------------------


def clustered_scores(rng, images, per_image, gap, image_effect):
    """Per-question 0/1 scores [N] of two systems with accuracies 0.6 + gap and 0.6, and the image of each question.

    With probability `image_effect` a question's outcome is its image's (each system "gets" an image or not, all
    of its questions together), else it is drawn on its own: the questions of an image are correlated.
    """
    image_ids = np.repeat(np.arange(images), per_image)

    def system(accuracy):
        easy = rng.random(images) < accuracy  # an image the system "gets"
        together = np.repeat(easy, per_image)
        alone = rng.random(images * per_image) < accuracy
        use_image = rng.random(images * per_image) < image_effect
        return np.where(use_image, together, alone).astype(float)

    return system(0.6 + gap), system(0.6), image_ids


def test_identical_systems_have_p_one_and_a_zero_interval():
    rng = np.random.default_rng(0)
    scores = rng.choice([0.0, 0.3, 0.6, 0.9, 1.0], size=500)
    result = paired_bootstrap(scores, scores.copy(), np.repeat(np.arange(100), 5), resamples=2000)["overall"]
    assert result.p_value == 1.0
    assert result.difference == result.low == result.high == 0.0
    assert (result.questions, result.clusters) == (500, 100)


def test_a_constant_gap_is_recovered_exactly():
    rng = np.random.default_rng(1)
    b = rng.random(300) * 0.5
    result = paired_bootstrap(b + 0.25, b, np.repeat(np.arange(60), 5), resamples=1000)["overall"]
    assert result.difference == pytest.approx(0.25)
    assert result.low == pytest.approx(0.25) and result.high == pytest.approx(0.25)
    assert result.p_value == pytest.approx(1 / 1001)  # no resample as far from 0.25 as 0.25 is from 0


def test_interval_covers_a_known_gap_and_p_values_are_calibrated():
    """Repeated synthetic test sets with a true gap of 5 points: the 95% interval covers it in about 95% of them;
    with no true gap, p < 0.05 in about 5% of them."""
    rng = np.random.default_rng(2)
    covered, rejected = 0, 0
    trials = 200
    for trial in range(trials):
        a, b, images = clustered_scores(rng, images=120, per_image=5, gap=0.05, image_effect=0.5)
        found = paired_bootstrap(a, b, images, resamples=400, seed=trial)["overall"]
        covered += found.low <= 0.05 <= found.high
        a, b, images = clustered_scores(rng, images=120, per_image=5, gap=0.0, image_effect=0.5)
        rejected += paired_bootstrap(a, b, images, resamples=400, seed=trial)["overall"].p_value < 0.05
    assert 0.88 <= covered / trials <= 0.99
    assert 0.01 <= rejected / trials <= 0.11


def test_resampling_images_widens_the_interval_when_an_images_questions_go_together():
    rng = np.random.default_rng(3)
    a, b, images = clustered_scores(rng, images=100, per_image=10, gap=0.05, image_effect=0.9)
    by_image = paired_bootstrap(a, b, images, resamples=2000)["overall"]
    by_question = paired_bootstrap(a, b, np.arange(len(a)), resamples=2000)["overall"]
    assert by_image.difference == by_question.difference
    # design effect 1 + (m - 1) * rho with m = 10 questions per image, rho ~ 0.8: the width grows about 3x
    assert by_image.high - by_image.low > 2.0 * (by_question.high - by_question.low)
    # with independent questions the two agree
    a, b, images = clustered_scores(rng, images=100, per_image=10, gap=0.05, image_effect=0.0)
    by_image = paired_bootstrap(a, b, images, resamples=2000)["overall"]
    by_question = paired_bootstrap(a, b, np.arange(len(a)), resamples=2000)["overall"]
    assert 0.8 < (by_image.high - by_image.low) / (by_question.high - by_question.low) < 1.25


def test_question_level_resampling_undercovers_correlated_questions_and_image_level_does_not():
    rng = np.random.default_rng(4)
    covered = {"image": 0, "question": 0}
    trials = 150
    for trial in range(trials):
        a, b, images = clustered_scores(rng, images=60, per_image=8, gap=0.05, image_effect=0.8)
        for name, clusters in (("image", images), ("question", np.arange(len(a)))):
            found = paired_bootstrap(a, b, clusters, resamples=300, seed=trial)["overall"]
            covered[name] += found.low <= 0.05 <= found.high
    assert covered["image"] / trials >= 0.88
    assert covered["question"] / trials <= 0.75  # the question-level interval is far too narrow


def test_groups_are_tested_on_their_own_questions():
    a = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    b = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    color = np.array([True, True, True, False, False, False])
    found = paired_bootstrap(a, b, np.array([0, 0, 1, 2, 2, 3]), {"type/color": color, "type/none": color & False})
    assert found["overall"].difference == pytest.approx(2 / 6)
    assert found["type/color"].difference == pytest.approx(2 / 3)
    assert (found["type/color"].questions, found["type/color"].clusters) == (3, 2)
    assert math.isnan(found["type/none"].p_value)  # an empty group is untestable, not an error
    assert list(found) == ["overall", "type/color", "type/none"]


def test_bootstrap_is_reproducible_and_checks_shapes():
    rng = np.random.default_rng(5)
    a, b = rng.random(50), rng.random(50)
    images = np.repeat(np.arange(10), 5)
    assert paired_bootstrap(a, b, images, seed=3) == paired_bootstrap(a, b, images, seed=3)
    with pytest.raises(ValueError, match="paired scores"):
        paired_bootstrap(a, b[:-1], images)
    with pytest.raises(ValueError, match=r"\[seeds, N\]"):
        paired_bootstrap(np.zeros((2, 2, 50)), b, images)


def test_seeds_that_agree_give_the_one_run_result():
    rng = np.random.default_rng(6)
    a, b = (rng.random(60) < 0.7).astype(float), (rng.random(60) < 0.6).astype(float)
    images = np.repeat(np.arange(12), 5)
    single = paired_bootstrap(a, b, images, resamples=500)
    assert paired_bootstrap(np.stack([a, a, a]), np.stack([b, b]), images, resamples=500) == single


def test_a_gap_smaller_than_the_seed_spread_is_not_significant_once_seeds_are_resampled():
    """System A's three seeds score 9.9 points below, equal to and 5.5 points above B: averaged over seeds A is
    1.5 points worse, which the test set alone would call certain (p < 0.001); resampling the seeds too says
    that another set of three training runs could well rank them the other way."""
    rng = np.random.default_rng(3)
    images = np.repeat(np.arange(400), 5)
    b = (rng.random(2000) < 0.7).astype(float)
    a = np.stack([np.where(rng.random(2000) < 2 * abs(shift), float(shift > 0), b) for shift in (-0.06, 0.0, 0.09)])
    assert np.allclose(a.mean(1) - b.mean(), [-0.0985, 0.0, 0.0545])
    averaged = paired_bootstrap(a.mean(0), b, images, resamples=4000)["overall"]
    resampled = paired_bootstrap(a, b, images, resamples=4000)["overall"]
    assert resampled.difference == pytest.approx(averaged.difference) == pytest.approx(-0.01467, abs=1e-5)
    assert averaged.p_value < 0.001 and averaged.high < 0
    assert resampled.p_value > 0.5 and resampled.low < -0.09 and resampled.high > 0.05  # the seeds' range


# ---- Holm and McNemar, worked by hand ---------------------------------------------------------------------------


def test_holm_on_a_hand_worked_case():
    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # at 0.05 Holm rejects the two smallest only, although 0.04 < 0.05 unadjusted
    assert [p < 0.05 for p in holm([0.01, 0.04, 0.03, 0.005])] == [True, False, False, True]
    assert holm([0.5, 0.9]) == [1.0, 1.0]  # capped at 1
    adjusted = holm([0.02, float("nan"), 0.01])  # NaN: untested, not counted in m
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def test_mcnemar_on_a_hand_worked_case():
    # 8 questions only A gets right, 2 only B: P(X <= 2 | n=10, 1/2) = (1 + 10 + 45) / 1024
    a = np.array([1] * 8 + [0] * 2 + [1] * 5 + [0] * 3)
    b = np.array([0] * 8 + [1] * 2 + [1] * 5 + [0] * 3)
    found = mcnemar(a, b)
    assert (found.only_a, found.only_b) == (8, 2)
    assert found.p_exact == pytest.approx(112 / 1024)
    assert found.p_mid == pytest.approx((112 - 45) / 1024)  # minus P(X = 2)
    assert mcnemar(b, a).p_exact == found.p_exact  # symmetric
    assert mcnemar(a, a).p_exact == 1.0 and mcnemar(a, a).p_mid == 1.0
    tied = mcnemar(np.array([1, 0, 1, 0]), np.array([0, 1, 0, 1]))  # 2 vs 2: no evidence either way
    assert tied.p_exact == 1.0 and tied.p_mid == pytest.approx(1.0)


def test_mcnemar_agrees_with_scipy_where_installed():
    stats = pytest.importorskip("scipy.stats")
    for only_a, only_b in ((3, 17), (40, 61), (500, 560)):
        a = np.array([1] * only_a + [0] * only_b)
        found = mcnemar(a, 1 - a)
        assert found.p_exact == pytest.approx(stats.binomtest(only_a, only_a + only_b).pvalue, rel=1e-9)


def test_binary_scores_are_recognized():
    assert is_binary(np.array([0.0, 1.0, 1.0])) and not is_binary(np.array([0.0, 0.3, 1.0]))
