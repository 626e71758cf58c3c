"""Tables a reader sees, built from the tidy results (one row per method, setting and model)."""

import numpy as np
import pandas as pd

from nbutils import intervals
from nbutils.evaluation import INTERVAL_BOUNDS, WITH_INTERVAL, ensemble_sizes
from nbutils.methods import METHODS, certified

REFERENCES = {"original": "Original model", "retrain": "Retrain from scratch",
              "retrain_2": "Retrain, 2nd ensemble (ceiling)"}
LABELS = {
    "retain_acc": "Retain acc (%)", "forget_acc": "Forget acc (%)", "test_acc": "Test acc (%)",
    "param_dist": "Param dist", "mia_auc": "MIA AUC", "mia_tpr@0.01": "TPR@1%FPR (%)",
    "mia_tpr@0.001": "TPR@0.1%FPR (%)", "mia_efficacy": "MIA efficacy (%)", "avg_gap": "Avg. Gap",
    "forget_score": "Forget score", "challenge_score": "Challenge score", "seed_quality": "Seed quality score",
    "gap_forget": "Gap forget", "gap_retain": "Gap retain", "gap_test": "Gap test", "gap_mia": "Gap MIA",
    "ms_per_model": "ms per model", "speedup": "Speed-up vs retrain",
}
PER_MODEL = ["retain_acc", "forget_acc", "test_acc", "param_dist", "mia_auc", "mia_tpr@0.01", "mia_tpr@0.001",
             "mia_efficacy", "seed_quality"]
PER_SETTING = ["gap_forget", "gap_retain", "gap_test", "gap_mia", "avg_gap", "forget_score", "challenge_score",
               "seconds_per_model", "ms_per_model"]


def label(method):
    return REFERENCES.get(method) or METHODS[method].label


def _fmt(mean, spread, digits):
    """"mean ± std" for a per-model column, "value [low, high]" for an interval, the value alone without spread."""
    if np.isnan(mean):
        return "–"
    if isinstance(spread, tuple):
        low, high = spread
        if np.isnan(low) or low == high:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{mean:.{digits}f}" if np.isnan(spread) else f"{mean:.{digits}f} ± {spread:.{digits}f}"


def aggregate(rows):
    """Mean and standard deviation over models of each configuration, in the order the rows came.

    Per-configuration columns repeat on every row: their "mean" is the value, and their interval bounds
    come along as the columns ``<column>_lo`` and ``<column>_hi``.
    """
    keys = ["method", "setting"]
    order = rows[keys].drop_duplicates()
    columns = [c for c in PER_MODEL + PER_SETTING + INTERVAL_BOUNDS if c in rows]
    stats = rows.groupby(keys, sort=False)[columns].agg(["mean", "std"])
    return stats.loc[pd.MultiIndex.from_frame(order)]


def display_table(rows, columns, digits=None):
    """Configurations as rows and ``columns`` as strings, with readable headers.

    Per-model columns read "mean ± std over models"; the gaps and challenge scores, computed once per
    configuration, read "value [95 % bootstrap interval]".
    """
    stats = aggregate(rows)
    digits = digits or {}
    out = pd.DataFrame(index=stats.index)
    for col in columns:
        d = digits.get(col, 4 if col in ("param_dist", "forget_score", "challenge_score", "mia_auc") else 2)
        if col in WITH_INTERVAL:
            spreads = list(zip(stats[(f"{col}_lo", "mean")], stats[(f"{col}_hi", "mean")]))
        elif col in PER_SETTING:
            spreads = [np.nan] * len(stats)
        else:
            spreads = stats[(col, "std")]
        out[LABELS.get(col, col)] = [_fmt(m, s, d) for m, s in zip(stats[(col, "mean")], spreads)]
    out.index = [f"{label(m)} · {s}" if s != "-" else label(m) for m, s in out.index]
    return out


def operating_points(results):
    """Each method's chosen setting: best challenge score, ties (or no score) broken by the lowest Avg. Gap."""
    stats = aggregate(results[results["method"].isin(METHODS)])
    table = pd.DataFrame({"challenge": stats[("challenge_score", "mean")].fillna(-1.0),
                          "gap": stats[("avg_gap", "mean")]}).reset_index()
    best = table.sort_values(["challenge", "gap"], ascending=[False, True], kind="stable").groupby("method", sort=False).head(1)
    order = [m for m in METHODS if m in set(best["method"])]
    return best.set_index("method").loc[order, "setting"].to_dict()


def summary_rows(results):
    """The rows of the reference models and of each method's operating point."""
    points = operating_points(results)
    keep = results["method"].isin(REFERENCES) | pd.Series(
        [points.get(m) == s for m, s in zip(results["method"], results["setting"])], index=results.index)
    return results[keep]


def summary(chosen):
    """The summary table of :func:`summary_rows`: reference rows, then each method at its operating point, with cost."""
    rows = chosen.copy()
    retrain_seconds = rows.loc[rows["method"] == "retrain", "seconds_per_model"].iloc[0]
    rows["speedup"] = retrain_seconds / rows["seconds_per_model"]
    rows["ms_per_model"] = 1000 * rows["seconds_per_model"]
    columns = ["retain_acc", "forget_acc", "test_acc", "param_dist", "mia_auc", "mia_efficacy", "avg_gap",
               "forget_score", "challenge_score", "seed_quality", "ms_per_model"]
    table = display_table(rows, columns, digits={"ms_per_model": 3})
    speedup = rows.groupby(["method", "setting"], sort=False)["speedup"].first()
    table[LABELS["speedup"]] = [("–" if not np.isfinite(v) or v == 1 else f"{v:,.0f}×" if v >= 10 else f"{v:.1f}×")
                                for v in speedup]
    return table


def _with_interval(mean, config, col, digits):
    value, low, high = (mean.loc[config, c] for c in (col, f"{col}_lo", f"{col}_hi"))
    return _fmt(value, (low, high), digits)


def _challenge_finding(mean, methods, draws, n, name):
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
            f"setting is {name(best)} at {_with_interval(mean, best, 'challenge_score', 3)}{share}.")
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
    parts, gains, losses = [], [], []
    for setting in steps:
        r, f = mean.loc[("repair", setting)], mean.loc[("finetune", setting)]
        part = (f"{setting}: Avg. Gap {r.avg_gap:.2f} against {f.avg_gap:.2f}, "
                f"{1000 * r.seconds_per_model:.2f} against {1000 * f.seconds_per_model:.2f} ms per model")
        if params["challenge_models"]:
            low, high, apart = intervals.difference_interval(draws[("repair", setting)], draws[("finetune", setting)])
            part += (f", challenge score {r.challenge_score:.3f} against {f.challenge_score:.3f}, difference "
                     f"{r.challenge_score - f.challenge_score:+.3f} [{low:+.3f}, {high:+.3f}]")
            (gains if apart and low > 0 else losses if apart else []).append(setting)
        parts.append(part)
    text = (f"- **Does noise help?** Noise then repair ({base}) against fine-tuning alone at equal steps: "
            + "; ".join(parts) + ".")
    if params["challenge_models"]:
        text += (f" With 95 % paired intervals, noise improves the challenge score at {len(gains)} of {len(steps)} step "
                 f"counts{' (' + ', '.join(gains) + ')' if gains else ''}, worsens it at {len(losses)}"
                 f"{' (' + ', '.join(losses) + ')' if losses else ''}, and is indistinguishable from fine-tuning alone "
                 f"at the other {len(steps) - len(gains) - len(losses)}.")
    return text


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

    def name(idx):
        return f"{label(idx[0])} ({idx[1]})"

    closest = (methods["forget_acc"] - r.forget_acc).abs().idxmin()
    c = methods.loc[closest]
    out.append(
        f"- **Closest to the retrained forget accuracy:** {name(closest)}, {c.forget_acc:.1f} % "
        f"(gap {abs(c.forget_acc - r.forget_acc):.1f} points), at a test accuracy of {c.test_acc:.1f} % "
        f"(retrain {r.test_acc:.1f} %, original {o.test_acc:.1f} %).")
    better = methods[methods["avg_gap"] < o.avg_gap]
    lowest = methods["avg_gap"].idxmin()
    out.append(
        f"- **Avg. Gap to retrain.** Leaving the original model untouched scores {_with_interval(mean, original, 'avg_gap', 2)}. "
        f"{len(better)} of {len(methods)} method settings do better; the lowest is {name(lowest)} at "
        f"{_with_interval(mean, lowest, 'avg_gap', 2)} (95 % bootstrap intervals over models).")
    if params["challenge_models"]:
        out.append(_challenge_finding(mean, methods, draws, params["challenge_models"], name))
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
        f"The slowest setting, {name(slowest)}, costs {ms.max() / retrain_ms:.1%} of retraining; "
        f"{int((ms > 0.1 * retrain_ms).sum())} of {len(ms)} settings cost more than 10 %.")
    out.append("- **Operating points** (best challenge score, ties by Avg. Gap):")
    points = chosen.loc[chosen["method"].isin(METHODS), ["method", "setting"]].drop_duplicates()
    for method, setting in points.itertuples(index=False):
        m = mean.loc[(method, setting)]
        out.append(f"    - {label(method)} ({setting}): forget {m.forget_acc:.1f} %, test {m.test_acc:.1f} %, "
                   f"Avg. Gap {m.avg_gap:.2f}, challenge score {m.challenge_score:.3f}.")
    return "\n".join(out)


def most_distinguishable(examples, method, setting, n_models, n=10):
    """The ``n`` forget rows with the highest epsilon at one configuration, with the median confidence of its
    first ``n_models`` models (those the challenge compares) and of as many retrained ones."""
    rows = examples[(examples["split"] == "forget") & (examples["method"].isin([method, "retrain"]))
                    & (examples["model"] < n_models)]
    rows = rows[(rows["method"] == "retrain") | (rows["setting"] == setting)]
    unlearned = rows[rows["method"] == method]
    first = unlearned[unlearned["model"] == 0].set_index("row_id")
    median = rows.groupby(["method", "row_id"], observed=True)["confidence"].median().unstack(0)
    table = pd.DataFrame({
        "label": first["label"], "ε": first["epsilon"], "points": first["points"],
        "median confidence, unlearned": median[method], "median confidence, retrained": median["retrain"],
        "unlearned models right (%)": 100 * unlearned.groupby("row_id", observed=True)["correct"].mean(),
    }).sort_values("ε", ascending=False, kind="stable").head(n)
    return table.rename_axis("row id").round(3)


def certificates(params, original):
    """What each certified-noise setting certifies, and how far the projection moves the trained models."""
    shift = 100 * certified.projection_shift(original, params["certified_radius"])
    norms = certified.parameter_norms(original)
    table = pd.DataFrame([{"setting": label, "ε": eps, "δ": delta, "noise σ": sigma}
                          for label, (eps, delta, sigma) in certified.certificate(params).items()]).set_index("setting")
    table["projection moves the weights (% of norm, mean / max over models)"] = f"{shift.mean():.2f} / {shift.max():.2f}"
    table["trained models' norms"] = f"{norms.min():.2f} to {norms.max():.2f} (C = {params['certified_radius']:g})"
    return table
