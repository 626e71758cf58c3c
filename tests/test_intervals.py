import numpy as np
import pytest

from nbutils import intervals
from nbutils.challenge import ChallengeScore


def challenge(points, acc_u=0.9, acc_r=0.9, n=8):
    accuracies = {split: (np.full(n, acc_u), np.full(n, acc_r)) for split in ("retain", "test")}
    return ChallengeScore(np.zeros(len(points)), np.asarray(points, dtype=float), accuracies)


def test_no_spread_gives_a_point_interval():
    forget, final = intervals.challenge_draws(challenge(np.ones(50)))
    assert intervals.interval(forget) == (1.0, 1.0) and intervals.interval(final) == (1.0, 1.0)


def test_the_interval_covers_the_mean_of_points_and_shrinks_with_more_rows():
    rng = np.random.default_rng(0)
    widths = []
    for n_rows in (50, 800):
        points = rng.choice([0.0, 0.5, 1.0], size=n_rows)
        low, high = intervals.interval(intervals.challenge_draws(challenge(points))[0])
        assert low < points.mean() < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_two_configurations_draw_the_same_rows_and_models_so_their_difference_is_paired():
    rng = np.random.default_rng(1)
    points = rng.choice([0.0, 1.0], size=200)
    accuracies = rng.uniform(0.8, 0.95, 8)
    same = [challenge(points) for _ in range(2)]
    for c in same:
        c.accuracies["test"] = (accuracies, np.full(8, 0.9))
    a, b = (intervals.challenge_draws(c)[1] for c in same)
    assert intervals.difference_interval(a, b) == (0.0, 0.0, False)  # identical models: no difference at all
    shifted = intervals.challenge_draws(challenge(np.minimum(points + 0.25, 1)))[0]
    low, high, apart = intervals.difference_interval(shifted, intervals.challenge_draws(challenge(points))[0])
    assert apart and 0 < low < high


@pytest.mark.parametrize("n_method, n_retrain", [(32, 32), (5, 5), (4, 8)])
def test_the_gap_interval_holds_zero_in_95_percent_of_trials_when_ensembles_share_a_distribution(n_method, n_retrain):
    """Coverage by simulation at the report's sizes (32 per side; 5 for MIA efficacy) and the smoke test's."""
    rng = np.random.default_rng(n_method)
    trials = 2000
    held = sum(intervals.folded(*intervals.welch_interval(rng.normal(90, 2, n_method), rng.normal(90, 2, n_retrain)))[0] == 0
               for _ in range(trials))
    assert 0.93 <= held / trials <= 0.97


def test_a_real_gap_is_kept_away_from_zero():
    low, high = intervals.folded(*intervals.welch_interval([100.0, 102.0, 104.0], [90.0, 92.0, 94.0]))
    assert 0 < low < 10 < high


def test_identical_constant_ensembles_give_a_point_gap():
    assert intervals.folded(*intervals.welch_interval([90.0] * 4, [90.0] * 4)) == (0.0, 0.0)


def test_a_t_interval_across_replicates_covers_the_mean_in_95_percent_of_trials():
    rng = np.random.default_rng(5)
    trials = 2000
    held = 0
    for _ in range(trials):
        _, low, high = intervals.t_interval(rng.normal(0.1, 0.02, 3))
        held += low <= 0.1 <= high
    assert 0.93 <= held / trials <= 0.97


def test_bonferroni_widens_each_interval_so_that_all_hold_together():
    assert intervals.simultaneous(1) == pytest.approx(0.95)
    assert intervals.simultaneous(4) == pytest.approx(0.9875)
    rng = np.random.default_rng(6)
    draws = rng.normal(0, 1, 1000)
    one, four = (intervals.interval(draws, level) for level in (0.95, intervals.simultaneous(4)))
    assert four[0] < one[0] and four[1] > one[1]


def test_comparisons_use_the_bootstrap_with_one_replicate_and_a_t_interval_with_several():
    rng = np.random.default_rng(7)
    a, b = rng.normal(0.2, 0.01, 1000), rng.normal(0.1, 0.01, 1000)
    one = intervals.Comparisons({"a": [0.2], "b": [0.1]}, {"a": [a], "b": [b]})
    difference, low, high, apart = one("a", "b")
    assert difference == pytest.approx(0.1) and apart and (low, high) == intervals.difference_interval(a, b)[:2]
    several = intervals.Comparisons({"a": [0.2, 0.25, 0.15], "b": [0.1, 0.1, 0.1]}, {})
    difference, low, high, apart = several("a", "b")
    assert difference == pytest.approx(0.1) and (low, high) == pytest.approx(intervals.t_interval([0.1, 0.15, 0.05])[1:])
    assert "3 report replicates" in several.how()


def test_the_attack_summary_reads_the_worst_tenth_of_rows():
    figures = intervals.attack_figures(np.r_[np.full(90, 0.5), np.full(10, 1.0)])
    assert figures["attack_acc"] == pytest.approx(0.55) and figures["attack_worst"] == pytest.approx(1.0)
