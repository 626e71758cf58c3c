"""The tabular unlearning leaderboard: a sweep's runs, one per scenario, read into one table, a CSV, a heatmap and a
critical-difference diagram.

Every figure comes from the runs' ``results.csv`` report replicates: fresh models, each method at the operating
point its tuning replicates chose. A candidate's score in a replicate is its challenge score as a share of that
replicate's ceiling (a second retrained ensemble of the same N models), so retraining scores 1 by construction.
Leaving the model as it is (``original``) and retraining (``retrain``) stand beside the methods. Within a
replicate every candidate shares the original and retrained models, so each is compared with the original through
its per-replicate difference (:func:`nbutils.comparisons.against`: paired t, Holm over a scenario's candidates).
"""

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from nbutils import ROOT, comparisons, intervals, sisa, sweep
from nbutils.catalog import CEILING, ORIGINAL, RETRAIN
from nbutils.findings import control
from nbutils.methods import ADDS_NOISE, METHODS
from nbutils.results import write_atomically
from nbutils.tables import operating_points

CSV_COLUMNS = ["scenario", "method", "setting", "share", "share_lo", "share_hi", "gain", "gain_lo", "gain_hi",
               "against_original", "cost_share", "seed"]


def completed_runs(folder):
    """(scenario, parameters, results.csv) of every run of the sweep in ``folder`` that finished ``ok``; refuses a
    sweep with none."""
    runs = []
    for run in _manifest(folder)["runs"]:
        out = Path(folder) / run["slug"]
        if sweep.read_status(out).get("status") == "ok":
            parameters = json.loads((out / "metrics.json").read_text())["parameters"]
            runs.append((run["varying"].get("scenario", run["slug"]), parameters,
                         pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""])))
    if not runs:
        raise sweep.SweepError(f"no run in {folder} finished ok; run the sweep first")
    return runs


def collect(runs):
    """One row per scenario, report replicate and candidate (the original, retraining, each method's operating
    point) of ``runs`` (:func:`completed_runs`): share of the ceiling, cost share, Avg. Gap, the per-example attack
    and N, the models per side."""
    frames = []
    for scenario, parameters, results in runs:
        points = operating_points(results[results["stage"] == "tuning"])
        report = results[results["stage"] == "report"]
        for replicate, rows in report.groupby("replicate"):
            by_config = rows.drop_duplicates(["method", "setting"]).set_index(["method", "setting"])
            operating = [(m, s) for m, s in points.items() if (m, s) in by_config.index]
            kept = [(ORIGINAL, "-"), (CEILING, "-"), *operating]
            chosen = by_config.loc[kept].reset_index()
            frames.append(pd.DataFrame({
                "scenario": scenario, "replicate": replicate,
                "method": chosen["method"].replace({CEILING: RETRAIN}), "setting": chosen["setting"],
                "share": chosen["challenge_score"] / by_config.loc[(CEILING, "-"), "challenge_score"],
                "cost_share": chosen["cost_share"], "avg_gap": chosen["avg_gap"], "attack_acc": chosen["attack_acc"],
                "attack_worst": chosen["attack_worst"], "models": parameters["challenge_models"]}))
    return pd.concat(frames, ignore_index=True)


def rank(per_replicate, level=comparisons.LEVEL):
    """Per scenario and candidate: mean share of the ceiling with its t interval across replicates; the paired gain
    over the original with its simultaneous interval and Holm class (``against_original``); the rank of the mean
    share with its simultaneous rank interval; and the other figures' means. Best mean share first."""
    tables = []
    for scenario, rows in per_replicate.groupby("scenario", sort=False):
        shares = rows.pivot(index="replicate", columns="method", values="share")
        versus = comparisons.against(shares, ORIGINAL, level)
        ranks = comparisons.rank_intervals(shares, level)
        means = rows.groupby("method", sort=False).agg(
            setting=("setting", "first"), cost_share=("cost_share", "mean"), avg_gap=("avg_gap", "mean"),
            attack_acc=("attack_acc", "mean"), attack_worst=("attack_worst", "mean"), models=("models", "first"),
            replicates=("share", "count"))
        share = pd.DataFrame([intervals.t_interval(shares[m].dropna(), level) for m in means.index],
                             index=means.index, columns=["share", "share_lo", "share_hi"])
        table = means.join(share).join(ranks[["rank", "rank_lo", "rank_hi"]])
        versus = versus.rename(columns={"against": "against_original"})
        table = table.join(versus[["gain", "gain_lo", "gain_hi", "against_original"]])
        table.loc[ORIGINAL, ["gain", "gain_lo", "gain_hi", "against_original"]] = [0.0, 0.0, 0.0, "tie"]
        tables.append(table.reset_index().assign(scenario=scenario))
    table = pd.concat(tables, ignore_index=True)
    order = table["scenario"].map({s: i for i, s in enumerate(table["scenario"].unique())})  # the sweep's order
    return table.assign(order=order).sort_values(["order", "rank"], kind="stable").drop(columns="order").reset_index(
        drop=True)


def across_scenarios(table):
    """Per candidate: how many scenarios it is better than, tied with or worse than the original in, its mean
    rank (ties share the mean of their ranks, as in Friedman's test), mean share of the ceiling and mean cost
    share; best mean rank first."""
    counts = pd.crosstab(table["method"], table["against_original"]).reindex(columns=comparisons.CLASSES, fill_value=0)
    tied = table.assign(tied_rank=table.groupby("scenario")["share"].rank(ascending=False))
    out = tied.groupby("method").agg(mean_rank=("tied_rank", "mean"), scenarios=("scenario", "nunique"),
                                      mean_share=("share", "mean"), mean_cost=("cost_share", "mean")).join(counts)
    return out.sort_values(["mean_rank", "mean_share"], ascending=[True, False])


def friedman(table):
    """Friedman's test and Nemenyi's critical difference over the scenarios, on mean shares of the ceiling; None
    with fewer than 2 scenarios or 3 candidates in every one."""
    grid = table.pivot(index="scenario", columns="method", values="share")
    try:
        return comparisons.friedman(grid)
    except ValueError:
        return None


def noise_at_equal_cost(runs):
    """Per scenario: noise then repair at its operating point against its repair alone at the same setting, on the
    report replicates: (setting, challenge score difference, its t interval across replicates); scenarios where
    they did not both run are left out."""
    answers = {}
    for scenario, parameters, results in runs:
        report = results[results["stage"] == "report"]
        scores = report.groupby(["replicate", "method", "setting"])["challenge_score"].first()
        scores = scores.unstack(["method", "setting"])
        repair = [s for m, s in scores.columns if m == "repair"]
        if not repair or (control(parameters), repair[0]) not in scores.columns:
            continue
        differences = scores[("repair", repair[0])] - scores[(control(parameters), repair[0])]
        answers[scenario] = (f"{control(parameters)}, {repair[0]}", *intervals.t_interval(differences.dropna()))
    return answers


def sharded(runs):
    """Per scenario whose run trained a sharded model (``shards`` of 2 or more: results.csv rows of stage
    ``"shards"``): :func:`nbutils.sisa.figures` on that replicate, one row each (none without one)."""
    out = []
    for scenario, _, results in runs:
        rows = results[results["stage"] == sisa.STAGE]
        if rows.empty:
            continue
        replicate = results[(results["replicate"] == rows["replicate"].iloc[0])
                            & results["stage"].isin([sisa.STAGE, "tuning"])]
        f = sisa.figures(replicate)
        score = f["score"] or (float("nan"),) * 6
        out.append({"scenario": scenario, "shards": f["shards"], **_triple("acc_before", f["acc_before"]),
                    **_triple("acc_after", f["acc_after"]), "cost_share": f["cost_share"],
                    "seconds_share": f["seconds_share"], "share_of_shards": f["share_of_shards"],
                    "score": score[0], "score_lo": score[1], "score_hi": score[2], "ceiling": score[3],
                    "share": score[0] / score[3]})
    return pd.DataFrame(out)


def sharded_markdown(table):
    """The leaderboard's section on exact unlearning by shards, or no lines without a sharded run."""
    if table.empty:
        return []
    lines = ["", "## Exact unlearning by shards (SISA)", "",
             "Each run's sharded model (N models, each averaging the class probabilities of S sub-models trained on "
             "disjoint shards) on its tuning replicate 0: SISA retrains the shards that held a forget row. Test "
             "accuracy is sharded minus monolithic, in points [95 % Welch interval]; cost is SISA's multiply-adds as a "
             "share of retraining the monolithic model and of retraining every shard; its challenge score is against "
             "sharded models retrained from scratch, beside the sharded ceiling's.", "",
             "| scenario | S | test acc before the request | after (SISA against retraining) | cost | of every shard "
             "| challenge score [interval] | sharded ceiling | share of the ceiling |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.scenario} | {r.shards} | {r.acc_before:+.1f} [{r.acc_before_lo:+.1f}, "
                     f"{r.acc_before_hi:+.1f}] | {r.acc_after:+.1f} [{r.acc_after_lo:+.1f}, {r.acc_after_hi:+.1f}] | "
                     f"{_cost(r.cost_share)} | {_cost(r.share_of_shards)} | {r.score:.3f} [{r.score_lo:.3f}, "
                     f"{r.score_hi:.3f}] | {r.ceiling:.3f} | {r.share:.0%} |")
    return lines


def _triple(name, values):
    return dict(zip([name, f"{name}_lo", f"{name}_hi"], values))


def heatmap(table, path):
    """Share of the ceiling, scenario × candidate, noise methods marked with an asterisk; written to ``path``."""
    order = across_scenarios(table).index
    grid = table.pivot(index="scenario", columns="method", values="share")[order]
    grid.columns = [_label(m) for m in grid.columns]
    fig = Figure(figsize=(4 + 0.7 * grid.shape[1], 3 + 0.45 * grid.shape[0]), layout="constrained")  # no pyplot
    ax = fig.subplots()
    sns.heatmap(100 * grid, annot=True, fmt=".0f", cmap="viridis", cbar_kws={"label": "share of the ceiling (%)"},
                ax=ax)
    ax.set(xlabel="candidate, by mean rank (* adds noise to the weights)", ylabel="",
           title="Challenge score on fresh models, % of the ceiling")
    ax.tick_params(axis="y", rotation=0)
    ax.tick_params(axis="x", rotation=45)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    fig.savefig(path, dpi=100)


def csv_table(table, seed):
    """The leaderboard as ``leaderboard.csv``: one row per scenario and candidate, :data:`CSV_COLUMNS`, shares and
    gains as fractions."""
    return table.assign(seed=seed)[CSV_COLUMNS]


def markdown(folder, table, overall, noise, test, figures, sharded_table=None):
    """The leaderboard page: provenance and the rule on top, then the answer across scenarios, then each scenario."""
    manifest = _manifest(folder)
    records = [sweep.read_status(Path(folder) / run["slug"]) for run in manifest["runs"]]
    started = min(r["started"] for r in records if r.get("started"))
    finished = max(r["finished"] for r in records if r.get("finished"))
    wall = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    models = sorted(table["models"].unique())
    replicates = sorted(table["replicates"].unique())
    lines = [
        "# A tabular unlearning leaderboard", "",
        f"- date: {datetime.now(UTC):%Y-%m-%d}; machine: {_machine()}; commit: {_commit()}",
        f"- sweep: `{manifest['source']}`, master seed {manifest.get('seed')}, {len(records)} runs, wall time "
        f"{wall.total_seconds() / 60:.1f} min (first start to last finish)",
        f"- models per side N = {', '.join(map(str, models))}; report replicates per scenario: "
        f"{', '.join(map(str, replicates))}",
        "- score: each candidate's challenge score on fresh models as a share of the ceiling (a second retrained "
        "ensemble of N models) of the same replicate, mean over report replicates [95 % t interval]. Retraining "
        "scores 100 % by construction; leaving the model as it is (the original) shows what doing nothing scores. "
        "Methods are at the operating points their tuning replicates chose; * marks those that add noise to the "
        "weights; cost: the work counted in multiply-adds, as a share of retraining's.",
        "- against the original: each candidate's share minus the original's, paired within replicates (the same "
        "models and forget set), Student's t across replicates. Within a scenario Holm's procedure tests every "
        "candidate at once at a 5 % family-wise error: *better* and *worse* are the differences it finds, *tie* "
        "the rest (no difference could be told, not proof of none). The gain's interval is simultaneous over the "
        "scenario's candidates (Bonferroni). A rank interval holds for all candidates of a scenario at once "
        "(95 %).", "",
        f"![Share of the ceiling, scenario by candidate]({figures[0]})", "",
        "## Across scenarios", "",
        "| candidate | better than the original | tie | worse | mean rank | mean share of the ceiling | mean cost |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, r in overall.iterrows():
        lines.append(f"| {_label(method)} | {int(r.better)} | {int(r.tie)} | {int(r.worse)} | {r.mean_rank:.1f} | "
                     f"{r.mean_share:.0%} | {_cost(r.mean_cost)} |")
    lines.append("")
    if test is None:
        lines.append("Friedman's test needs at least two scenarios and three candidates in every one; not run.")
    else:
        groups = "; ".join(", ".join(_label(m) for m in g) for g in test.groups()) or "none"
        lines += [f"Friedman's test over {test.blocks} scenarios (mean shares; Iman–Davenport F): p = "
                  f"{test.p_value:.2g}. Nemenyi's critical difference at 95 %: {test.critical_difference:.2f} ranks; "
                  f"groups it cannot tell apart: {groups}."
                  + (f" Left out (missing from some scenario): {', '.join(test.left_out)}." if test.left_out else ""),
                  "", f"![Critical-difference diagram]({figures[1]})"]
    lines += ["", "## Does noise help, at equal cost?", "",
              "Noise then repair at its operating point against its repair alone at the same setting, on the same "
              "fresh models; challenge-score difference, mean over report replicates [95 % t interval].", ""]
    for scenario, (steps, mean, low, high) in noise.items():
        answer = "noise helps" if low > 0 else "noise hurts" if high < 0 else "no difference can be told"
        lines.append(f"- {scenario} ({steps}): {mean:+.3f} [{low:+.3f}, {high:+.3f}]: {answer}")
    lines += sharded_markdown(pd.DataFrame() if sharded_table is None else sharded_table)
    for scenario, rows in table.groupby("scenario", sort=False):
        lines += ["", f"## {scenario}", "",
                  "| rank [interval] | candidate | setting | share of the ceiling (N) | gain over the original | "
                  "against the original | cost | Avg. Gap | attack acc | attack acc, worst 10 % |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows.itertuples():
            lines.append(f"| {r.rank} [{r.rank_lo}–{r.rank_hi}] | {_label(r.method)} | {r.setting} | {r.share:.0%} "
                         f"[{r.share_lo:.0%}, {r.share_hi:.0%}] (N={r.models}) | {_points(r)} | {r.against_original} | "
                         f"{_cost(r.cost_share)} | {r.avg_gap:.2f} | {r.attack_acc:.3f} | {r.attack_worst:.3f} |")
    return "\n".join(lines) + "\n"


def write(folder, output):
    """Write ``output`` (markdown), ``leaderboard.csv``'s columns beside it (same name, .csv), the heatmap (.png)
    and the critical-difference diagram (-cd.png) from the sweep in ``folder``; returns the paths written."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    runs = completed_runs(folder)
    table = rank(collect(runs))
    figure, csv = output.with_suffix(".png"), output.with_suffix(".csv")
    diagram = output.with_name(f"{output.stem}-cd.png")
    heatmap(table, figure)
    test = friedman(table)
    if test is not None:
        comparisons.critical_difference_figure(test, {m: _label(m) for m in test.ranks.index}).savefig(diagram, dpi=100)
    write_atomically(csv, csv_table(table, _manifest(folder).get("seed")).to_csv(index=False, float_format="%.6g"))
    write_atomically(output, markdown(folder, table, across_scenarios(table), noise_at_equal_cost(runs), test,
                                      (figure.name, diagram.name), sharded(runs)))
    return [output, csv, figure, *([diagram] if test is not None else [])]


def _manifest(folder):
    return json.loads((Path(folder) / sweep.MANIFEST).read_text())


def _points(r):
    if r.method == ORIGINAL:
        return "reference"
    return f"{100 * r.gain:+.1f} [{100 * r.gain_lo:+.1f}, {100 * r.gain_hi:+.1f}] pts"


def _cost(share):
    return "–" if pd.isna(share) else f"{share:.1%}"


def _label(method):
    if method in (ORIGINAL, RETRAIN):
        return {ORIGINAL: "Leave as is (original)", RETRAIN: "Retrain from scratch"}[method]
    return f"{METHODS[method].label}{' *' if method in ADDS_NOISE else ''}"


def _machine():
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
                 platform.processor())
    return f"{model}, {sweep.usable_cores()} cores, {platform.system()}"


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
