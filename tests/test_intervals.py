import numpy as np
import pandas as pd

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


def test_a_gap_interval_holds_zero_when_two_ensembles_come_from_one_distribution():
    rng = np.random.default_rng(2)
    held = 0
    for _ in range(100):
        method, retrain = (pd.DataFrame({"forget_acc": rng.normal(90, 2, 5)}) for _ in range(2))
        low, high = intervals.folded_interval(intervals.gap_draws(method, retrain)["forget_acc"])
        held += low == 0
    # Percentiles of resampled unsigned gaps would never hold 0; the folded interval does, though a percentile
    # bootstrap of 5 models per side is too narrow for 95 % (about 85 % here), as README says.
    assert held >= 75


def test_a_real_gap_is_kept_away_from_zero():
    method = pd.DataFrame({"forget_acc": [100.0, 102.0, 104.0]})
    retrain = pd.DataFrame({"forget_acc": [90.0, 92.0, 94.0]})
    low, high = intervals.folded_interval(intervals.gap_draws(method, retrain)["forget_acc"])
    assert 6 <= low < 10 < high <= 14  # a mean of resampled models lies within the models' range
