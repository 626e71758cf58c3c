"""The tabular unlearning leaderboard: a sweep's runs, one per scenario, read into one ranked table and a heatmap.

Every figure comes from the runs' ``results.csv`` report replicates (fresh models: each method at the operating
point its tuning replicate chose). A method's score in a scenario is its challenge score as a share of the
ceiling (a second retrained ensemble) of the same replicate, averaged over the replicates with Student's t
interval across them; its cost is its seconds per model as a share of retraining's.
"""

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from nbutils import ROOT, intervals, sweep
from nbutils.findings import control
from nbutils.methods import ADDS_NOISE, METHODS
from nbutils.results import write_atomically


def completed_runs(folder):
    """(scenario, parameters, report replicates' results: one row per replicate and configuration) of every run of
    the sweep in ``folder`` that finished ``ok``."""
    for run in json.loads((Path(folder) / sweep.MANIFEST).read_text())["runs"]:
        out = Path(folder) / run["slug"]
        if sweep.read_status(out).get("status") != "ok":
            continue
        results = pd.read_csv(out / "results.csv")
        fresh = results[results["replicate"] > 0].groupby(["replicate", "method", "setting"], sort=False).first()
        yield (run["varying"].get("scenario", run["slug"]), json.loads((out / "metrics.json").read_text())["parameters"],
               fresh.reset_index())


def collect(folder):
    """One row per scenario, method and report replicate: share of the ceiling, cost share, Avg. Gap and the
    per-example attack, from every run of the sweep in ``folder`` that finished ``ok``."""
    frames = []
    for scenario, _, fresh in completed_runs(folder):
        for replicate, rows in fresh.groupby("replicate"):
            by_method = rows.set_index("method")
            ceiling, retrain = by_method.loc["retrain_2", "challenge_score"], by_method.loc["retrain", "seconds_per_model"]
            # each method's operating point (not a control), and the untouched original: what doing nothing scores
            methods = rows[rows["method"].isin([*METHODS, "original"])].drop_duplicates("method")
            frames.append(pd.DataFrame({
                "scenario": scenario, "method": methods["method"],
                "setting": methods["setting"], "replicate": replicate,
                "share": methods["challenge_score"] / ceiling, "cost": methods["seconds_per_model"] / retrain,
                "avg_gap": methods["avg_gap"], "attack_acc": methods["attack_acc"],
                "attack_worst": methods["attack_worst"]}))
    if not frames:
        raise sweep.SweepError(f"no run in {folder} finished ok; run the sweep first")
    return pd.concat(frames, ignore_index=True)


def rank(per_replicate):
    """Per scenario and method: mean share of the ceiling with its t interval across replicates, the other
    figures' means, and the rank by mean share (1 is best)."""
    rows = []
    for (scenario, method), group in per_replicate.groupby(["scenario", "method"], sort=False):
        share, low, high = intervals.t_interval(group["share"])
        rows.append({"scenario": scenario, "method": method, "setting": group["setting"].iloc[0], "share": share,
                     "share_lo": low, "share_hi": high, "replicates": len(group),
                     **group[["cost", "avg_gap", "attack_acc", "attack_worst"]].mean().to_dict()})
    table = pd.DataFrame(rows)
    table["rank"] = table.groupby("scenario")["share"].rank(ascending=False, method="min").astype(int)
    return table.sort_values(["scenario", "rank"], kind="stable").reset_index(drop=True)


def across_scenarios(table):
    """Per method: its mean rank over scenarios, and in how many its mean share lies within the best's interval."""
    best_low = table[table["rank"] == 1].groupby("scenario")["share_lo"].max()  # ties share the first rank
    near = table["share"] >= table["scenario"].map(best_low)
    out = table.assign(near_best=near).groupby("method").agg(
        mean_rank=("rank", "mean"), near_best=("near_best", "sum"), scenarios=("scenario", "nunique"),
        mean_share=("share", "mean"), mean_cost=("cost", "mean"))
    return out.sort_values(["mean_rank", "mean_share"], ascending=[True, False])


def noise_at_equal_cost(folder):
    """Per scenario: noise then repair at its operating point against its repair alone at the same setting, on the
    report replicates: (setting, challenge score difference, its t interval across replicates); scenarios where
    they did not both run are left out."""
    answers = {}
    for scenario, parameters, fresh in completed_runs(folder):
        repair_with = control(parameters)
        scores = fresh.set_index(["replicate", "method", "setting"])["challenge_score"]
        repair = [s for (r, m, s) in scores.index if m == "repair"]
        if not repair or not any(m == repair_with and s == repair[0] for (_, m, s) in scores.index):
            continue
        differences = [scores[(r, "repair", repair[0])] - scores[(r, repair_with, repair[0])]
                       for r in sorted({r for (r, _, _) in scores.index})]
        answers[scenario] = (f"{repair_with}, {repair[0]}", *intervals.t_interval(differences))
    return answers


def heatmap(table, path):
    """Share of the ceiling, scenario × method, noise methods marked with an asterisk; written to ``path``."""
    order = across_scenarios(table).index
    grid = table.pivot(index="scenario", columns="method", values="share")[order]
    grid.columns = [_label(m).replace(" (no unlearning)", "") for m in grid.columns]
    fig = Figure(figsize=(4 + 0.7 * grid.shape[1], 3 + 0.45 * grid.shape[0]), layout="constrained")  # no pyplot
    ax = fig.subplots()
    sns.heatmap(100 * grid, annot=True, fmt=".0f", cmap="viridis", cbar_kws={"label": "share of the ceiling (%)"}, ax=ax)
    ax.set(xlabel="method, by mean rank (* adds noise to the weights)", ylabel="",
           title="Challenge score on fresh models, % of the ceiling")
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=45)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    fig.savefig(path, dpi=100)


def markdown(folder, table, overall, noise, figure_name):
    """The leaderboard page: provenance on top, then the answer across scenarios, then each scenario."""
    records = [sweep.read_status(Path(folder) / run["slug"])
               for run in json.loads((Path(folder) / sweep.MANIFEST).read_text())["runs"]]
    started = min(r["started"] for r in records if r.get("started"))
    finished = max(r["finished"] for r in records if r.get("finished"))
    wall = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    lines = [
        "# A tabular unlearning leaderboard", "",
        f"- date: {datetime.now(UTC):%Y-%m-%d}; machine: {_machine()}; commit: {_commit()}",
        f"- sweep: `{json.loads((Path(folder) / sweep.MANIFEST).read_text())['source']}`, {len(records)} runs, "
        f"wall time {wall.total_seconds() / 60:.1f} min (first start to last finish)",
        "- score: each method's challenge score on fresh models (its operating point chosen on a tuning replicate) "
        "as a share of the ceiling of the same replicate, mean over report replicates [95 % t interval]; cost: "
        "seconds per model as a share of retraining's; * marks methods that add noise to the weights; the original "
        "model, left untouched, is ranked with them: a method below it forgets less than doing nothing", "",
        f"![Share of the ceiling, scenario by method]({figure_name})", "",
        "## Across scenarios", "",
        "| method | mean rank | scenarios within the best's interval | mean share of the ceiling | mean cost |",
        "|---|---|---|---|---|",
    ]
    for method, r in overall.iterrows():
        lines.append(f"| {_label(method)} | {r.mean_rank:.1f} | {int(r.near_best)} of {int(r.scenarios)} | "
                     f"{r.mean_share:.0%} | {_cost(r.mean_cost)} |")
    lines += ["", "## Does noise help, at equal cost?", "",
              "Noise then repair at its operating point against its repair alone at the same setting, on the same "
              "fresh models; challenge-score difference, mean over report replicates [95 % t interval].", ""]
    for scenario, (steps, mean, low, high) in noise.items():
        verdict = "noise helps" if low > 0 else "noise hurts" if high < 0 else "no difference can be told"
        lines.append(f"- {scenario} ({steps}): {mean:+.3f} [{low:+.3f}, {high:+.3f}]: {verdict}")
    for scenario, rows in table.groupby("scenario", sort=False):
        lines += ["", f"## {scenario}", "",
                  "| rank | method | setting | share of the ceiling | cost | Avg. Gap | attack acc | attack acc, worst 10 % |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in rows.itertuples():
            lines.append(f"| {r.rank} | {_label(r.method)} | {r.setting} | {r.share:.0%} [{r.share_lo:.0%}, "
                         f"{r.share_hi:.0%}] | {_cost(r.cost)} | {r.avg_gap:.2f} | {r.attack_acc:.3f} | {r.attack_worst:.3f} |")
    return "\n".join(lines) + "\n"


def write(folder, output):
    """Write ``output`` (markdown) and the heatmap beside it (same name, .png) from the sweep in ``folder``."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    table = rank(collect(folder))
    figure = output.with_suffix(".png")
    heatmap(table, figure)
    write_atomically(output, markdown(folder, table, across_scenarios(table), noise_at_equal_cost(folder), figure.name))
    return output, figure


def _cost(share):
    return "–" if pd.isna(share) else f"{share:.1%}"


def _label(method):
    if method == "original":
        return "Original model (no unlearning)"
    return f"{METHODS[method].label}{' *' if method in ADDS_NOISE else ''}"


def _machine():
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{model}, {sweep.usable_cores()} cores, {platform.system()}"


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
