"""95 % bootstrap intervals for the figures a configuration gets once: the gaps to retrain and the challenge score.

Gaps compare the means of two ensembles, so their draws resample the method's models and the retrained
models, independently. The challenge score's draws resample forget rows (its per-row points) and, for its
accuracy ratios, the N unlearned and N retrained models. Its per-row epsilons are not recomputed on resampled
models: a bootstrap sample repeats models, and the published threshold tests cannot split repeated values, so
the estimate would change with the resampling itself. The rows drawn, and the retrained models drawn, are the
same for every configuration of a run, so two configurations' draws are paired and their difference has an
interval of its own (:func:`difference_interval`).
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
    """A generator for one stream of draws, named by strings (a configuration) or numbers (a size)."""
    return np.random.default_rng([zlib.crc32(w.encode()) if isinstance(w, str) else w for w in words])


def _resample(n, rng):
    return rng.integers(0, n, size=(N_DRAWS, n))


def gap_draws(method, retrain, name):
    """Draws of |mean(method) - mean(retrain)| per column, for per-model columns ``method`` and ``retrain``.

    ``method`` and ``retrain``: DataFrames of per-model values (one row per model); ``name`` names the
    configuration's stream. Returns {column: (N_DRAWS,) array}; one set of resampled models serves every column.
    """
    m, r = _resample(len(method), _rng("gaps", name)), _resample(len(retrain), _rng("gaps", "retrain", len(retrain)))
    return {col: np.abs(method[col].to_numpy()[m].mean(axis=1) - retrain[col].to_numpy()[r].mean(axis=1))
            for col in method}


def challenge_draws(challenge, name):
    """(forget score, challenge score) draws of a :class:`~nbutils.challenge.ChallengeScore`, each (N_DRAWS,)."""
    rows = _resample(len(challenge.points), _rng("forget rows", len(challenge.points)))
    forget = challenge.points[rows].mean(axis=1)
    n = len(next(iter(challenge.accuracies.values()))[0])
    unlearned, retrained = _resample(n, _rng("challenge models", name)), _resample(n, _rng("challenge retrain", n))
    final = forget.copy()
    for acc_u, acc_r in challenge.accuracies.values():
        final *= acc_u[unlearned].mean(axis=1) / acc_r[retrained].mean(axis=1)
    return forget, final


def difference_interval(draws_a, draws_b):
    """Interval of a - b from paired draws; (low, high), and whether it excludes 0."""
    low, high = interval(np.asarray(draws_a) - np.asarray(draws_b))
    return low, high, bool(low > 0 or high < 0)
