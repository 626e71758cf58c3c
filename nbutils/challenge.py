"""The NeurIPS 2023 Machine Unlearning challenge's score.

Reference: Triantafillou et al., "Are we making progress in unlearning? Findings
from the first NeurIPS unlearning competition" (2024), and the published
evaluation code, ``metric.py`` and ``main.py`` of github.com/google-deepmind/unlearning_evaluation.

For each forget example, N unlearned and N retrained models each give a
logit-scaled confidence. Threshold tests try to tell the two N-samples apart;
their false positive and false negative rates give an (epsilon, delta)
estimate, epsilon is bucketed into points (1, 1/2, 1/4, ... per half unit), and
the forget score is the mean over examples. The final score multiplies it by
the unlearned models' retain and test accuracy relative to the retrained ones.

The published code evaluates both test families on grids of thresholds spaced
0.01 apart. We enumerate instead every distinct set of samples that those
threshold families can select (a top-k set for the single threshold; a run of
consecutive sorted samples, within the published window, for the double one),
in a fraction of the time. That is the grid's maximum whenever no two samples
lie within 0.01 of each other; where some do, the grid cannot split them and
our epsilon can be higher (a stricter score).

Protocol, as this project's issue specifies it: N originals trained with
different seeds, each unlearned once, against N retrained models. The
competition instead unlearned one original model N times; there a method whose
noise barely moves the weights yields a near point mass and the epsilon cap.
"""

import math

import numpy as np
import torch

DELTA = 1e-5
EPSILON_CAP = 50.0
WINDOW = 2.0  # the published code's "buffer" around the double threshold
BUCKET = 0.5


def logit_scaled_confidence(logits, y):
    """log p_y - log(1 - p_y) for every model and row, shape (K, n), computed from logits stably."""
    z = torch.from_numpy(logits)
    true = z.gather(-1, torch.from_numpy(y)[None, :, None].expand(len(z), -1, 1))[..., 0]
    others = z.scatter(-1, torch.from_numpy(y)[None, :, None].expand(len(z), -1, 1), -math.inf).logsumexp(-1)
    return (true - others).numpy()


def _test_epsilons(tp, fp, n):
    """Epsilon of each threshold test from its counts; inf for a perfect test, nan where the code discards it."""
    fpr, fnr = fp / n, (n - tp) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.fmax(np.log(1 - DELTA - fpr) - np.log(fnr), np.log(1 - DELTA - fnr) - np.log(fpr))
    eps = np.clip(eps, 0, None)
    return np.where((fpr == 0) & (fnr == 0), np.inf, np.where(fpr * fnr == 0, np.nan, eps))


def _single_threshold(pos, neg):
    """Tests "confidence >= t means positive": every top-k set of the pooled samples. (E, 2N)."""
    n = pos.shape[1]
    pooled = np.concatenate([pos, neg], axis=1)
    is_pos = np.concatenate([np.ones_like(pos), np.zeros_like(neg)], axis=1)
    order = np.argsort(-pooled, axis=1, kind="stable")
    z = np.take_along_axis(pooled, order, axis=1)
    tp = np.cumsum(np.take_along_axis(is_pos, order, axis=1), axis=1)
    fp = np.arange(1, 2 * n + 1) - tp
    splits_a_tie = np.concatenate([z[:, :-1] == z[:, 1:], np.zeros((len(z), 1), bool)], axis=1)
    return np.where(splits_a_tie, np.nan, _test_epsilons(tp, fp, n))


def _double_threshold(pos, neg):
    """Tests "l <= confidence <= r means the peakier sample", l and r in the published windows. (E, N(2N + 1))."""
    n = pos.shape[1]
    swap = np.ptp(pos, axis=1) >= np.ptp(neg, axis=1)
    peaky = np.where(swap[:, None], neg, pos)
    other = np.where(swap[:, None], pos, neg)
    width = np.ptp(peaky, axis=1)[:, None]
    top = peaky.max(axis=1)[:, None]  # right thresholds span top - WINDOW .. top + WINDOW

    pooled = np.concatenate([peaky, other], axis=1)
    order = np.argsort(pooled, axis=1, kind="stable")
    z = np.take_along_axis(pooled, order, axis=1)
    is_peaky = (order < n).astype(float)
    before = np.concatenate([np.zeros((len(z), 1)), np.cumsum(is_peaky, axis=1)], axis=1)
    inf = np.full((len(z), 1), np.inf)
    z_prev, z_next = np.concatenate([-inf, z], axis=1), np.concatenate([z, inf], axis=1)

    a, b = np.triu_indices(2 * n)  # the run z[a..b], a <= b
    tp = before[:, b + 1] - before[:, a]
    fp = (b - a + 1) - tp
    # r in [z_b, z_{b+1}], l in (z_{a-1}, z_a], r - width - WINDOW <= l <= r - width + WINDOW
    lo = np.maximum(np.maximum(z[:, b], top - WINDOW), z_prev[:, a] + width - WINDOW)
    hi = np.minimum(np.minimum(z_next[:, b + 1], top + WINDOW), z[:, a] + width + WINDOW)
    selectable = (lo <= hi) & (z_prev[:, a] < z[:, a]) & (z[:, b] < z_next[:, b + 1])  # no tie split
    return np.where(selectable, _test_epsilons(tp, fp, n), np.nan)


def example_epsilons(unlearned, retrained):
    """Epsilon for each forget example from confidences of shape (N, n_examples) under each model family."""
    if unlearned.shape != retrained.shape:
        raise ValueError(f"need as many unlearned as retrained models and examples, got {unlearned.shape} and {retrained.shape}")
    u, r = unlearned.T.astype(float), retrained.T.astype(float)  # (E, N)
    # The positive sample of each example is the one with the larger median.
    retrain_positive = (np.median(r, axis=1) > np.median(u, axis=1))[:, None]
    pos, neg = np.where(retrain_positive, r, u), np.where(retrain_positive, u, r)

    eps = np.concatenate([_single_threshold(pos, neg), _double_threshold(pos, neg)], axis=1)
    eps = np.where(np.isnan(eps), -np.inf, eps).max(axis=1)
    eps = np.where(np.isneginf(eps), 0.0, eps)  # no usable test: nothing tells them apart

    ranges = np.sort(np.stack([np.ptp(pos, axis=1), np.ptp(neg, axis=1)]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_peaky = ranges[0] / ranges[1] < 0.01  # one sample is (nearly) a point mass
    return np.clip(np.where(too_peaky, EPSILON_CAP, eps), 0, EPSILON_CAP)


def forget_score(unlearned, retrained):
    """Mean over forget examples of 2^-floor(epsilon / 0.5), zero past ceil(log(N - 1)).

    ``unlearned`` and ``retrained``: logit-scaled confidences, shape (N models, n examples).
    1 would mean no test tells them apart; with finite N the estimator is
    conservative, so two samples from one distribution score well below 1.
    """
    return float(epsilon_points(example_epsilons(unlearned, retrained), len(unlearned)).mean())


def epsilon_points(eps, n_models):
    """The challenge's points for each epsilon: 2^-floor(epsilon / 0.5) below ceil(log(N - 1)), else 0."""
    n_buckets = int(math.ceil(math.log(n_models - 1)) / BUCKET)
    bucket = np.floor(np.asarray(eps) / BUCKET)
    return np.where(bucket < n_buckets, 0.5**bucket, 0.0)


def challenge_score(unlearned_preds, retrained_preds):
    """(forget score, final score) of N unlearned models against N retrained ones, from their Predictions."""
    conf_u = logit_scaled_confidence(unlearned_preds.forget, unlearned_preds.y_forget)
    conf_r = logit_scaled_confidence(retrained_preds.forget, retrained_preds.y_forget)
    forget = forget_score(conf_u, conf_r)

    def ratio(split):
        y = getattr(unlearned_preds, f"y_{split}")
        acc_u = (getattr(unlearned_preds, split).argmax(-1) == y).mean()
        acc_r = (getattr(retrained_preds, split).argmax(-1) == y).mean()
        return acc_u / acc_r

    return forget, forget * ratio("retain") * ratio("test")
