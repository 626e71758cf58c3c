"""The report's figures. Lines show the mean over models, bands and bars one standard deviation.

Each function draws its figure and shows it with :func:`show`, as a PNG with alternative text that says what
it shows: the figure appears whatever matplotlib backend the caller's environment chose (``MPLBACKEND=Agg``
included), in papermill, nbconvert and JupyterLab alike.
"""

import base64
import io
import math

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from IPython.display import display

from nbutils.catalog import CEILING, ORIGINAL, RETRAIN, label
from nbutils.methods import METHODS

ACCURACIES = {"retain_acc": "Retain", "forget_acc": "Forget", "test_acc": "Test"}
DPI = 72  # the inline backend's: the report's size stays what it was when figures went through it
MARKERS = {ORIGINAL: ("*", "tab:red"), RETRAIN: ("D", "tab:green"), CEILING: ("P", "tab:olive")}


def show(fig, alt):
    """Display ``fig`` as a PNG whose alternative text is ``alt``, then close it (so no backend shows it twice)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=DPI)
    plt.close(fig)
    display({"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": alt}, raw=True,
            metadata={"image/png": {"alt": alt}})


def loss_curves(curves):
    """Training loss per epoch; ``curves`` maps a label to a (K, epochs) array."""
    fig, ax = plt.subplots(figsize=(10, 4))
    for name, losses in curves.items():
        mean, std = losses.mean(axis=0), losses.std(axis=0)
        epochs = np.arange(1, len(mean) + 1)
        ax.plot(epochs, mean, label=f"{name} ({len(losses)} models)")
        ax.fill_between(epochs, mean - std, mean + std, alpha=0.25)
    ax.set(xlabel="Epoch", ylabel="Training loss", title="Training loss")
    ax.legend()
    ax.grid(alpha=0.3)
    ends = "; ".join(f"{name}, {len(losses)} models, from {losses[:, 0].mean():.3f} to {losses[:, -1].mean():.3f}"
                     for name, losses in curves.items())
    show(fig, f"Line chart of the mean training loss per epoch with a one-std band: {ends}.")


def _accuracy_long(rows):
    return rows.melt(id_vars=["method", "setting", "value", "model"], value_vars=list(ACCURACIES),
                     var_name="split", value_name="accuracy").replace({"split": ACCURACIES})


def _retrain_reference_lines(ax, retrain):
    """The retrained models' retain, forget and test accuracy: mean as a dashed line, ± one std as a band."""
    for (col, split), color in zip(ACCURACIES.items(), sns.color_palette(n_colors=len(ACCURACIES))):
        mean, std = retrain[col].mean(), retrain[col].std()
        ax.axhline(mean, color=color, linestyle="--", linewidth=1, label=f"{split}, retrained")
        if np.isfinite(std):
            ax.axhspan(mean - std, mean + std, color=color, alpha=0.12, linewidth=0)


def method_sweeps(results, chosen):
    """Section 6: accuracy over each method's sweep against the retrained models' (dashed, ± std band),
    and the parameter distance at each operating point.

    ``chosen``: the rows of each method's operating point, as :func:`nbutils.tables.summary_rows` picks them.
    """
    retrain = results[results["method"] == RETRAIN]
    methods = [m for m in METHODS if m in set(results["method"])]
    n_rows = -(-(len(methods) + 1) // 3)
    fig, axes = plt.subplots(n_rows, 3, figsize=(18, 5 * n_rows), squeeze=False, layout="constrained")
    fig.suptitle("Unlearning methods: accuracy over each sweep against the retrained models", fontsize=16)
    for ax, name in zip(axes.flat, methods):
        long = _accuracy_long(results[results["method"] == name])
        method = METHODS[name]
        if method.sweep.knob == "strategy" or method.sweep.grid:  # no single numeric axis: one group of bars per setting
            sns.barplot(long, x="setting", y="accuracy", hue="split", errorbar="sd", ax=ax)
            ax.set_ylim(max(0, long["accuracy"].min() - 5), 100)
            ax.tick_params(axis="x", rotation=30, labelsize=8)
            xlabel = ""
        else:
            sns.lineplot(long, x="value", y="accuracy", hue="split", style="split", markers=True, errorbar="sd", ax=ax)
            if (long["value"] > 0).all() and long["value"].max() >= 10 * long["value"].min():  # a decade or more
                ax.set_xscale("log")
            xlabel = method.sweep.knob
        _retrain_reference_lines(ax, retrain)
        ax.set(title=label(name), xlabel=xlabel, ylabel="Accuracy (%)")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
    ax = axes.flat[len(methods)]
    if methods:
        chosen = chosen[chosen["method"].isin(METHODS)]
        sns.barplot(chosen.assign(who=[f"{label(m)}\n{s}" for m, s in zip(chosen["method"], chosen["setting"])]),
                    x="who", y="param_dist", errorbar="sd", ax=ax)
        ax.set(title="Parameter distance from the original, at each operating point", xlabel="", ylabel="L2 distance")
        ax.tick_params(axis="x", labelsize=7, rotation=60)
    for extra in axes.flat[len(methods) + 1:]:
        extra.set_visible(False)
    show(fig, f"One panel per method ({', '.join(label(m) for m in methods)}): retain, forget and test accuracy over "
              "its sweep against the retrained models' (dashed lines, one-std bands); the last panel is the parameter "
              "distance from the original at each operating point.")


def _mark_references(ax, results, x, y):
    for method, (marker, color) in MARKERS.items():
        ref = results[results["method"] == method]
        if len(ref):
            ax.scatter(ref[x].mean(), ref[y].mean(), marker=marker, s=220, c=color, edgecolors="black",
                       label=label(method), zorder=5)


def effectiveness(results, chosen):
    """Section 9: the seed's four views of the operating points, with the retrained models as the target."""
    stats = chosen.groupby(["method", "setting"], sort=False).mean(numeric_only=True).reset_index()
    names = [f"{label(m)} · {s}" for m, s in zip(stats["method"], stats["setting"])]
    fig, axes = plt.subplots(2, 2, figsize=(16, 10 + 0.3 * len(names)), layout="constrained")
    fig.suptitle("Unlearning effectiveness at each method's operating point", fontsize=16)

    ax = axes[0, 0]
    for name, row in zip(names, stats.itertuples()):
        ax.scatter(row.retain_acc, row.forget_acc, s=100, alpha=0.8, edgecolors="black", label=name)
    _mark_references(ax, results, "retain_acc", "forget_acc")
    ax.set(xlabel="Retain accuracy (%)", ylabel="Forget accuracy (%)", title="Forget vs retain accuracy (target: retrain)")
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    colors = ["tab:green" if q > 0 else "tab:red" for q in stats["seed_quality"]]
    ax.barh(names, stats["seed_quality"], color=colors, edgecolor="black", alpha=0.7)
    ax.tick_params(axis="y", labelsize=8)
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    ax.set(xlabel="Forget drop − retain drop (points)", title="The seed's quality score (rewards overshooting retrain)")

    ax = axes[1, 0]
    original = results[results["method"] == ORIGINAL][list(ACCURACIES)].mean()
    retrain = results[results["method"] == RETRAIN][list(ACCURACIES)].mean()
    x = np.arange(len(names))
    ax.bar(x - 0.2, original["forget_acc"] - stats["forget_acc"], 0.4, label="Forget acc drop", edgecolor="black")
    ax.bar(x + 0.2, original["retain_acc"] - stats["retain_acc"], 0.4, label="Retain acc drop", edgecolor="black")
    ax.axhline(original["forget_acc"] - retrain["forget_acc"], color="tab:green", linestyle="--",
               label="Retrain's forget acc drop")
    ax.set_xticks(x, names, fontsize=8, rotation=60, ha="right")
    ax.set(ylabel="Drop from the original (points)", title="Accuracy change from the original model")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    points = ax.scatter(stats["param_dist"], stats["forget_acc"], c=stats["avg_gap"], cmap="RdYlGn_r", s=100,
                        edgecolors="black")
    for _, row in zip(names, stats.itertuples()):
        ax.annotate(label(row.method), (row.param_dist, row.forget_acc), fontsize=8, ha="center", va="bottom")
    ax.axhline(retrain["forget_acc"], color="tab:green", linestyle="--", label="Retrain forget acc")
    fig.colorbar(points, ax=ax, label="Avg. Gap to retrain (lower is better)")
    ax.set(xlabel="Parameter distance from the original", ylabel="Forget accuracy (%)",
           title="Parameter distance vs forget accuracy")
    ax.legend(fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    show(fig, f"Four panels over {len(names)} operating points: forget against retain accuracy, the seed's quality "
              "score, the drop in forget and retain accuracy from the original, and parameter distance against forget "
              "accuracy coloured by Avg. Gap; the retrained models are the target.")


def pareto(results, forgetting_columns=("avg_gap", "challenge_score")):
    """Forgetting against test accuracy (± one std over models) over each method's sweep, references marked."""
    grouped = results.groupby(["method", "setting"], sort=False)
    stats = grouped.mean(numeric_only=True).reset_index()
    stats["test_sd"] = grouped["test_acc"].std().to_numpy()
    columns = [c for c in forgetting_columns if stats[c].notna().any()]
    titles = {"avg_gap": "Avg. Gap to retrain (lower is better)", "challenge_score": "Challenge score (higher is better)"}
    fig, axes = plt.subplots(1, len(columns), figsize=(8 * len(columns), 6), squeeze=False)
    for ax, col in zip(axes.flat, columns):
        for name in [m for m in METHODS if m in set(stats["method"])]:
            sweep = stats[stats["method"] == name]
            ax.errorbar(sweep["test_acc"], sweep[col], xerr=sweep["test_sd"], fmt="o-", capsize=3, label=label(name),
                        alpha=0.8)
        refs = stats[stats["method"].isin(MARKERS)]
        _mark_references(ax, refs[refs[col].notna()], "test_acc", col)
        ax.set(xlabel="Test accuracy (%)", ylabel=titles[col], title=f"{titles[col]} vs test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    show(fig, f"Scatter of {' and '.join(titles[c] for c in columns)} against test accuracy for each of "
              f"{stats['method'].isin(METHODS).sum()} method settings, with the original and retrained models marked.")


def epsilon_ecdf(examples, chosen, n_models):
    """Section 9: the distribution over forget rows of the challenge's per-row epsilon, for each method's
    operating point against the original models and the second retrained ensemble (the ceiling).

    Rows past ceil(log(N - 1)) score no points; epsilons beyond the plot (up to the cap of 50) pile up at its
    right edge, and each legend entry gives the share of rows that score nothing.
    """
    keys = set(zip(chosen["method"], chosen["setting"]))
    rows = examples[(examples["split"] == "forget") & (examples["model"] == 0) & examples["epsilon"].notna()]
    rows = rows[[(m, s) in keys for m, s in zip(rows["method"], rows["setting"])]]
    zero_points = math.ceil(math.log(n_models - 1))
    right = zero_points + 0.5
    fig, ax = plt.subplots(figsize=(12, 5))
    references = {(ORIGINAL, "-"): ("tab:red", 2.5), (CEILING, "-"): ("black", 2.5)}
    groups = rows.groupby(["method", "setting"], sort=False, observed=True)
    order = sorted(groups.groups, key=lambda k: (k not in references, label(k[0])))
    for key in order:
        eps = groups.get_group(key)["epsilon"].to_numpy()
        color, width = references.get(key, (None, 1.2))
        name = label(key[0]) + (f" ({key[1]})" if key[1] != "-" else "")
        ax.ecdf(np.minimum(eps, right), color=color, linewidth=width,
                label=f"{name}: {np.mean(eps >= zero_points):.0%} score 0")
    ax.axvline(zero_points, color="grey", linestyle=":", label=f"ε = {zero_points}: no points past it")
    ax.set(xlim=(0, right), xlabel="Per-row ε (larger ones, up to the cap of 50, drawn at the right edge)",
           ylabel="Share of forget rows at or below ε",
           title="How distinguishable each forget row stays from retraining (higher and further left is better)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    show(fig, f"Empirical CDF of the challenge's per-row ε over {rows['row_id'].nunique()} forget rows for "
              f"{len(order)} configurations (each operating point, the original and the ceiling); rows at ε ≥ "
              f"{zero_points} score no points.")
