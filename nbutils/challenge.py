"""The NeurIPS 2023 Machine Unlearning challenge's score, as the published code computes it.

Reference: Triantafillou et al., "Are we making progress in unlearning? Findings
from the first NeurIPS unlearning competition" (2024), and the published
evaluation code, ``metric.py`` of github.com/google-deepmind/unlearning_evaluation.

For each forget example, N unlearned and N retrained models each give a
logit-scaled confidence. Threshold tests try to tell the two N-samples apart:
a single threshold on ``linspace(min, max, ceil(range * 100))`` of the pooled
samples, and a double threshold (an interval around the peakier sample) whose
right end runs over a grid 0.01 apart and whose left end over a window of 2 on
each side of ``right - width``, 400 points per right end. Each test's false
positive and negative rates give an (epsilon, delta = 1e-5) estimate; epsilon
is the largest over the tests, bucketed into points (1, 1/2, 1/4, ... per half
unit up to ceil(log(N - 1))), and the forget score is the mean over examples.
The final score multiplies it by the unlearned models' retain and test accuracy
relative to the retrained ones.

We reproduce the published arithmetic (rates as float32 means over models, the
epsilon formula in float32, its grids bit for bit) without scanning every
threshold: a test's rates change only where a threshold crosses a sample, so
for each grid we evaluate only the distinct sets of samples its points select,
found by locating each sample on the published grid. That is
the same maximum at about 2N + 1 tests per right threshold instead of 400.
``tests/challenge_reference.py`` is a loop-based port of the published code
that this module matches to 1e-6.

Two departures from the released ``metric.py``, which does not run as
released: its ``assert thr_eps`` raises on any array of more than one element
(we reproduce its arithmetic, not the crash), and where every test is discarded
(which it would assert against) the example gets epsilon 0.

Protocol, as this project's issue specifies it: N originals trained with
different seeds, each unlearned once, against N retrained models. The
competition instead unlearned one original model N times.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

DELTA = 1e-5
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100
WINDOW = 2.0  # the published code's "buffer" around the double threshold
N_LEFT = int(math.ceil(2 * WINDOW * THRESHOLDS_PER_UNIT))  # left thresholds per right threshold
BUCKET = 0.5
CHUNK = 32  # examples per vectorised block of the double-threshold search


def logit_scaled_confidence(logits, y):
    """log p_y - log(1 - p_y) for every model and row, shape (K, n), as the published code computes it.

    The model's float32 logits are shifted by their maximum and exponentiated in float32, then normalised in
    float64; both probabilities get 1e-45 added before the log, which caps the confidence near +-103.6.
    """
    z = logits.astype(np.float32)
    probs = np.exp(z - z.max(axis=-1, keepdims=True)).astype(np.float64)
    probs /= probs.sum(axis=-1, keepdims=True)
    correct = np.take_along_axis(probs, y[None, :, None], axis=-1)[..., 0]
    np.put_along_axis(probs, np.broadcast_to(y[None, :, None], (*probs.shape[:2], 1)), 0.0, axis=-1)
    return np.log(correct + 1e-45) - np.log(probs.sum(axis=-1) + 1e-45)


def _test_epsilons(tp, fp, n):
    """Each test's epsilon from its counts, in the published float32 arithmetic: inf if perfect, nan if discarded."""
    n32 = np.float32(n)
    tpr, fnr = tp.astype(np.float32) / n32, (n - tp).astype(np.float32) / n32
    fpr, tnr = fp.astype(np.float32) / n32, (n - fp).astype(np.float32) / n32
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.clip(np.fmax(np.log(np.float32(1 - DELTA) - fpr) - np.log(fnr),
                              np.log(np.float32(1 - DELTA) - fnr) - np.log(fpr)), 0, None)
    perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
    return np.where(perfect, np.inf, np.where(fpr * fnr == 0, np.nan, eps))


def _best(tp, fp, n, valid):
    """The largest epsilon over the valid, non-discarded tests of each example (first axis); -inf if none."""
    counts = np.arange(n + 1)
    table = _test_epsilons(counts[:, None], counts[None, :], n)  # every (tp, fp) a test can have
    table = np.where(np.isnan(table), -np.inf, table).ravel()
    eps = np.where(valid, table[tp * (n + 1) + fp], -np.inf)
    return eps.reshape(len(eps), -1).max(axis=1)


def _single_threshold(pos, neg):
    """Best epsilon of "confidence >= t means positive", t on torch.linspace(min, max, ceil(range * 100))."""
    n_examples, n = pos.shape
    samples = np.concatenate([pos, neg], axis=1)
    first_above = np.empty((n_examples, 2 * n), dtype=np.int64)  # index of the first threshold above each sample
    n_thresholds = np.empty(n_examples, dtype=np.int64)
    for i, row in enumerate(samples):
        lo, hi = torch.tensor(row.min(), dtype=torch.float64), torch.tensor(row.max(), dtype=torch.float64)
        grid = torch.linspace(lo, hi, int(torch.ceil((hi - lo) * THRESHOLDS_PER_UNIT))).numpy()
        first_above[i], n_thresholds[i] = np.searchsorted(grid, row, side="right"), len(grid)
    # The rates change only past a sample: the grid's first point and the first point past each sample cover them.
    candidates = np.concatenate([np.zeros((n_examples, 1), dtype=np.int64), first_above], axis=1)
    # A sample is >= threshold g exactly when the first threshold above it comes after g.
    at_or_above = first_above[:, None, :] > candidates[:, :, None]
    tp, fp = at_or_above[..., :n].sum(-1), at_or_above[..., n:].sum(-1)
    return _best(tp, fp, n, candidates < n_thresholds[:, None])


def _left_grid_value(index, start, step, stop):
    """np.linspace(start, stop, N_LEFT)[index], computed as numpy computes it."""
    return np.where(index == N_LEFT - 1, stop, index * step + start)


def _off_by_one(index, z, start, step, stop):
    """+1 where left grid point ``index`` is not above z, -1 where the point before it already is, else 0."""
    up = (index < N_LEFT) & (_left_grid_value(np.minimum(index, N_LEFT - 1), start, step, stop) <= z)
    down = (index > 0) & (_left_grid_value(index - 1, start, step, stop) > z)
    return up.astype(np.int64) - down


def _first_left_above(z, start, step, stop):
    """For samples z (..., 2N) and left grids (..., 1): the index of the first grid point above each sample."""
    z, start, step, stop = np.broadcast_arrays(z, start, step, stop)
    position = (z - start) / step
    below = np.floor(position)
    index = np.clip(below + 1, 0, N_LEFT).astype(np.int64)
    # The estimate can be off by one only where a sample lies within rounding of a grid point (the last one
    # included, which np.linspace sets to ``stop``): check those against the exact grid values.
    fraction = position - below
    at = np.nonzero((fraction < 1e-6) | (fraction > 1 - 1e-6))
    for _ in range(4):
        fix = _off_by_one(index[at], z[at], start[at], step[at], stop[at])
        if not fix.any():
            return index
        index[at] += fix
        at = tuple(a[fix != 0] for a in at)
    raise AssertionError("grid search did not converge")


def _double_threshold(pos, neg):
    """Best epsilon of "l <= confidence <= r means the peakier sample", on the published grids of l and r."""
    n = pos.shape[1]
    pos_width, neg_width = np.ptp(pos, axis=1), np.ptp(neg, axis=1)
    swap = pos_width >= neg_width  # the published code calls the peakier sample positive
    peaky, other = np.where(swap[:, None], neg, pos), np.where(swap[:, None], pos, neg)
    width = np.where(pos_width > neg_width, neg_width, pos_width)
    lo, hi = peaky.min(axis=1) + width - WINDOW, peaky.max(axis=1) + WINDOW
    rights = [np.linspace(a, b, num=int(np.ceil((b - a) * THRESHOLDS_PER_UNIT))) for a, b in zip(lo, hi)]
    n_rights = max(len(r) for r in rights)
    right = np.stack([np.pad(r, (0, n_rights - len(r)), constant_values=np.nan) for r in rights])  # (E, R)
    right_valid = ~np.isnan(right)

    pooled = np.concatenate([peaky, other], axis=1)
    order = np.argsort(pooled, axis=1, kind="stable")
    z = np.take_along_axis(pooled, order, axis=1)  # (E, 2N) sorted
    peaky_before = np.concatenate([np.zeros((len(z), 1), np.int64), np.cumsum(order < n, axis=1)], axis=1)

    start = (right - width[:, None] - WINDOW)[..., None]  # (E, R, 1): each right threshold's left grid
    stop = (right - width[:, None] + WINDOW)[..., None]
    step = (stop - start) / (N_LEFT - 1)
    first_above = _first_left_above(np.nan_to_num(z[:, None, :]), np.nan_to_num(start), np.nan_to_num(step, nan=1.0),
                                    np.nan_to_num(stop))  # (E, R, 2N), non-decreasing along the samples
    # A left threshold l counts the samples below it: a prefix of the sorted samples, of length m. Length m is
    # reachable when a grid point lies in (z[m-1], z[m]], that is when the first grid point above z[m-1]
    # comes before the first one above z[m] (z[-1] = -inf, z[2N] = +inf).
    bounds = np.concatenate([np.zeros_like(first_above[..., :1]), first_above,
                             np.full_like(first_above[..., :1], N_LEFT)], axis=-1)
    reachable = bounds[..., :-1] < bounds[..., 1:]  # (E, R, 2N + 1) over m
    at_most_right = torch.searchsorted(torch.from_numpy(z), torch.from_numpy(np.nan_to_num(right)), right=True).numpy()
    upto_p = np.take_along_axis(peaky_before, at_most_right, axis=1)  # (E, R)
    upto_o = at_most_right - upto_p
    below_p = peaky_before[:, None, :]  # (E, 1, 2N + 1)
    below_o = np.arange(2 * n + 1) - below_p
    tp = np.maximum(upto_p[..., None] - below_p, 0)
    fp = np.maximum(upto_o[..., None] - below_o, 0)
    return _best(tp, fp, n, right_valid[..., None] & reachable)


def example_epsilons(unlearned, retrained):
    """Epsilon for each forget example from confidences of shape (N, n_examples) under each model family."""
    if unlearned.shape != retrained.shape:
        raise ValueError(f"need as many unlearned as retrained models and examples, got {unlearned.shape} and {retrained.shape}")
    u, r = unlearned.T.astype(float), retrained.T.astype(float)  # (E, N)
    # The positive sample of each example is the one with the larger median.
    retrain_positive = (np.median(r, axis=1) > np.median(u, axis=1))[:, None]
    pos, neg = np.where(retrain_positive, r, u), np.where(retrain_positive, u, r)

    best = np.full(len(pos), -np.inf)
    for block in range(0, len(pos), CHUNK):
        part = slice(block, block + CHUNK)
        best[part] = np.maximum(_single_threshold(pos[part], neg[part]), _double_threshold(pos[part], neg[part]))
    eps = np.where(np.isneginf(best), 0.0, best)  # every test discarded: nothing tells them apart

    widths = np.sort(np.stack([np.ptp(pos, axis=1), np.ptp(neg, axis=1)]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_peaky = widths[0] / widths[1] < 0.01  # one sample is (nearly) a point mass
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


@dataclass(frozen=True)
class ChallengeScore:
    """The challenge's figures for one configuration, with what they are computed from."""

    epsilons: np.ndarray  # (n forget rows,)
    points: np.ndarray  # (n forget rows,)
    accuracies: dict  # {"retain"/"test": ((N,) unlearned, (N,) retrained)}, each model's accuracy in [0, 1]

    @property
    def forget_score(self):
        return float(self.points.mean())

    @property
    def score(self):
        """The forget score times the retain and test accuracy ratios of unlearned to retrained models."""
        ratio = 1.0
        for unlearned, retrained in self.accuracies.values():
            ratio *= unlearned.mean() / retrained.mean()
        return self.forget_score * ratio


def challenge_score(unlearned_preds, retrained_preds, max_forget_rows=None):
    """The challenge score of N unlearned models against N retrained ones, from their Predictions.

    ``max_forget_rows``: score a random sample of that many forget rows at most (:meth:`Predictions.sample`);
    the accuracy ratios use every row.
    """
    sampled_u, sampled_r = (p.sample(max_forget_rows) if max_forget_rows else p for p in (unlearned_preds, retrained_preds))
    conf_u = logit_scaled_confidence(sampled_u.forget, sampled_u.y_forget)
    conf_r = logit_scaled_confidence(sampled_r.forget, sampled_r.y_forget)
    eps = example_epsilons(conf_u, conf_r)

    def accuracy(preds, split):
        return (getattr(preds, split).argmax(-1) == getattr(preds, f"y_{split}")).mean(axis=-1)

    return ChallengeScore(eps, epsilon_points(eps, len(conf_u)), {
        split: (accuracy(unlearned_preds, split), accuracy(retrained_preds, split)) for split in ("retain", "test")})
