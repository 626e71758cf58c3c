"""Paired comparisons across replicates: candidates against a reference, a confirmation test, rank intervals, and
Friedman's test with Nemenyi's critical difference across scenarios. Torch-free.

Within a replicate every candidate is scored on the same original and retrained models (common random numbers),
so two candidates are compared through their per-replicate differences, and those through Student's t across
replicates: what a replicate draws (models, forget set) moves both candidates alike and cancels in the
difference. Scores are "higher is better" throughout. The t test assumes the differences are roughly normal
across replicates; with few replicates nothing better is available, and the simulations in
``tests/test_comparisons.py`` check the error rates the functions below promise.
"""

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

LEVEL = 0.95
CLASSES = ("better", "tie", "worse")


def against(scores, reference="original", level=LEVEL):
    """Each candidate against ``reference``, paired within replicates; one row per candidate, reference left out.

    ``scores``: index replicate, one column per candidate (``reference`` among them), higher is better; a
    candidate's missing replicates are left out of its own comparison. Columns: ``n`` replicates, ``gain`` the mean
    of candidate − reference, ``se`` its standard error, ``gain_lo``/``gain_hi`` its t interval at ``level``
    simultaneously over the k candidates (Bonferroni: each at 1 − (1 − level)/k), ``p_better``/``p_worse`` one-sided
    paired t p-values for gain > 0 and gain < 0, and ``against``: each candidate's hypothesis gain = 0 is tested
    two-sided (p = 2·min(p_better, p_worse)); Holm's step-down over the k candidates rejects at family-wise error
    1 − level; a rejected candidate is "better" if its gain is positive, "worse" if negative, the rest "tie".
    Reading the sign adds directional errors; for independent tests Holm's procedure keeps them within the level
    as well (Shaffer 1980, Ann. Statist. 8:1342), and the tests check it by simulation for candidates that share
    the reference. Holm is at least as powerful as the Bonferroni intervals, so an interval that excludes 0 always
    comes with "better" or "worse", but not every "better" has one. With n < 2 the p-values and intervals are NaN
    and the class is "tie" (no claim). A difference with no spread is read at its limit: p 0 in its direction.
    """
    if reference not in scores.columns:
        raise ValueError(f"reference {reference!r} is not a column of scores; its columns are {list(scores.columns)}")
    differences = scores.drop(columns=reference).sub(scores[reference], axis=0)
    k = differences.shape[1]
    n = differences.count()
    gain = differences.mean()
    se = differences.std(ddof=1) / np.sqrt(n)  # NaN for n < 2
    dof = (n - 1).where(n > 1)
    half = stats.t.ppf(1 - (1 - level) / (2 * max(k, 1)), dof) * se
    t = _t_statistic(gain, se)
    table = pd.DataFrame({"n": n, "gain": gain, "se": se, "gain_lo": gain - half, "gain_hi": gain + half,
                          "p_better": stats.t.sf(t, dof), "p_worse": stats.t.cdf(t, dof)})
    two_sided = np.minimum(1, 2 * table[["p_better", "p_worse"]].min(axis=1, skipna=False))
    rejected = holm(two_sided, level)
    table["against"] = np.where(rejected & (gain > 0), "better", np.where(rejected & (gain < 0), "worse", "tie"))
    return table


def holm(p_values, level=LEVEL):
    """Holm's step-down (1979): which of ``p_values`` are rejected at family-wise error 1 − level; NaN never is,
    and counts in the family."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    passed = p[order] <= (1 - level) / (m - np.arange(m))  # NaN compares False
    steps = m if passed.all() else int(np.argmin(passed))
    rejected = np.zeros(m, dtype=bool)
    rejected[order[:steps]] = True
    return rejected


class Confirmation(NamedTuple):
    """A pre-chosen candidate's fresh gain: mean, lower and upper one-sided bounds at the level, p, and the answer."""

    gain: float
    lo: float
    hi: float
    p: float
    confirmed: bool


def confirm(fresh_gains, level=LEVEL):
    """One pre-chosen candidate's per-replicate gains over the reference on fresh replicates → :class:`Confirmation`.

    A one-sided paired t test of gain > 0: ``p`` its p-value, ``confirmed`` when p < 1 − level, which is the same as
    ``lo`` > 0. ``lo`` and ``hi`` are each a one-sided bound at ``level`` (together a two-sided interval at
    2·level − 1, 90 % for 95 %), so ``hi`` is finite and JSON can hold it. Used as a fixed-sequence test: the tuning
    replicates choose the one candidate, independent fresh replicates test it, so the chance of confirming a
    candidate whose true gain is ≤ 0 is at most 1 − level however many candidates were looked at. With fewer than
    two gains nothing is confirmed and the bounds and p are NaN.
    """
    gains = pd.Series(fresh_gains, dtype=float).dropna()
    n, mean = len(gains), gains.mean()
    if n < 2:
        return Confirmation(mean, np.nan, np.nan, np.nan, False)
    se = gains.std(ddof=1) / np.sqrt(n)
    p = float(stats.t.sf(_t_statistic(mean, se), n - 1))
    half = stats.t.ppf(level, n - 1) * se
    return Confirmation(mean, mean - half, mean + half, p, bool(p < 1 - level))


def _t_statistic(mean, se):
    """mean / se, with 0/0 read as 0 (no difference, no evidence) and x/0 as ±inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.divide(mean, se)
    return np.where((np.asarray(mean) == 0) & (np.asarray(se) == 0), 0.0, t)


def rank_intervals(scores, level=LEVEL):
    """Per candidate (every column of ``scores``, index replicate, higher is better): its mean, the rank of its
    mean (1 best, ties share the best rank) and a rank interval [rank_lo, rank_hi].

    The intervals hold for all candidates together with probability at least ``level`` (Klein, Wright and
    Wieczorek 2020, JRSS C 69:589): every pair's mean difference gets a paired t interval, simultaneous over the
    k(k − 1)/2 pairs by Bonferroni; a candidate ranks no better than 1 + the number of candidates surely above it
    and no worse than k − the number surely below it. Each pair uses the replicates both have; with fewer than two
    a pair is undecided.
    """
    values = scores.to_numpy(dtype=float)
    k = values.shape[1]
    differences = values[:, :, None] - values[:, None, :]  # [replicate, i, j]: i − j
    n = np.sum(~np.isnan(differences), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs with fewer than two replicates: NaN, undecided
        mean = np.nanmean(differences, axis=0)
        se = np.nanstd(differences, axis=0, ddof=1) / np.sqrt(n)
        half = stats.t.ppf(1 - (1 - level) / (k * (k - 1)) if k > 1 else level, np.where(n > 1, n - 1, np.nan)) * se
    above, below = mean - half > 0, mean + half < 0  # i surely above j; i surely below j (NaN compares False)
    means = scores.mean()
    return pd.DataFrame({"mean": means, "rank": means.rank(ascending=False, method="min").astype(int),
                         "rank_lo": 1 + below.sum(axis=1), "rank_hi": k - above.sum(axis=1),
                         "n": scores.count()}, index=scores.columns)


@dataclass(frozen=True)
class Friedman:
    """Friedman's test of k candidates over blocks (scenarios), and Nemenyi's critical difference of mean ranks."""

    statistic: float  # Friedman's chi-square, corrected for ties (scipy)
    p_value: float  # from Iman and Davenport's F form, which Demšar (2006) prefers: the chi-square is conservative
    ranks: pd.Series  # mean rank per candidate over the blocks, 1 best, ascending
    blocks: int
    critical_difference: float  # two mean ranks further apart than this differ, all pairs at once (Nemenyi)
    level: float
    left_out: tuple  # candidates missing from some block, not in the test

    def groups(self):
        """The maximal runs of candidates, in rank order, whose mean ranks lie within the critical difference."""
        ranks = self.ranks.to_numpy()
        ends = [int(np.searchsorted(ranks, r + self.critical_difference, side="right")) for r in ranks]
        runs = [(i, end) for i, end in enumerate(ends) if end - i > 1 and (i == 0 or end > ends[i - 1])]
        return [tuple(self.ranks.index[i:end]) for i, end in runs]


def friedman(table, level=LEVEL):
    """Friedman's test over ``table`` (index block, e.g. scenario; one column per candidate; higher is better) and
    Nemenyi's post-hoc critical difference, q(level; k, ∞)/√2 · √(k(k + 1)/(6·blocks)) (Demšar 2006, JMLR 7:1),
    with the studentized range from scipy. Candidates missing from a block are left out and named in the result."""
    complete = table.dropna(axis=1)
    left_out = tuple(c for c in table.columns if c not in complete.columns)
    blocks, k = complete.shape
    if blocks < 2 or k < 3:
        raise ValueError(f"Friedman's test needs at least 2 blocks and 3 candidates present in every block; got "
                         f"{blocks} blocks and {k} candidates ({list(complete.columns)}); add scenarios or methods")
    chi2 = stats.friedmanchisquare(*complete.to_numpy(dtype=float).T).statistic
    with np.errstate(divide="ignore"):
        f = (blocks - 1) * chi2 / (blocks * (k - 1) - chi2)
    p = float(stats.f.sf(f, k - 1, (k - 1) * (blocks - 1)))
    ranks = complete.rank(axis=1, ascending=False).mean().sort_values(kind="stable")
    cd = stats.studentized_range.ppf(level, k, np.inf) / np.sqrt(2) * np.sqrt(k * (k + 1) / (6 * blocks))
    return Friedman(float(chi2), p, ranks, blocks, float(cd), level, left_out)


def critical_difference_figure(result, labels=None):
    """Demšar's critical-difference diagram of a :class:`Friedman` result as a matplotlib Figure (no pyplot):
    candidates on an axis of mean rank (1, the best, on the left), the critical difference as a bar, and a thick
    line under each group whose mean ranks lie within it. ``labels`` maps a candidate to its printed name."""
    ranks, k = result.ranks, len(result.ranks)
    names = [(labels or {}).get(c, str(c)) for c in ranks.index]
    half = (k + 1) // 2
    rows = max(half, k - half)
    groups = result.groups()
    fig = Figure(figsize=(9, 1.6 + 0.28 * (rows + len(groups))), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0.5 - 0.4 * k, k + 0.5 + 0.4 * k)
    top, step = 0.0, 1.0
    ax.hlines(top, 1, k, color="black", linewidth=1)
    for tick in range(1, k + 1):
        ax.vlines(tick, top, top + 0.15, color="black", linewidth=1)
        ax.text(tick, top + 0.25, str(tick), ha="center", va="bottom", fontsize=8)
    cd = result.critical_difference
    ax.hlines(top + 1.1, 1, 1 + cd, color="tab:red", linewidth=2)
    ax.text(1 + cd / 2, top + 1.25, f"critical difference {cd:.2f}", ha="center", va="bottom", fontsize=8,
            color="tab:red")
    for g, group in enumerate(groups):
        y = -(0.35 + 0.3 * g)
        ax.hlines(y, ranks[group[0]] - 0.05, ranks[group[-1]] + 0.05, color="black", linewidth=3)
    below = -(0.6 + 0.3 * len(groups))
    for i, (rank, name) in enumerate(zip(ranks, names)):
        left = i < half
        y = below - step * (i if left else k - 1 - i) * 0.6
        x_text = 1 - 0.2 * k if left else k + 0.2 * k
        ax.plot([rank, rank, x_text], [top, y, y], color="tab:blue", linewidth=0.8)
        ax.text(x_text + (-0.1 if left else 0.1), y, f"{name} ({rank:.1f})", ha="right" if left else "left",
                va="center", fontsize=8)
    ax.set_ylim(below - step * 0.6 * rows, top + 1.8)
    ax.set_axis_off()
    ax.set_title(f"Mean rank over {result.blocks} scenarios (Friedman p = {result.p_value:.2g}); a thick line joins "
                 f"candidates Nemenyi's test at {result.level:.0%} cannot tell apart", fontsize=9)
    return fig
