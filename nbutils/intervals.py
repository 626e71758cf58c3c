"""95 % bootstrap intervals for the figures a configuration gets once: the gaps to retrain and the challenge score.

A gap is |mean(method) − mean(retrain)|. Its draws resample the method's models and the retrained models,
independently, and take the signed difference; the gap's interval folds the difference's interval, so it
holds 0 whenever the difference's does (an absolute value of noisy means is biased upwards, and percentiles
of it would never reach 0). With few models (the default 5) a percentile bootstrap is too narrow: in a
simulation of two 5-model ensembles from one distribution, the gap's interval held 0 in about 85 % of
trials, not 95 %. The challenge score's draws resample forget rows (its per-row points) and, for
its accuracy ratios, the N unlearned and N retrained models. Its per-row epsilons are not recomputed on
resampled models: a bootstrap sample repeats models, and the published threshold tests cannot split repeated
values. So its interval covers the forget rows and the accuracy ratios for these N models, not the spread
from training other models.

Every configuration draws the same rows, the same model positions (model j of every method comes from
original model j) and the same retrained models, so two configurations' draws are paired and their
difference has an interval of its own (:func:`difference_interval`).
"""

import zlib

import numpy as np

N_DRAWS = 1000
LEVEL = 0.95


def interval(draws):
    """The percentile interval of ``draws`` along the first axis: (low, high)."""
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    return low, high


def _rng(*words):
    """A generator for one stream of draws, named by what it resamples and how many."""
    return np.random.default_rng([zlib.crc32(w.encode()) if isinstance(w, str) else w for w in words])


def _resample(n, rng):
    return rng.integers(0, n, size=(N_DRAWS, n))


def gap_draws(method, retrain):
    """Draws of mean(method) − mean(retrain), signed, per column, for per-model columns ``method`` and ``retrain``.

    ``method`` and ``retrain``: DataFrames of per-model values (one row per model). Returns {column:
    (N_DRAWS,) array}; one set of resampled models serves every column, and every configuration.
    """
    m, r = _resample(len(method), _rng("gaps", len(method))), _resample(len(retrain), _rng("gaps", "retrain", len(retrain)))
    return {col: method[col].to_numpy()[m].mean(axis=1) - retrain[col].to_numpy()[r].mean(axis=1) for col in method}


def folded_interval(signed_draws):
    """The interval of |d| from draws of a signed difference d: [0, max] if d's interval holds 0."""
    low, high = interval(signed_draws)
    if low <= 0 <= high:
        return 0.0, max(-low, high)
    return min(abs(low), abs(high)), max(abs(low), abs(high))


def challenge_draws(challenge):
    """(forget score, challenge score) draws of a :class:`~nbutils.challenge.ChallengeScore`, each (N_DRAWS,)."""
    rows = _resample(len(challenge.points), _rng("forget rows", len(challenge.points)))
    forget = challenge.points[rows].mean(axis=1)
    n = len(next(iter(challenge.accuracies.values()))[0])
    unlearned, retrained = _resample(n, _rng("challenge models", n)), _resample(n, _rng("challenge retrain", n))
    final = forget.copy()
    for acc_u, acc_r in challenge.accuracies.values():
        final *= acc_u[unlearned].mean(axis=1) / acc_r[retrained].mean(axis=1)
    return forget, final


def difference_interval(draws_a, draws_b):
    """Interval of a - b from paired draws; (low, high), and whether it excludes 0."""
    low, high = interval(np.asarray(draws_a) - np.asarray(draws_b))
    return low, high, bool(low > 0 or high < 0)
