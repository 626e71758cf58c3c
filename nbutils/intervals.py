"""95 % intervals for the figures a configuration gets once: the gaps to retrain and the challenge score.

A gap is |mean(method) − mean(retrain)|. Its interval folds Welch's t interval of the signed difference of the
two ensembles' means, so it holds 0 whenever the difference's does (an absolute value of noisy means is biased
upwards, and percentiles of it would never reach 0). A percentile bootstrap of 5 models per side held 0 in
about 85 % of simulated trials; Welch's interval holds the stated level at any ensemble size (tested by
simulation). The challenge score's draws resample forget rows (its per-row points) and, for
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
from scipy import stats

N_DRAWS = 1000
LEVEL = 0.95


def interval(draws, level=LEVEL):
    """The percentile interval of ``draws`` along the first axis: (low, high)."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    return low, high


def simultaneous(k, level=LEVEL):
    """Bonferroni: the level at which each of ``k`` intervals must be read for all of them to hold at ``level``."""
    return 1 - (1 - level) / max(k, 1)


def t_interval(values, level=LEVEL):
    """Student's t interval for the mean of ``values`` (one per replicate): (mean, low, high); no width from one value."""
    values = np.asarray(values, dtype=float)
    mean = values.mean()
    if len(values) < 2:
        return mean, np.nan, np.nan
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def _rng(*words):
    """A generator for one stream of draws, named by what it resamples and how many."""
    return np.random.default_rng([zlib.crc32(w.encode()) if isinstance(w, str) else w for w in words])


def _resample(n, rng):
    return rng.integers(0, n, size=(N_DRAWS, n))


def welch_interval(a, b, level=LEVEL):
    """Welch's t interval for mean(a) − mean(b), the two samples independent with unequal variances: (low, high).

    Missing values are left out; two identical constant samples give (0, 0)."""
    a, b = (np.asarray(x, dtype=float) for x in (a, b))
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    difference = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return difference, difference
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf((1 + level) / 2, dof) * np.sqrt(va + vb)
    return difference - half, difference + half


def folded(low, high):
    """The interval of |d| from an interval of a signed difference d: [0, max] if it holds 0."""
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


WORST = 0.1  # the per-example attack's worst rows: the tenth it classifies best


def attack_figures(row_accuracy):
    """The per-example attack's summary: its mean accuracy over forget rows, and over the worst tenth of them."""
    row_accuracy = np.sort(np.asarray(row_accuracy), axis=-1)
    worst = max(1, int(np.ceil(WORST * row_accuracy.shape[-1])))
    return {"attack_acc": row_accuracy.mean(axis=-1), "attack_worst": row_accuracy[..., -worst:].mean(axis=-1)}


def attack_draws(row_accuracy):
    """(figures, {figure: (N_DRAWS,) draws}) of the per-example attack, forget rows resampled as the challenge
    score's are."""
    rows = _resample(len(row_accuracy), _rng("forget rows", len(row_accuracy)))
    return attack_figures(row_accuracy), attack_figures(np.asarray(row_accuracy)[rows])


def difference_interval(draws_a, draws_b, level=LEVEL):
    """Interval of a - b from paired draws; (low, high), and whether it excludes 0."""
    low, high = interval(np.asarray(draws_a) - np.asarray(draws_b), level)
    return low, high, bool(low > 0 or high < 0)


class Comparisons:
    """Paired differences of one per-configuration figure between configurations, on the report replicates.

    With one replicate: the bootstrap draws of that replicate, paired over forget rows and models (they cover
    these models, not others). With two or more: Student's t interval over the replicates' differences, which
    covers fresh models, forget sets and method draws, everything a replicate draws anew.
    ``values``: {configuration: [figure per replicate]}; ``draws``: {configuration: [draws per replicate]}.
    """

    def __init__(self, values, draws):
        self.values, self.draws = values, draws
        self.replicates = len(next(iter(values.values()))) if values else 0

    def __call__(self, a, b, level=LEVEL):
        """(difference, low, high, apart) of a − b, averaged over replicates."""
        differences = np.subtract(self.values[a], self.values[b])
        if self.replicates == 1:
            low, high, apart = difference_interval(self.draws[a][0], self.draws[b][0], level)
            return differences[0], low, high, apart
        mean, low, high = t_interval(differences, level)
        return mean, low, high, bool(low > 0 or high < 0)

    def how(self, level=LEVEL):
        """How the intervals were made, for the report."""
        pct = f"{100 * level:.4g} %"
        if self.replicates == 1:
            return f"{pct} paired bootstrap intervals over forget rows and models, for this replicate's models"
        return f"{pct} t intervals over the {self.replicates} report replicates' paired differences"
