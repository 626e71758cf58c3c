import math

import numpy as np
import pytest

from nbutils.challenge import _test_epsilons, epsilon_points, example_epsilons, forget_score, logit_scaled_confidence


def grid_epsilon(pos, neg):
    """One example's epsilon on the published code's threshold grids (0.01 apart), written out plainly."""
    n_models = len(pos)

    def epsilons(tpr, fpr):  # the per-test formula is shared; the thresholds are what this checks
        return _test_epsilons(np.round(tpr * n_models), np.round(fpr * n_models), n_models).ravel()

    lo, hi = min(pos.min(), neg.min()), max(pos.max(), neg.max())
    t = np.linspace(lo, hi, int(np.ceil((hi - lo) * 100)))
    single = epsilons((pos[:, None] >= t).mean(0), (neg[:, None] >= t).mean(0))

    p, n = (neg, pos) if np.ptp(pos) >= np.ptp(neg) else (pos, neg)
    width = np.ptp(p)
    lo, hi = p.min() + width - 2, p.max() + 2
    right = np.linspace(lo, hi, int(np.ceil((hi - lo) * 100)))[:, None]
    left = right - width + np.linspace(-2, 2, 400)[None, :]

    def inside(c):
        return ((left[None] <= c[:, None, None]) & (c[:, None, None] <= right[None])).mean(0)

    double = epsilons(inside(p), inside(n))
    return min(np.nanmax(np.r_[single, double]), 50.0)


def test_fast_epsilons_match_the_published_threshold_grids():
    rng = np.random.default_rng(0)
    n, examples = 10, 8
    # shifted samples (the single threshold wins) and a peaky sample inside a wide one (only the double can)
    spread = np.r_[rng.uniform(0.5, 1.5, 4), [0.2, 0.3, 0.5, 0.1]]
    unlearned = rng.normal(size=(n, examples)) * spread + np.r_[rng.uniform(-1, 1, 4), [0, 1, -1, 3]]
    retrained = rng.normal(size=(n, examples)) * np.r_[[1] * 4, [3, 4, 5, 6]]
    fast = example_epsilons(unlearned, retrained)
    for i in range(examples):
        u, r = unlearned[:, i], retrained[:, i]
        pos, neg = (r, u) if np.median(r) > np.median(u) else (u, r)
        assert fast[i] == pytest.approx(grid_epsilon(pos, neg), abs=0.02), i


def test_forget_score_orders_known_cases():
    rng = np.random.default_rng(1)
    n, examples = 32, 300
    a = rng.normal(size=(n, examples))
    same = forget_score(a, rng.normal(size=(n, examples)))
    shifted = forget_score(a, rng.normal(0.5, 1, size=(n, examples)))
    disjoint = forget_score(a, rng.normal(20, 1, size=(n, examples)))
    assert same > shifted > disjoint == 0
    # the estimator is conservative: one distribution against itself scores about 0.17 to 0.21, not 1
    assert 0.15 < same < 0.23


def test_identical_samples_are_indistinguishable():
    a = np.random.default_rng(4).normal(size=(16, 20))
    assert (example_epsilons(a, a.copy()) == 0).all()
    assert forget_score(a, a.copy()) == 1.0


def test_epsilon_points_follow_the_published_buckets():
    # N = 32: buckets of 0.5 below ceil(log(31)) = 4, worth 1, 1/2, ..., 1/128
    np.testing.assert_array_equal(epsilon_points([0.0, 0.49, 0.5, 1.2, 3.99, 4.0, 50.0], 32),
                                  [1, 1, 0.5, 0.25, 0.5**7, 0, 0])


def test_a_point_mass_gets_the_capped_epsilon():
    rng = np.random.default_rng(2)
    point = np.zeros((16, 5))
    assert (example_epsilons(point + 1e-4 * rng.normal(size=(16, 5)), rng.normal(size=(16, 5))) == 50).all()


def test_logit_scaled_confidence_is_log_odds_of_the_true_class():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 10, 3)) * 5
    y = rng.integers(0, 3, 10)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p_y = p[:, np.arange(10), y]
    np.testing.assert_allclose(logit_scaled_confidence(logits, y), np.log(p_y) - np.log(1 - p_y), rtol=1e-9)
