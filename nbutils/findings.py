"""The report's written results: the verdict that opens it and the findings of section 10.

Operating points and the recommended method are chosen on the tuning replicate; every figure these sentences
state about them comes from the report replicates (fresh models), with the tuning figure beside it where the
reader should see the optimism of selection. Where several intervals are read together they are
simultaneous (Bonferroni), and the text says so. Links point at the headings' anchors as nbconvert and
JupyterLab write them (spaces become hyphens).
"""

from nbutils import intervals
from nbutils.evaluation import ensemble_sizes
from nbutils.methods import ADDS_NOISE, METHODS
from nbutils.tables import aggregate, formatted, label, operating_points

SECTIONS = {"summary": "#7.-Summary", "findings": "#10.-Findings", "methods": "#5.-Unlearning-methods"}
CHEAP = 0.10  # the verdict's budget: a share of retraining's cost per model
BUDGET = f"{100 * CHEAP:.0f} %"
MEANINGFUL_EPSILON = 10  # a certified setting above it is reported as carrying no meaningful guarantee
ORIGINAL, RETRAIN, CEILING = ("original", "-"), ("retrain", "-"), ("retrain_2", "-")


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


def recommended(tuning, params):
    """The method for a budget of :data:`CHEAP` of retraining's cost, chosen on the tuning replicate among the
    operating points: best challenge score (or, without it, lowest Avg. Gap). None if nothing is that cheap."""
    mean = _means(tuning)
    points = operating_points(tuning)
    configs = list(points.items())
    if not configs:
        return None
    cost = mean.loc[configs, "seconds_per_model"]
    cheap = mean.loc[cost[cost <= CHEAP * mean.loc[RETRAIN, "seconds_per_model"]].index]
    if cheap.empty:
        return None
    return cheap["challenge_score"].idxmax() if params["challenge_models"] else cheap["avg_gap"].idxmin()


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
            f"{1000 * mean.loc[r, 'seconds_per_model']:.2f} against {1000 * mean.loc[f, 'seconds_per_model']:.2f} ms per model")
    if not params["challenge_models"]:
        return text + "; no challenge score to compare"
    difference, apart = _difference(compare, r, f, intervals.LEVEL)
    verdict = "noise helps" if apart and mean.loc[r, "challenge_score"] > mean.loc[f, "challenge_score"] else (
        "noise hurts" if apart else "no difference can be told")
    return (text + f", challenge score {mean.loc[r, 'challenge_score']:.3f} against {mean.loc[f, 'challenge_score']:.3f}, "
            f"difference {difference} ({compare.how()}): {verdict}")


def _noise_on_tuning(tuning, compare, params):
    """Noise then repair against fine-tuning alone at every step count of the tuning sweep, read together."""
    mean = _means(tuning)
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
    n = int(report.loc[report["method"] == "retrain", "model"].nunique())
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
    ms, retrain_ms = 1000 * methods["seconds_per_model"], 1000 * r.seconds_per_model
    out.append(
        f"- **Cost.** Unlearning took {ms.min():.2f} to {ms.max():.2f} ms per model, against {retrain_ms:.0f} ms to "
        f"retrain a model (trained as one ensemble of {ensemble_sizes(params)[1]}); "
        f"{int((ms > CHEAP * retrain_ms).sum())} of {len(ms)} configurations cost more than {BUDGET}.")
    return "\n".join(out)


def _ranking(mean, tuned, report, compare):
    """Every configuration by its challenge score on fresh models, with its tuning score and cost; the best
    against the original and the ceiling, read together."""
    methods = mean[mean.index.get_level_values("method").isin(METHODS)].sort_values("challenge_score", ascending=False)
    top, retrain_ms = mean.loc[CEILING, "challenge_score"], 1000 * mean.loc[RETRAIN, "seconds_per_model"]
    lines = [f"- **Challenge score on fresh models** (ceiling: a second retrained ensemble, "
             f"{_with_interval(mean, CEILING, 'challenge_score', 3)}; the original "
             f"{_with_interval(mean, ORIGINAL, 'challenge_score', 3)}). Each configuration, best first, with its "
             "score when it was tuned:"]
    for config, m in methods.iterrows():
        share = f", {m.challenge_score / top:.0%} of the ceiling" if top > 0 else ""
        lines.append(f"    - {_name(config)}: {_with_interval(mean, config, 'challenge_score', 3)}{share} "
                     f"(tuned: {tuned.loc[config, 'challenge_score']:.3f}), {1000 * m.seconds_per_model:.2f} ms per "
                     f"model, {1000 * m.seconds_per_model / retrain_ms:.1%} of retraining{_guarantee(report, config)}.")
    best, level = methods.index[0], intervals.simultaneous(2)
    against = []
    for other, who in [(ORIGINAL, "the original"), (CEILING, "the ceiling")]:
        difference, apart = _difference(compare, best, other, level)
        against.append(f"from {who} by {difference}, {'distinguishable' if apart else 'not distinguishable'}")
    lines.append(f"    - The best, {_name(best)}, differs {'; and '.join(against)} ({compare.how(level)}, Bonferroni "
                 "over the two). Picking the best on these same scores is itself a selection; the verdict picks "
                 "on the tuning replicate.")
    noisy = methods.index.get_level_values("method").isin(ADDS_NOISE)
    if noisy.any() and not noisy.all():
        best_noise, best_other = methods.index[noisy][0], methods.index[~noisy][0]
        difference, apart = _difference(compare, best_noise, best_other, intervals.LEVEL)
        lines.append(f"    - The best method that adds noise to the weights, {_name(best_noise)}, against the best that "
                     f"does not, {_name(best_other)}: {difference} ({compare.how()}), "
                     f"{'distinguishable' if apart else 'not distinguishable'}.")
    return "\n".join(lines)


def verdict(report, tuning, params, compare):
    """The report's opening answer as markdown: which method to use at most :data:`CHEAP` of retraining's cost
    (chosen on the tuning replicate), how close it gets to the ceiling on fresh models, whether noise helps, and
    the caveat that matters most; each point links to the section that supports it."""
    mean, tuned = _means(report), _means(tuning)
    if not set(tuning["method"]) & set(METHODS):
        return f"No unlearning method ran (`methods` is empty), so there is nothing to recommend ({_link('section 5', 'methods')})."
    best = recommended(tuning, params)
    retrain_ms = 1000 * tuned.loc[RETRAIN, "seconds_per_model"]
    if best is None:
        return (f"- **No operating point costs at most {BUDGET} of retraining** ({retrain_ms:.0f} ms per model) "
                f"({_link('summary', 'summary')}).")
    challenge = bool(params["challenge_models"])
    cost = 1000 * mean.loc[best, "seconds_per_model"]
    rule = "the best challenge score" if challenge else "the lowest Avg. Gap to retrain"
    out = [f"- **Use {_name(best)}** when unlearning may cost at most {BUDGET} of retraining: among the operating "
           f"points within that budget it had {rule} on the tuning replicate; on fresh models it costs {cost:.2f} ms "
           f"per model ({cost / (1000 * mean.loc[RETRAIN, 'seconds_per_model']):.1%} of retraining)"
           f"{_guarantee(report, best)} ({_link('summary', 'summary')})."]
    if challenge:
        top = mean.loc[CEILING, "challenge_score"]
        share = f"{mean.loc[best, 'challenge_score'] / top:.0%} of the ceiling" if top > 0 else "no share of a zero ceiling"
        _, _, _, apart = compare(best, ORIGINAL)
        out.append(f"- **How close:** on fresh models its challenge score is "
                   f"{_with_interval(mean, best, 'challenge_score', 3)}, {share} that a second retrained ensemble "
                   f"reaches ({_with_interval(mean, CEILING, 'challenge_score', 3)}); the untouched original scores "
                   f"{mean.loc[ORIGINAL, 'challenge_score']:.3f}. When tuned it scored "
                   f"{tuned.loc[best, 'challenge_score']:.3f} ({_link('summary', 'summary')}).")
    else:
        apart = mean.loc[best, "avg_gap_hi"] < mean.loc[ORIGINAL, "avg_gap_lo"]
        out.append(f"- **How close:** Avg. Gap to retrain {_with_interval(mean, best, 'avg_gap', 2)} against "
                   f"{_with_interval(mean, ORIGINAL, 'avg_gap', 2)} for the untouched original; no challenge "
                   f"score was computed (`challenge_models: 0`) ({_link('summary', 'summary')}).")
    noise = _noise_on_fresh(mean, compare, params)
    out.append(f"- **Does noise help?** {noise[0].upper() + noise[1:]} ({_link('findings', 'findings')})." if noise
               else f"- **Does noise help?** Not tested: noise then repair and its repair alone did not both run "
                    f"({_link('findings', 'findings')}).")
    out.append(_caveat(best, apart, challenge, report, mean, tuned))
    return "\n".join(out)


def _caveat(best, apart, challenge, report, mean, tuned):
    if not apart:
        what = "challenge score" if challenge else "Avg. Gap"
        return (f"- **Caveat:** at 95 %, {_name(best)}'s {what} on fresh models cannot be told from leaving the model "
                f"untouched ({_link('findings', 'findings')}).")
    if report["replicate"].nunique() == 1:
        return ("- **Caveat:** one report replicate: its intervals cover the forget rows and these models' accuracies, "
                "not a rerun with other models, forget set or method draws; raise `report_replicates` for that "
                f"({_link('findings', 'findings')}).")
    col = "challenge_score" if challenge else "avg_gap"
    return (f"- **Caveat:** selection is optimistic: the recommended setting's {col.replace('_', ' ')} was "
            f"{tuned.loc[best, col]:.3f} when tuned and is {mean.loc[best, col]:.3f} on fresh models "
            f"({_link('summary', 'summary')}).")
