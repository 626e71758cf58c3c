"""The report's written results: the verdict that opens it and the findings of section 10.

Every figure in them is read from this run's results table, operating points and bootstrap draws. Links point
at the headings' anchors as nbconvert and JupyterLab write them (spaces become hyphens).
"""

from dataclasses import dataclass

import pandas as pd

from nbutils import intervals
from nbutils.evaluation import ensemble_sizes
from nbutils.methods import METHODS
from nbutils.tables import aggregate, label

SECTIONS = {"summary": "#7.-Summary", "quality": "#Forgetting-quality", "findings": "#10.-Findings",
            "comparison": "#6.-Comparison", "methods": "#5.-Unlearning-methods"}
CHEAP = 0.10  # the verdict's budget: a share of retraining's cost per model
BUDGET = f"{100 * CHEAP:.0f} %"
MEANINGFUL_EPSILON = 10  # a certified setting above it is reported as carrying no meaningful guarantee


@dataclass(frozen=True)
class StepComparison:
    """Noise then repair against fine-tuning alone at one step count: challenge-score difference and its interval."""

    setting: str
    difference: float
    low: float
    high: float

    @property
    def verdict(self):
        return "better" if self.low > 0 else "worse" if self.high < 0 else "indistinguishable"


def _means(results):
    return aggregate(results).xs("mean", axis=1, level=1)


def _name(config):
    return f"{label(config[0])} ({config[1]})"


def _with_interval(mean, config, col, digits):
    value, low, high = (mean.loc[config, c] for c in (col, f"{col}_lo", f"{col}_hi"))
    if pd.isna(low) or low == high:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _link(text, section):
    return f"[{text}]({SECTIONS[section]})"


def _step_comparisons(mean, draws):
    """Noise then repair against fine-tuning alone at every step count above 0 that both ran."""
    steps = [s for s in mean.loc["repair"].index if s in mean.loc["finetune"].index and s != "steps=0"]
    out = []
    for setting in steps:
        low, high, _ = intervals.difference_interval(draws[("repair", setting)], draws[("finetune", setting)])
        difference = mean.loc[("repair", setting), "challenge_score"] - mean.loc[("finetune", setting), "challenge_score"]
        out.append(StepComparison(setting, difference, low, high))
    return out


def _challenge_finding(mean, methods, draws, n):
    """The best challenge score, its cost, and whether the run can tell it from the original's and the ceiling."""
    original, ceiling = ("original", "-"), ("retrain_2", "-")
    best = methods["challenge_score"].idxmax()
    b, top = mean.loc[best, "challenge_score"], mean.loc[ceiling, "challenge_score"]
    cost, retrain_cost = 1000 * mean.loc[best, "seconds_per_model"], 1000 * mean.loc[("retrain", "-"), "seconds_per_model"]
    share = f", {b / top:.0%} of the ceiling" if top > 0 else ""
    share += f", at {cost:.2f} ms per model ({cost / retrain_cost:.1%} of retraining's {retrain_cost:.0f} ms)"
    text = (f"- **Challenge score** (N = {n}; 95 % bootstrap intervals over forget rows and the accuracy ratios' "
            f"models, for these N models). A second retrained "
            f"ensemble reaches {_with_interval(mean, ceiling, 'challenge_score', 3)}, the ceiling a perfect method would "
            f"reach; the original models score {_with_interval(mean, original, 'challenge_score', 3)}; the best method "
            f"setting is {_name(best)} at {_with_interval(mean, best, 'challenge_score', 3)}{share}.")
    for other, who in [(original, "the untouched original"), (ceiling, "the ceiling")]:
        low, high, apart = intervals.difference_interval(draws[best], draws[other])
        verdict = "distinguishable" if apart else "not distinguishable"
        text += (f" Its difference from {who} is {b - mean.loc[other, 'challenge_score']:+.3f} [{low:+.3f}, {high:+.3f}] "
                 f"(paired over forget rows and models): {verdict} at 95 % for these models.")
    return text


def _noise_against_finetuning(mean, draws, params):
    """Noise then repair against the same repair with no noise, at each step count both ran."""
    steps = [s for s in mean.loc["repair"].index if s in mean.loc["finetune"].index and s != "steps=0"]
    if not steps:
        return "- **Does noise help?** No step count above 0 ran for both noise then repair and fine-tuning alone."
    base = f"{label(params['repair_base'])} at {params['repair_base_value']:g}"
    compared = {c.setting: c for c in _step_comparisons(mean, draws)} if params["challenge_models"] else {}
    parts = []
    for setting in steps:
        r, f = mean.loc[("repair", setting)], mean.loc[("finetune", setting)]
        part = (f"{setting}: Avg. Gap {r.avg_gap:.2f} against {f.avg_gap:.2f}, "
                f"{1000 * r.seconds_per_model:.2f} against {1000 * f.seconds_per_model:.2f} ms per model")
        if setting in compared:
            c = compared[setting]
            part += (f", challenge score {r.challenge_score:.3f} against {f.challenge_score:.3f}, difference "
                     f"{c.difference:+.3f} [{c.low:+.3f}, {c.high:+.3f}]")
        parts.append(part)
    text = (f"- **Does noise help?** Noise then repair ({base}) against fine-tuning alone at equal steps: "
            + "; ".join(parts) + ".")
    if compared:
        text += " With 95 % paired intervals, " + _tally(list(compared.values())) + "."
    return text


def _tally(comparisons):
    """'noise improves the challenge score at 1 of 4 step counts (steps=50), worsens it at 0, ...'."""
    def which(kind):
        hits = [c.setting for c in comparisons if c.verdict == kind]
        return f"{len(hits)}" + (f" ({', '.join(hits)})" if hits else "")

    return (f"noise improves the challenge score at {which('better')} of {len(comparisons)} step counts, "
            f"worsens it at {which('worse')}, and is indistinguishable from fine-tuning alone at the other "
            f"{sum(c.verdict == 'indistinguishable' for c in comparisons)}")


def findings(results, chosen, params, draws):
    """Section 10 as markdown: every figure in it is read from this run's results and operating points.

    ``draws``: {(method, setting): bootstrap draws of its challenge score}, paired across configurations.
    """
    stats = aggregate(results)
    mean = stats.xs("mean", axis=1, level=1)
    std = stats.xs("std", axis=1, level=1)
    original = ("original", "-")
    o, r = mean.loc[original], mean.loc[("retrain", "-")]
    n = params["n_seeds"]
    spread = f" ± {std.loc[('retrain', '-'), 'forget_acc']:.1f}" if n > 1 else ""
    out = [
        f"- **The target.** Over {n} model{'s' if n > 1 else ''}, retrained models score {r.forget_acc:.1f}{spread} % on the forget rows "
        f"and {r.test_acc:.1f} % on test; the original models {o.forget_acc:.1f} % and {o.test_acc:.1f} %. "
        f"Forgetting by accuracy alone is a shift of {o.forget_acc - r.forget_acc:+.1f} points in forget accuracy."
    ]
    methods = mean[mean.index.get_level_values("method").isin(METHODS)]
    if methods.empty:
        return "\n".join(out + ["- No unlearning method ran (`methods` is empty)."])
    closest = (methods["forget_acc"] - r.forget_acc).abs().idxmin()
    c = methods.loc[closest]
    out.append(
        f"- **Closest to the retrained forget accuracy:** {_name(closest)}, {c.forget_acc:.1f} % "
        f"(gap {abs(c.forget_acc - r.forget_acc):.1f} points), at a test accuracy of {c.test_acc:.1f} % "
        f"(retrain {r.test_acc:.1f} %, original {o.test_acc:.1f} %).")
    better = methods[methods["avg_gap"] < o.avg_gap]
    lowest = methods["avg_gap"].idxmin()
    out.append(
        f"- **Avg. Gap to retrain.** Leaving the original model untouched scores {_with_interval(mean, original, 'avg_gap', 2)}. "
        f"{len(better)} of {len(methods)} method settings do better; the lowest is {_name(lowest)} at "
        f"{_with_interval(mean, lowest, 'avg_gap', 2)} (95 % bootstrap intervals over models).")
    if params["challenge_models"]:
        out.append(_challenge_finding(mean, methods, draws, params["challenge_models"]))
    if {"repair", "finetune"} <= set(methods.index.get_level_values("method")):
        out.append(_noise_against_finetuning(mean, draws, params))
    out.append(
        f"- **Loss attack.** AUC {o.mia_auc:.3f} on the original models and {r.mia_auc:.3f} on the retrained ones; "
        f"method settings range from {methods['mia_auc'].min():.3f} to {methods['mia_auc'].max():.3f}.")
    ms, retrain_ms = 1000 * methods["seconds_per_model"], 1000 * r.seconds_per_model
    slowest, ensemble = ms.idxmax(), ensemble_sizes(params)[1]
    out.append(
        f"- **Cost.** Unlearning took {ms.min():.2f} to {ms.max():.2f} ms per model and setting, against "
        f"{retrain_ms:.0f} ms to retrain a model (trained as one ensemble of {ensemble}). "
        f"The slowest setting, {_name(slowest)}, costs {ms.max() / retrain_ms:.1%} of retraining; "
        f"{int((ms > CHEAP * retrain_ms).sum())} of {len(ms)} settings cost more than {BUDGET}.")
    out.append("- **Operating points** (best challenge score, ties by Avg. Gap):")
    points = chosen.loc[chosen["method"].isin(METHODS), ["method", "setting"]].drop_duplicates()
    for method, setting in points.itertuples(index=False):
        m = mean.loc[(method, setting)]
        out.append(f"    - {label(method)} ({setting}): forget {m.forget_acc:.1f} %, test {m.test_acc:.1f} %, "
                   f"Avg. Gap {m.avg_gap:.2f}, challenge score {m.challenge_score:.3f}.")
    return "\n".join(out)


def verdict(results, params, draws):
    """The report's opening answer as markdown: which method to use at most :data:`CHEAP` of retraining's cost,
    how close it gets to the ceiling, whether noise helps, and the caveat that matters most; each point links
    to the section that supports it."""
    mean = _means(results)
    methods = mean[mean.index.get_level_values("method").isin(METHODS)]
    if methods.empty:
        return f"No unlearning method ran (`methods` is empty), so there is nothing to recommend ({_link('section 5', 'methods')})."
    challenge = bool(params["challenge_models"])
    retrain_ms = 1000 * mean.loc[("retrain", "-"), "seconds_per_model"]
    cheap = methods[1000 * methods["seconds_per_model"] <= CHEAP * retrain_ms]
    if cheap.empty:
        cheapest = (1000 * methods["seconds_per_model"]).idxmin()
        return (f"- **No setting costs at most {BUDGET} of retraining** ({retrain_ms:.0f} ms per model); the cheapest, "
                f"{_name(cheapest)}, costs {1000 * methods.loc[cheapest, 'seconds_per_model'] / retrain_ms:.1%} "
                f"({_link('summary', 'summary')}).")
    best = cheap["challenge_score"].idxmax() if challenge else cheap["avg_gap"].idxmin()
    cost = 1000 * mean.loc[best, "seconds_per_model"]
    rule = "the best challenge score" if challenge else "the lowest Avg. Gap to retrain"
    out = [f"- **Use {_name(best)}** when unlearning may cost at most {BUDGET} of retraining: of the {len(cheap)} "
           f"method settings within that budget it has {rule}, at {cost:.2f} ms per model ({cost / retrain_ms:.1%} of "
           f"retraining's {retrain_ms:.0f} ms){_guarantee(results, best)} ({_link('every setting', 'quality')})."]
    if challenge:
        top = mean.loc[("retrain_2", "-"), "challenge_score"]
        low, high, apart = intervals.difference_interval(draws[best], draws[("original", "-")])
        share = f"{mean.loc[best, 'challenge_score'] / top:.0%} of the ceiling" if top > 0 else "no share of a zero ceiling"
        out.append(f"- **How close:** challenge score {_with_interval(mean, best, 'challenge_score', 3)} (95 % bootstrap "
                   f"interval), {share} that a second retrained ensemble reaches "
                   f"({_with_interval(mean, ('retrain_2', '-'), 'challenge_score', 3)}); leaving the model untouched "
                   f"scores {mean.loc[('original', '-'), 'challenge_score']:.3f} ({_link('forgetting quality', 'quality')}).")
    else:
        apart = mean.loc[best, "avg_gap_hi"] < mean.loc[("original", "-"), "avg_gap_lo"]
        out.append(f"- **How close:** Avg. Gap to retrain {_with_interval(mean, best, 'avg_gap', 2)} against "
                   f"{_with_interval(mean, ('original', '-'), 'avg_gap', 2)} for the untouched original; no challenge "
                   f"score was computed (`challenge_models: 0`) ({_link('forgetting quality', 'quality')}).")
    out.append(_noise_verdict(mean, draws, params))
    out.append(_caveat(best, apart, challenge, len(methods), params))
    return "\n".join(out)


def _guarantee(results, config):
    """What a certified setting's epsilon means; nothing for other methods."""
    if config[0] != "certified":
        return ""
    epsilon = results.loc[(results["method"] == config[0]) & (results["setting"] == config[1]), "value"].iloc[0]
    if epsilon > MEANINGFUL_EPSILON:
        return f"; at ε = {epsilon:g} its certificate carries no meaningful guarantee"
    return f"; it is certified at ε = {epsilon:g} for the projected models"


def _noise_verdict(mean, draws, params):
    ran = set(mean.index.get_level_values("method"))
    if not {"repair", "finetune"} <= ran:
        return ("- **Does noise help?** Not tested: noise then repair and fine-tuning alone did not both run "
                f"({_link('findings', 'findings')}).")
    if not params["challenge_models"]:
        return ("- **Does noise help?** Not tested without the challenge score; section 10 compares Avg. Gaps "
                f"({_link('findings', 'findings')}).")
    comparisons = _step_comparisons(mean, draws)
    if not comparisons:
        return f"- **Does noise help?** No step count above 0 ran for both ({_link('findings', 'findings')})."
    return (f"- **Does noise help?** Adding noise before the same fine-tuning steps: {_tally(comparisons)} "
            f"(each a 95 % paired interval; {_link('findings', 'findings')}).")


def _caveat(best, apart, challenge, n_settings, params):
    if not apart:
        what = "challenge score" if challenge else "Avg. Gap"
        return (f"- **Caveat:** at 95 %, {_name(best)}'s {what} cannot be told from leaving the model untouched "
                f"({_link('findings', 'findings')}).")
    n = params["challenge_models"] or params["n_seeds"]
    return (f"- **Caveat:** each operating point is the best of its method's sweep ({n_settings} settings in all), "
            f"chosen on the same {n} models per side it is scored on, so its score is optimistic; no fresh models "
            f"check it ({_link('comparison', 'comparison')}).")
