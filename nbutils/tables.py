"""Tables a reader sees, built from the tidy results (one row per method, setting and model)."""

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from nbutils import intervals
from nbutils.catalog import REFERENCES, RETRAIN, label
from nbutils.columns import COLUMNS, COSTS, INTERVAL_BOUNDS, LABELS, PER_MODEL, PER_SETTING, WITH_INTERVAL
from nbutils.methods import METHODS, certified


def formatted(mean, spread, digits):
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
        d = digits.get(col, COLUMNS[col].digits if col in COLUMNS else 2)
        if col in WITH_INTERVAL:
            spreads = list(zip(stats[(f"{col}_lo", "mean")], stats[(f"{col}_hi", "mean")]))
        elif col in PER_SETTING:
            spreads = [np.nan] * len(stats)
        else:
            spreads = stats[(col, "std")]
        out[LABELS.get(col, col)] = [formatted(m, s, d) for m, s in zip(stats[(col, "mean")], spreads)]
    out.index = row_labels(rows)
    return out


def operating_points(results):
    """Each method's chosen setting: best mean challenge score over the replicates in ``results``, ties (or no
    score) broken by the lowest Avg. Gap (which only fully scored replicates have)."""
    stats = aggregate(results[results["method"].isin(METHODS)])
    table = pd.DataFrame({"challenge": stats[("challenge_score", "mean")].fillna(-1.0),
                          "gap": stats[("avg_gap", "mean")]}).reset_index()
    best = table.sort_values(["challenge", "gap"], ascending=[False, True], kind="stable").groupby("method", sort=False).head(1)
    order = [m for m in METHODS if m in set(best["method"])]
    return best.set_index("method").loc[order, "setting"].to_dict()


def summary_rows(results, points):
    """The rows of the reference models and of each method's operating point in ``points`` ({method: setting})."""
    keep = results["method"].isin(REFERENCES) | pd.Series(
        [points.get(m) == s for m, s in zip(results["method"], results["setting"])], index=results.index)
    return results[keep]


def across_replicates(rows):
    """``rows`` of several report replicates with each per-configuration figure replaced by its mean over the
    replicates and its interval by Student's t interval across them (from one replicate: ``rows`` as they are)."""
    if rows["replicate"].nunique() < 2:
        return rows
    out = rows.copy()
    keys = ["method", "setting"]
    per_replicate = rows.groupby([*keys, "replicate"], sort=False)[[*WITH_INTERVAL, *COSTS]].first()
    for config, values in per_replicate.groupby(level=keys, sort=False):
        at = (out["method"] == config[0]) & (out["setting"] == config[1])
        out.loc[at, COSTS] = values[COSTS].mean().to_numpy()
        for col in WITH_INTERVAL:
            if values[col].notna().all():
                out.loc[at, [col, f"{col}_lo", f"{col}_hi"]] = intervals.t_interval(values[col])
    return out


def summary(report, tuning):
    """Section 7: each configuration of the report replicates (reference rows, then each method at its operating
    point), with its cost, and beside its challenge score its mean score over the tuning replicates."""
    rows = report.assign(cost_share=100 * report["cost_share"])
    tuned = tuning.groupby(["method", "setting"], sort=False)["challenge_score"].mean()
    rows["tuning_challenge_score"] = [tuned.get((m, s), np.nan) for m, s in zip(rows["method"], rows["setting"])]
    retrain_seconds = rows.loc[rows["method"] == RETRAIN, "seconds_per_model"].iloc[0]
    rows["speedup"] = retrain_seconds / rows["seconds_per_model"]
    rows["ms_per_model"] = 1000 * rows["seconds_per_model"]
    columns = ["retain_acc", "forget_acc", "test_acc", "param_dist", "mia_auc", "mia_efficacy", "avg_gap",
               "forget_score", "challenge_score", "tuning_challenge_score", "attack_acc", "seed_quality", "cost_share",
               "ms_per_model"]
    table = display_table(rows, columns)
    speedup = rows.groupby(["method", "setting"], sort=False)["speedup"].first()
    table[LABELS["speedup"]] = [("–" if not np.isfinite(v) or v == 1 else f"{v:,.0f}×" if v >= 10 else f"{v:.1f}×")
                                for v in speedup]
    return table


def most_distinguishable(examples, method, setting, n_models, n=10):
    """The ``n`` forget rows with the highest epsilon at one configuration, with the median confidence of its
    first ``n_models`` models (those the challenge compares) and of as many retrained ones."""
    rows = examples[(examples["split"] == "forget") & (examples["method"].isin([method, RETRAIN]))
                    & (examples["model"] < n_models)]
    rows = rows[(rows["method"] == RETRAIN) | (rows["setting"] == setting)]
    unlearned = rows[rows["method"] == method]
    first = unlearned[unlearned["model"] == 0].set_index("row_id")
    median = rows.groupby(["method", "row_id"], observed=True)["confidence"].median().unstack(0)
    table = pd.DataFrame({
        "label": first["label"], "ε": first["epsilon"], "points": first["points"],
        "median confidence, unlearned": median[method], "median confidence, retrained": median[RETRAIN],
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


def preface(name, params, original):
    """What a method's section shows before its sweep, or None: noise then repair's base and learning rate,
    certified noise's certificates (when it runs)."""
    if name == "repair":
        return Markdown(f"Base: {label(params['repair_base'])} at {params['repair_base_value']:g}; "
                        f"SGD learning rate {params['finetune_lr']:g}, {params['finetune_batch_size']} rows per step.")
    if name == "certified" and name in params["methods"]:
        return certificates(params, original)
    return None


def folded(table, visible, what):
    """HTML: the rows of ``table`` whose index is in ``visible``, then every row folded under ``<details>``
    (no JavaScript needed to open it)."""
    shown = table[table.index.isin(visible)]
    return HTML(f"{shown.to_html(classes='visible')}<details><summary>{what}: all {len(table)} rows</summary>"
                f"{table.to_html()}</details>")


def row_labels(rows):
    """The index labels :func:`display_table` gives the configurations in ``rows``."""
    return [f"{label(m)} · {s}" if s != "-" else label(m) for m, s in rows[["method", "setting"]].drop_duplicates().itertuples(index=False)]
