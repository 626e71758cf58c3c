import numpy as np
import pandas as pd

from nbutils import intervals
from nbutils.challenge import ChallengeScore


def challenge(points, acc_u=0.9, acc_r=0.9, n=8):
    accuracies = {split: (np.full(n, acc_u), np.full(n, acc_r)) for split in ("retain", "test")}
    return ChallengeScore(np.zeros(len(points)), np.asarray(points, dtype=float), accuracies)


def test_no_spread_gives_a_point_interval():
    forget, final = intervals.challenge_draws(challenge(np.ones(50)), "a")
    assert intervals.interval(forget) == (1.0, 1.0) and intervals.interval(final) == (1.0, 1.0)


def test_the_interval_covers_the_mean_of_points_and_shrinks_with_more_rows():
    rng = np.random.default_rng(0)
    widths = []
    for n_rows in (50, 800):
        points = rng.choice([0.0, 0.5, 1.0], size=n_rows)
        low, high = intervals.interval(intervals.challenge_draws(challenge(points), "a")[0])
        assert low < points.mean() < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_two_configurations_draw_the_same_rows_so_their_difference_is_paired():
    rng = np.random.default_rng(1)
    points = rng.choice([0.0, 1.0], size=200)
    a = intervals.challenge_draws(challenge(points), "method a")[0]
    b = intervals.challenge_draws(challenge(points), "method b")[0]
    assert intervals.difference_interval(a, b) == (0.0, 0.0, False)
    shifted = intervals.challenge_draws(challenge(np.minimum(points + 0.25, 1)), "method b")[0]
    low, high, apart = intervals.difference_interval(shifted, a)
    assert apart and 0 < low < high


def test_gap_draws_resample_models_of_both_ensembles():
    method = pd.DataFrame({"forget_acc": [90.0, 92.0, 94.0]})
    same = intervals.gap_draws(method, method.copy(), "x")["forget_acc"]
    far = intervals.gap_draws(method + 10, method, "x")["forget_acc"]
    assert intervals.interval(same)[0] == 0 and intervals.interval(same)[1] > 0  # independent draws of equal sets
    low, high = intervals.interval(far)
    assert 6 <= low < 10 < high <= 14  # a mean of resampled models lies within the models' range
