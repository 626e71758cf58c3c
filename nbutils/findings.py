"""The report's written results: the verdict that opens it, the selection check of section 7 and the findings
of section 10.

Operating points and the method put forward are chosen on the tuning replicates (:mod:`nbutils.verdict` decides);
every figure these sentences state about them comes from the report replicates (fresh models), with the tuning
figure beside it where the reader should see the optimism of selection. Where several intervals are read together they are
simultaneous (Bonferroni), and the text says so. Links point at the headings' anchors as nbconvert and
JupyterLab write them (spaces become hyphens).
"""

import numpy as np

from nbutils import catalog, intervals, verdict as decisions
from nbutils.evaluation import ensemble_sizes
from nbutils.methods import ADDS_NOISE, METHODS
from nbutils.tables import aggregate, formatted, label

SECTIONS = {"summary": "#7.-Summary", "findings": "#10.-Findings", "methods": "#5.-Unlearning-methods",
            "retrain": "#8.-Retrain-from-scratch:-the-gold-standard"}
MEANINGFUL_EPSILON = 10  # a certified setting above it is reported as carrying no meaningful guarantee
ORIGINAL, RETRAIN, CEILING = ((name, "-") for name in (catalog.ORIGINAL, catalog.RETRAIN, catalog.CEILING))


def comparisons(scored):
    """:class:`~nbutils.intervals.Comparisons` of the challenge score between the configurations in ``scored``
    (a list of :class:`~nbutils.evaluation.Scored`, one or more replicates)."""
    values, draws = {}, {}
    for s in scored:
        if len(s.challenge_draws):
            values.setdefault(s.config, []).append(s.rows["challenge_score"].iloc[0])
            draws.setdefault(s.config, []).append(s.challenge_draws)
    return intervals.Comparisons(values, draws)


def control(params):
    """Noise then repair's control: its repair (``repair_with``) alone, at the same settings."""
    return params["repair_with"]


def controls(points, params):
    """The extra configuration the report replicates run so that "does noise help?" is asked at equal cost: the
    repair alone at the setting of noise then repair's operating point."""
    if "repair" in points and control(params) in points and points["repair"] != points[control(params)]:
        return [(control(params), points["repair"])]
    return []


def _means(results):
    return aggregate(results).xs("mean", axis=1, level=1)


def _name(config):
    return f"{label(config[0])} ({config[1]})"


def _with_interval(mean, config, col, digits):
    value, low, high = (mean.loc[config, c] for c in (col, f"{col}_lo", f"{col}_hi"))
    return formatted(value, (low, high), digits)


def _difference(compare, a, b, level):
    difference, low, high, apart = compare(a, b, level)
    return f"{difference:+.3f} [{low:+.3f}, {high:+.3f}]", apart


def _link(text, section):
    return f"[{text}]({SECTIONS[section]})"


def _guarantee(results, config):
    """What a certified setting's epsilon means; nothing for other methods."""
    if config[0] != "certified":
        return ""
    epsilon = results.loc[(results["method"] == config[0]) & (results["setting"] == config[1]), "value"].iloc[0]
    if epsilon > MEANINGFUL_EPSILON:
        return f"; at ε = {epsilon:g} its certificate carries no meaningful guarantee"
    return f"; it is certified at ε = {epsilon:g} for the projected models"


def _noise_on_fresh(mean, compare, params):
    """Noise then repair at its operating point against its repair alone at the same setting, on fresh models:
    a sentence, or None where they did not both run."""
    repair = [c for c in mean.index if c[0] == "repair"]
    if not repair or (control(params), repair[0][1]) not in mean.index:
        return None
    r, f = repair[0], (control(params), repair[0][1])
    base = f"{label(params['repair_base'])} at {params['repair_base_value']:g}"
    text = (f"noise then repair ({base}, then {label(f[0])} at {r[1]}, its operating point) against "
            f"{label(f[0])} alone at the same setting: "
            f"Avg. Gap {mean.loc[r, 'avg_gap']:.2f} against {mean.loc[f, 'avg_gap']:.2f}, "
            f"{mean.loc[r, 'cost_share']:.2%} against {mean.loc[f, 'cost_share']:.2%} of retraining's work")
    if not params["challenge_models"]:
        return text + "; no challenge score to compare"
    difference, apart = _difference(compare, r, f, intervals.LEVEL)
    verdict = "noise helps" if apart and mean.loc[r, "challenge_score"] > mean.loc[f, "challenge_score"] else (
        "noise hurts" if apart else "no difference can be told")
    return (text + f", challenge score {mean.loc[r, 'challenge_score']:.3f} against {mean.loc[f, 'challenge_score']:.3f}, "
            f"difference {difference} ({compare.how()}): {verdict}")


def _noise_on_tuning(tuning, compare, params):
    """Noise then repair against fine-tuning alone at every step count of the first tuning replicate's sweep, read
    together."""
    mean = _means(tuning[tuning["replicate"] == 0])  # the replicate ``compare`` draws from
    if not params["challenge_models"] or not {"repair", control(params)} <= set(tuning["method"]):
        return None
    steps = [s for s in mean.loc["repair"].index if s in mean.loc[control(params)].index and s != "steps=0"]
    if not steps:
        return None
    level = intervals.simultaneous(len(steps))
    parts, counts = [], {"better": [], "worse": []}
    for setting in steps:
        r, f = ("repair", setting), (control(params), setting)
        difference, apart = _difference(compare, r, f, level)
        parts.append(f"{setting}: {difference}")
        if apart:
            counts["better" if mean.loc[r, "challenge_score"] > mean.loc[f, "challenge_score"] else "worse"].append(setting)
    return (f"On the tuning replicate, at each of the {len(steps)} settings of the sweep (simultaneous "
            f"{100 * level:.4g} % intervals, Bonferroni over {len(steps)}): " + "; ".join(parts)
            + f". Noise is better at {len(counts['better'])}, worse at {len(counts['worse'])}, and cannot be told "
            f"apart at {len(steps) - len(counts['better']) - len(counts['worse'])}.")


def findings(report, tuning, params, compare, tuning_compare):
    """Section 10 as markdown, from the report replicates (``report``, ``compare``) and the tuning replicate
    (``tuning``, ``tuning_compare``): every figure in it is read from this run."""
    stats = aggregate(report)
    mean, std = stats.xs("mean", axis=1, level=1), stats.xs("std", axis=1, level=1)
    tuned = _means(tuning)
    o, r = mean.loc[ORIGINAL], mean.loc[RETRAIN]
    replicates = report["replicate"].nunique()
    n = int(report.loc[report["method"] == catalog.RETRAIN, "model"].nunique())
    out = [
        f"- **Fresh models.** Operating points were chosen on the tuning replicate (sections 5, 6 and 9); every figure "
        f"below comes from {replicates} report replicate{'s' if replicates > 1 else ''}, "
        f"{'each ' if replicates > 1 else ''}with its own original, "
        f"retrained and ceiling ensembles, method draws"
        + (" and forget set" if params["forget"] == "random" else "") + ".",
        f"- **The target.** Over {n} model{'s' if n > 1 else ''} per replicate, retrained models score {r.forget_acc:.1f}"
        + (f" ± {std.loc[RETRAIN, 'forget_acc']:.1f}" if n > 1 else "")
        + f" % on the forget rows and {r.test_acc:.1f} % on test; the original "
        f"models {o.forget_acc:.1f} % and {o.test_acc:.1f} %. Forgetting by accuracy alone is a shift of "
        f"{o.forget_acc - r.forget_acc:+.1f} points in forget accuracy.",
    ]
    methods = mean[mean.index.get_level_values("method").isin(METHODS)]
    if methods.empty:
        return "\n".join(out + ["- No unlearning method ran (`methods` is empty)."])
    lowest = methods["avg_gap"].idxmin()
    out.append(
        f"- **Avg. Gap to retrain** (95 % Welch intervals over models, folded). Leaving the original model untouched "
        f"scores {_with_interval(mean, ORIGINAL, 'avg_gap', 2)}; {int((methods['avg_gap'] < o.avg_gap).sum())} of "
        f"{len(methods)} configurations do better; the lowest is {_name(lowest)} at "
        f"{_with_interval(mean, lowest, 'avg_gap', 2)}.")
    if params["challenge_models"]:
        out.append(_ranking(mean, tuned, report, compare))
        if (noise := _noise_on_fresh(mean, compare, params)):
            out.append(f"- **Does noise help?** On fresh models, {noise}.")
        if (sweep_text := _noise_on_tuning(tuning, tuning_compare, params)):
            out.append(f"    - {sweep_text}")
        out.append(
            f"- **Per-example attack** (for each forget row, a Gaussian likelihood-ratio test tells each held-out model "
            f"from the other {2 * params['challenge_models'] - 1}; 0.5 is chance). The original models: "
            f"{_with_interval(mean, ORIGINAL, 'attack_acc', 3)} on average and "
            f"{mean.loc[ORIGINAL, 'attack_worst']:.3f} on the worst tenth of rows; the ceiling "
            f"{_with_interval(mean, CEILING, 'attack_acc', 3)}; the configurations from {methods['attack_acc'].min():.3f} "
            f"({_name(methods['attack_acc'].idxmin())}) to {methods['attack_acc'].max():.3f}.")
    out.append(
        f"- **Loss attack.** AUC {o.mia_auc:.3f} on the original models and {r.mia_auc:.3f} on the retrained ones; "
        f"the configurations range from {methods['mia_auc'].min():.3f} to {methods['mia_auc'].max():.3f}.")
    ms, retrain_ms, share = 1000 * methods["seconds_per_model"], 1000 * r.seconds_per_model, methods["cost_share"]
    out.append(
        f"- **Cost.** Unlearning did {share.min():.2%} to {share.max():.2%} of retraining's work per model (multiply-adds, "
        f"counted); {int((share > params['cost_budget']).sum())} of {len(share)} configurations did more than the "
        f"budget of {params['cost_budget']:.0%}. Measured on this machine, it took {ms.min():.2f} to {ms.max():.2f} ms "
        f"per model, against {retrain_ms:.0f} ms to retrain a model (trained as one ensemble of "
        f"{ensemble_sizes(params)[1]}).")
    return "\n".join(out)


def _ranking(mean, tuned, report, compare):
    """Every configuration by its challenge score on fresh models, with its tuning score and cost; the best
    against the original and the ceiling, read together."""
    methods = mean[mean.index.get_level_values("method").isin(METHODS)].sort_values("challenge_score", ascending=False)
    top, n = mean.loc[CEILING, "challenge_score"], _models_per_side(report)
    lines = [f"- **Challenge score on fresh models**, N = {n} models per side (ceiling: a second retrained ensemble, "
             f"{_with_interval(mean, CEILING, 'challenge_score', 3)}; the original "
             f"{_with_interval(mean, ORIGINAL, 'challenge_score', 3)}). Each configuration, best first, with its "
             "score when it was tuned:"]
    for config, m in methods.iterrows():
        share = f", {m.challenge_score / top:.0%} of the ceiling at N = {n}" if top > 0 else ""
        lines.append(f"    - {_name(config)}: {_with_interval(mean, config, 'challenge_score', 3)}{share} "
                     f"(tuned: {tuned.loc[config, 'challenge_score']:.3f}), {m.cost_share:.2%} of retraining's work, "
                     f"{1000 * m.seconds_per_model:.2f} ms per model{_guarantee(report, config)}.")
    best, level = methods.index[0], intervals.simultaneous(2)
    against = []
    for other, who in [(ORIGINAL, "the original"), (CEILING, "the ceiling")]:
        difference, apart = _difference(compare, best, other, level)
        against.append(f"from {who} by {difference}, {'distinguishable' if apart else 'not distinguishable'}")
    lines.append(f"    - The best, {_name(best)}, differs {'; and '.join(against)} ({compare.how(level)}, Bonferroni "
                 "over the two). Picking the best on these same scores is itself a selection; the verdict picks "
                 "on the tuning replicates.")
    noisy = methods.index.get_level_values("method").isin(ADDS_NOISE)
    if noisy.any() and not noisy.all():
        best_noise, best_other = methods.index[noisy][0], methods.index[~noisy][0]
        difference, apart = _difference(compare, best_noise, best_other, intervals.LEVEL)
        lines.append(f"    - The best method that adds noise to the weights, {_name(best_noise)}, against the best that "
                     f"does not, {_name(best_other)}: {difference} ({compare.how()}), "
                     f"{'distinguishable' if apart else 'not distinguishable'}.")
    return "\n".join(lines)


def _models_per_side(report):
    """N, the models per side of the challenge score: the ceiling ensemble's size."""
    return int(report.loc[report["method"] == CEILING[0], "model"].nunique())


def _retraining(mean, params):
    """What retraining costs here: seconds per model, and for the ensemble the run trained."""
    per_model, n = mean.loc[RETRAIN, "seconds_per_model"], ensemble_sizes(params)[1]
    return (f"from scratch it took {_seconds(per_model)} per model on this machine ({n} models trained together in "
            f"{_seconds(n * per_model)}); every method's cost above is a share of its work")


def _seconds(value):
    return f"{value:.2f} s" if value >= 1 else f"{1000 * value:.0f} ms"


def verdict(report, tuning, params, decision, compare):
    """The report's opening answer as markdown, from the :class:`~nbutils.verdict.Verdict` ``decision``: what to
    do, the fresh evidence, what retraining costs, whether noise helps, and the caveat that matters most; each
    point links to the section that supports it."""
    mean = _means(report)
    if not set(tuning["method"]) & set(METHODS):
        return (f"No unlearning method ran (`methods` is empty), so there is nothing to recommend "
                f"({_link('section 5', 'methods')}).")
    if decision is None:
        return (f"- **No verdict:** it compares challenge scores, and this run skipped them (`challenge_models: 0`); "
                f"{_retraining(mean, params)} ({_link('summary', 'summary')}).")
    n, top = _models_per_side(report), mean.loc[CEILING, "challenge_score"]
    reps = f"{decision.replicates} fresh replicate{'s' if decision.replicates > 1 else ''}"
    how = (f"chosen on {decision.tuning_replicates} tuning replicate{'s' if decision.tuning_replicates > 1 else ''} "
           f"among the operating points within {decision.budget:.0%} of retraining's work that beat the original by "
           f"more than one standard error there, then tested alone on {reps} (one-sided paired t test, 5 %)")
    if decision.action in METHODS:
        config = (decision.action, decision.setting)
        out = [f"- **Use {_name(config)}.** On {reps} it beats leaving the model as it is by "
               f"{decision.gain_over_original:+.3f} in challenge score (one-sided 95 % bounds "
               f"[{decision.gain_lo:+.3f}, {decision.gain_hi:+.3f}], p = {decision.p:.3f}), at "
               f"{mean.loc[config, 'cost_share']:.2%} of retraining's work per model{_guarantee(report, config)}; "
               f"{how} ({_link('summary', 'summary')}).",
               f"- **How close:** its challenge score is {_with_interval(mean, config, 'challenge_score', 3)}, "
               f"{_share(mean.loc[config, 'challenge_score'], top, n)}; the untouched original scores "
               f"{_with_interval(mean, ORIGINAL, 'challenge_score', 3)}, {_share(mean.loc[ORIGINAL, 'challenge_score'], top, n)} "
               f"({_link('summary', 'summary')})."]
    else:
        if decision.tested:
            why = (f"{_name((decision.tested, decision.tested_setting))}, the one put forward, gained {decision.tested_gain:+.3f} over the original on "
                   f"fresh models (one-sided 95 % lower bound {decision.tested_lo:+.3f}"
                   + (f", p = {decision.tested_p:.3f}" if np.isfinite(decision.tested_p) else "") + "), not enough")
        else:
            why = (f"no operating point within {decision.budget:.0%} of retraining's work beat the original by more "
                   f"than one standard error on the {decision.tuning_replicates} tuning replicate"
                   f"{'s' if decision.tuning_replicates > 1 else ''}")
        if decision.action == catalog.RETRAIN:
            what = (f"**Retrain from scratch.** No method beat leaving the model as it is: {why}. Leaving it is "
                    f"not enough either: the ceiling beats the original by {decision.gain_over_original:+.3f} "
                    f"(one-sided 95 % bounds [{decision.gain_lo:+.3f}, {decision.gain_hi:+.3f}]) on {reps}")
        else:
            trace = (f"{decision.ceiling_gain:+.3f} (one-sided 95 % lower bound {decision.ceiling_lo:+.3f})"
                     if np.isfinite(decision.ceiling_lo) else "not measurable with one replicate")
            what = (f"**Leave the model as it is.** No method beat it: {why}. This run detects no trace of the forget "
                    f"rows either: the ceiling's gain over the original is {trace} on {reps}")
        out = [f"- {what} ({_link('summary', 'summary')}).",
               f"- **How close:** the untouched original scores {_with_interval(mean, ORIGINAL, 'challenge_score', 3)}, "
               f"{_share(mean.loc[ORIGINAL, 'challenge_score'], top, n)} ({_link('summary', 'summary')})."]
    out.append(f"- **Retraining:** {_retraining(mean, params)} ({_link('section 8', 'retrain')}).")
    noise = _noise_on_fresh(mean, compare, params)
    out.append(f"- **Does noise help?** {noise[0].upper() + noise[1:]} ({_link('findings', 'findings')})." if noise
               else f"- **Does noise help?** Not tested: noise then repair and its repair alone did not both run "
                    f"({_link('findings', 'findings')}).")
    return "\n".join(out)


def _share(score, top, n):
    return f"{score / top:.0%} of the ceiling (N = {n} models per side)" if top > 0 else "no share of a zero ceiling"


def selection(tuning, fresh, points, decision):
    """Section 7's check of the choice: each operating point's gain over the original when tuned and on fresh
    models, how often they agree, and which point the verdict's rule put forward."""
    if decision is None or not any(m in METHODS for m in points):
        return "*No selection to check: no method ran, or no challenge score.*"
    table, rho = decisions.tuned_and_fresh(tuning, fresh, points)
    above = int((table["tuned"] > 0).sum())
    below_fresh = int((table["fresh"] < 0).sum())
    lines = [f"**Selection, checked on fresh models.** Each operating point's gain in challenge score over the "
             f"untouched original, mean over the {decision.tuning_replicates} tuning and over the "
             f"{decision.replicates} report replicates:", "",
             "| operating point | tuned | fresh |", "|---|---|---|"]
    lines += [f"| {_name(config)} | {row.tuned:+.3f} | {row.fresh:+.3f} |" for config, row in table.iterrows()]
    put = _name((decision.tested, decision.tested_setting)) if decision.tested else "none (nothing passed the gate)"
    lines += ["", f"{above} of {len(table)} operating points beat the original when tuned; {below_fresh} fall below "
              f"it on fresh models. Spearman's rank correlation between tuned and fresh gains: "
              + (f"{rho:.2f}." if np.isfinite(rho) else "not computed (fewer than 3 points).")
              + f" Put forward by the verdict's rule: {put}."]
    return "\n".join(lines)
