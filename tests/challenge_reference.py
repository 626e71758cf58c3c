"""A plain, loop-based port of the published per-example epsilon (google-deepmind/unlearning_evaluation, metric.py).

It follows the published arithmetic step by step: the same threshold grids (torch.linspace for the single
threshold, np.linspace per right threshold for the double one), rates as float32 means over models, and the
epsilon formula in float32. Two departures, both needed to run it at all: it runs on the CPU instead of
``.cuda()``, and where every threshold is discarded (the published ``assert thr_eps`` raises on any array of
more than one element) it returns 0. Slow on purpose: the tests check the fast version against it.
"""

import numpy as np
import torch

DELTA, CAP, PER_UNIT, BUFFER = 1e-5, 50, 100, 2.0


def _single_rates(pos, neg):
    lo, hi = torch.cat([pos, neg]).min(), torch.cat([pos, neg]).max()
    thresholds = torch.linspace(lo, hi, int(torch.ceil((hi - lo) * PER_UNIT)))
    tpr, fnr = (pos[:, None] >= thresholds).float().mean(0), (pos[:, None] < thresholds).float().mean(0)
    fpr, tnr = (neg[:, None] >= thresholds).float().mean(0), (neg[:, None] < thresholds).float().mean(0)
    return tpr, fnr, fpr, tnr


def _double_rates(pos, neg):
    pos_diff, neg_diff = pos.max() - pos.min(), neg.max() - neg.min()
    width = neg_diff if pos_diff > neg_diff else pos_diff
    if pos_diff >= neg_diff:
        pos, neg = neg, pos  # "positive" is the peakier sample
    lo = (pos.min() + width - BUFFER).numpy()
    hi = (pos.max() + BUFFER).numpy()
    rights = np.linspace(lo, hi, num=int(np.ceil((hi - lo) * PER_UNIT)))
    width = width.numpy()
    n_left = int(np.ceil(2 * BUFFER * PER_UNIT))
    left = torch.from_numpy(np.concatenate([np.linspace(r - width - BUFFER, r - width + BUFFER, num=n_left)
                                            for r in rights]))
    right = torch.from_numpy(np.repeat(rights, n_left))

    def inside(c):
        return ((left <= c[:, None]) & (c[:, None] <= right)).float()

    return inside(pos).mean(0), (1 - inside(pos)).mean(0), inside(neg).mean(0), (1 - inside(neg)).mean(0)


def example_epsilon(pos, neg):
    """The published epsilon of one example from its positive and negative samples (numpy float64 arrays)."""
    pos_diff, neg_diff = np.max(pos) - np.min(pos), np.max(neg) - np.min(neg)
    largest, smallest = (pos_diff, neg_diff) if pos_diff > neg_diff else (neg_diff, pos_diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        if smallest / largest < 0.01:
            return float(CAP)
    pos, neg = torch.from_numpy(pos), torch.from_numpy(neg)
    rates = [torch.cat(pair) for pair in zip(_double_rates(pos, neg), _single_rates(pos, neg))]
    tpr, fnr, fpr, tnr = (r.numpy() for r in rates)
    eps = np.zeros(len(tpr), dtype=np.float32)
    eps[(fpr + fnr == 0) & (tpr + tnr == 2)] = np.inf
    eps[(eps == 0) & (fpr * fnr == 0)] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        formula = np.clip(np.nanmax([np.log(1 - DELTA - fpr) - np.log(fnr),
                                     np.log(1 - DELTA - fnr) - np.log(fpr)], axis=0), 0, None)
    eps = np.where(eps == 0, formula, eps)
    kept = eps[~np.isnan(eps)]
    return float(np.clip(np.max(kept), 0, CAP)) if len(kept) else 0.0


def epsilons(unlearned, retrained):
    """Per-example epsilons, confidences of shape (N models, n examples), positive side by the larger median."""
    retrain_positive = np.median(retrained, axis=0) > np.median(unlearned, axis=0)
    pos = np.where(retrain_positive, retrained, unlearned)
    neg = np.where(retrain_positive, unlearned, retrained)
    return np.array([example_epsilon(pos[:, i], neg[:, i]) for i in range(pos.shape[1])])


def forget_score(unlearned, retrained):
    """The published bucket loop, as written."""
    max_epsilon = np.ceil(np.log(unlearned.shape[0] - 1))
    start, points, buckets = 0, 1, {}
    while start + 0.5 <= max_epsilon:
        buckets[start] = points
        points /= 2
        start += 0.5
    total = 0
    for e in epsilons(unlearned, retrained):
        for start, points in buckets.items():
            if e < start + 0.5:
                total += points
                break
    return total / unlearned.shape[1]
