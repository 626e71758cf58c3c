"""The decision the report opens with: what to do about the deletion request, and how sure that is.

The candidates are leaving the model as it is (``original``), retraining from scratch (``retrain``) and each
method's operating point. A candidate's gain is its challenge score minus the original's on the same replicate:
every configuration of a replicate shares its original and retrained models, so the difference cancels what
the replicate drew (common random numbers). The rule is fixed before any fresh model is trained:

1. **Gate**, on the tuning replicates: an operating point is eligible when its cost share is within the budget
   and its mean gain exceeds one standard error across the tuning replicates (so a single tuning replicate
   gates nothing in: it has no standard error).
2. **Order**, on the tuning replicates: the eligible point with the largest mean gain is the one tested.
3. **Confirm**, on the report replicates (fresh models): a one-sided paired t test of its gain > 0 at
   1 − ``LEVEL``. Only one pre-chosen hypothesis is tested (a fixed-sequence test), so the chance of
   recommending a method that does not beat the original is at most 5 %, however many methods ran.
4. Otherwise no method is recommended. If the ceiling (a second retrained ensemble) beats the original by the
   same test, the forget rows left a trace that retraining removes: retrain. If not, this run detects no trace
   of them, and leaving the model as it is is the answer.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from nbutils import comparisons
from nbutils.catalog import CEILING, ORIGINAL, RETRAIN
from nbutils.methods import METHODS

LEVEL = 0.95


@dataclass(frozen=True)
class Verdict:
    """What to do (``action``: a method's name, ``original`` or ``retrain``), at which ``setting``, and the fresh
    evidence: the mean gain in challenge score over the original on ``replicates`` report replicates, with its
    one-sided 95 % bounds and p-value (0 and NaN for ``original``)."""

    action: str
    setting: str
    gain_over_original: float
    gain_lo: float
    gain_hi: float
    p: float
    replicates: int
    tuning_replicates: int
    budget: float
    tested: str  # the method the tuning replicates put forward ("" if none was eligible), and its setting
    tested_setting: str
    tested_gain: float  # its fresh mean gain, confirmed or not (NaN if none), one-sided lower bound and p-value
    tested_lo: float
    tested_p: float
    ceiling_gain: float  # the ceiling's fresh mean gain over the original (the trace retraining removes), likewise
    ceiling_lo: float
    ceiling_p: float

    def as_dict(self):
        """For metrics.json: NaN as null."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def gains(results, stage):
    """Challenge score minus the original's, per replicate of ``stage`` ("tuning" or "report"): a table with index
    replicate and one column per configuration (method, setting), references included."""
    rows = results[results["stage"] == stage]
    scores = rows.groupby(["replicate", "method", "setting"], sort=False)["challenge_score"].first().unstack(
        ["method", "setting"])
    return scores.sub(scores[(ORIGINAL, "-")], axis=0)


def candidates(tuning, points, budget):
    """Per operating point in ``points`` ({method: setting}): its mean gain over the tuning replicates, the
    standard error, its mean cost share, and whether it passes the gate within ``budget``; best gain first."""
    table = gains(tuning, "tuning")
    table = table[[c for c in points.items() if c in table.columns]]
    cost = tuning.groupby(["method", "setting"], sort=False)["cost_share"].mean()
    out = pd.DataFrame({"gain": table.mean(), "se": table.std(ddof=1) / np.sqrt(table.count()),
                        "cost_share": [cost[c] for c in table.columns]}, index=table.columns)
    out["eligible"] = (out["gain"] - out["se"] > 0) & (out["cost_share"] <= budget)  # NaN se: not eligible
    return out.sort_values("gain", ascending=False, kind="stable")


def decide(tuning, report, points, budget, level=LEVEL):
    """The :class:`Verdict` from the tuning rows, the report rows and each method's operating point ``points``;
    None without the challenge score, which every gain reads."""
    if report["challenge_score"].isna().all():
        return None
    table = candidates(tuning, points, budget)
    fresh = gains(report, "report")
    eligible = table.index[table["eligible"]]
    none = comparisons.Confirmation(np.nan, np.nan, np.nan, np.nan, False)
    tested = eligible[0] if len(eligible) else ("", "")
    result = comparisons.confirm(fresh[tested], level) if len(eligible) else none
    trace = comparisons.confirm(fresh[(CEILING, "-")], level) if (CEILING, "-") in fresh.columns else none
    common = {"replicates": len(fresh), "tuning_replicates": tuning["replicate"].nunique(), "budget": budget,
              "tested": tested[0], "tested_setting": tested[1], "tested_gain": result.gain, "tested_lo": result.lo,
              "tested_p": result.p, "ceiling_gain": trace.gain, "ceiling_lo": trace.lo, "ceiling_p": trace.p}
    if result.confirmed:
        return Verdict(tested[0], tested[1], result.gain, result.lo, result.hi, result.p, **common)
    if trace.confirmed:
        return Verdict(RETRAIN, "-", trace.gain, trace.lo, trace.hi, trace.p, **common)
    return Verdict(ORIGINAL, "-", 0.0, 0.0, 0.0, np.nan, **common)


def tuned_and_fresh(tuning, report, points):
    """Per operating point: its mean gain over the original on the tuning replicates and on the report
    replicates, side by side, and Spearman's rank correlation between the two (NaN with fewer than 3 points)."""
    configs = [c for c in points.items() if c[0] in METHODS]
    fresh = gains(report, "report")
    table = pd.DataFrame({"tuned": gains(tuning, "tuning")[configs].mean(),
                          "fresh": fresh[[c for c in configs if c in fresh]].mean()})
    rho = table["tuned"].corr(table["fresh"], method="spearman") if table["fresh"].notna().sum() >= 3 else np.nan
    return table, rho
