import numpy as np
import pytest

import challenge_reference as reference
from nbutils.challenge import epsilon_points, example_epsilons, forget_score, logit_scaled_confidence


def sample_pairs(n, examples=3, seed=0):
    """(unlearned, retrained) confidences, shape (n, examples), for each kind of pair the estimator meets."""
    rng = np.random.default_rng(seed)

    def normal(loc=0.0, scale=1.0):
        return rng.normal(loc, scale, size=(n, examples))

    same = normal()
    return {
        "one distribution": (normal(), normal()),
        "shifted": (normal(), normal(0.7)),
        "peaky inside wide": (normal(scale=0.2), normal(scale=4.0)),
        "closer than 0.01": (normal(scale=0.004), normal(0.002, 0.004)),
        "tied": (np.round(normal(), 1), np.round(normal(), 1)),
        "on a 0.01 lattice": (np.round(normal(), 2), np.round(normal(0.3), 2)),
        "near point mass": (1 + 1e-4 * normal(), normal()),
        "disjoint": (normal(), normal(20.0)),
        "identical": (same, same.copy()),
    }


@pytest.mark.parametrize("n", [16, 32])
def test_epsilons_match_a_port_of_the_published_code(n):
    for kind, (unlearned, retrained) in sample_pairs(n, seed=n).items():
        np.testing.assert_allclose(example_epsilons(unlearned, retrained), reference.epsilons(unlearned, retrained),
                                   rtol=0, atol=1e-6, err_msg=kind)
        assert forget_score(unlearned, retrained) == pytest.approx(reference.forget_score(unlearned, retrained),
                                                                   abs=1e-12), kind


def test_confidences_match_the_published_formula():
    rng = np.random.default_rng(5)
    logits = (rng.normal(size=(3, 50, 4)) * 20).astype(np.float32).astype(np.float64)  # some beyond float range
    y = rng.integers(0, 4, 50)
    for model in range(3):
        z = logits[model].astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        probs = np.array(np.exp(z), dtype=np.float64)
        probs /= probs.sum(axis=1, keepdims=True)
        correct = probs[np.arange(50), y]
        probs[np.arange(50), y] = 0
        expected = np.log(correct + 1e-45) - np.log(probs.sum(axis=1) + 1e-45)
        np.testing.assert_array_equal(logit_scaled_confidence(logits, y)[model], expected)


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
    np.testing.assert_allclose(logit_scaled_confidence(logits, y), np.log(p_y) - np.log(1 - p_y), rtol=1e-6, atol=1e-6)
