"""The design study: the width of the paired gain's interval per CPU-second, as the models per side N and the
numbers of tuning and report replicates vary (issue 22). Reads a finished `make design-study` sweep:

    python benchmarks/design_study.py reports/design-study --output benchmarks/design-study.md

Per run (scenario, N), from its report replicates: each candidate's per-replicate gain over the original in share
of the ceiling (the leaderboard's measure), its standard deviation across replicates, and the median over the
candidates; and the room a method has, retraining's mean gain over the original, which grows with N (the
original's share of the ceiling falls as N grows), so widths are also read relative to it. For r report
replicates the leaderboard's interval is 2 · t(1 − 0.05 / (2k), r − 1) · sd / √r wide
(simultaneous over the k candidates, Bonferroni), so one run with 8 replicates projects every r. Seconds come from
the run's per-section clock with one torch thread per run: section 4–5 is the first (full) tuning replicate,
section 6 the further (light) ones, section 7 the report replicates.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from nbutils import leaderboard, sweep
from record import write_or_print

REPLICATES = [3, 5, 8, 10, 16]
SCENARIOS_IN_LEADERBOARD, WORKERS, BUILD_MINUTES = 8, 2, 60


def measure(folder):
    """One row per run: scenario, N, the median and the spread of the candidates' gain standard deviations, k
    candidates, and seconds for the first tuning replicate, each further one and each report replicate."""
    rows = []
    per_replicate = leaderboard.collect(leaderboard.completed_runs(folder))
    for run in json.loads((Path(folder) / sweep.MANIFEST).read_text())["runs"]:
        out = Path(folder) / run["slug"]
        if sweep.read_status(out).get("status") != "ok":
            continue
        metrics = json.loads((out / "metrics.json").read_text())
        P, seconds = metrics["parameters"], metrics["seconds_per_section"]
        scenario = run["varying"]["scenario"]
        mine = (per_replicate["scenario"] == scenario) & (per_replicate["models"] == P["challenge_models"])
        shares = per_replicate[mine]
        shares = shares.pivot_table(index="replicate", columns="method", values="share")
        sds = shares.drop(columns="original").sub(shares["original"], axis=0).std(ddof=1)
        rows.append({"scenario": scenario, "N": P["challenge_models"], "candidates": len(sds),
                     "gain_sd": sds.median(), "gain_sd_q75": sds.quantile(0.75),
                     "room": (shares["retrain"] - shares["original"]).mean(),
                     "first_tuning_s": _section(seconds, "4.") + _section(seconds, "5."),
                     "further_tuning_s": _section(seconds, "6.") / max(P["tuning_replicates"] - 1, 1),
                     "report_s": _section(seconds, "7.") / P["report_replicates"],
                     "other_s": sum(seconds.values()) - sum(_section(seconds, s) for s in ("4.", "5.", "6.", "7."))})
    if not rows:
        raise SystemExit(f"no run in {folder} finished ok; run `make design-study` first")
    return pd.DataFrame(rows).sort_values(["scenario", "N"]).reset_index(drop=True)


def curve(runs, tuning=2):
    """Projected interval width (points of the ceiling) and CPU-seconds per run for every N and r in REPLICATES."""
    rows = []
    for run in runs.itertuples():
        for r in REPLICATES:
            t = stats.t.ppf(1 - 0.05 / (2 * run.candidates), r - 1)
            seconds = run.other_s + run.first_tuning_s + (tuning - 1) * run.further_tuning_s + r * run.report_s
            width = 2 * t * run.gain_sd / np.sqrt(r)
            rows.append({"scenario": run.scenario, "N": run.N, "r": r, "width": 100 * width,
                         "relative": width / run.room, "cpu_s": seconds})
    table = pd.DataFrame(rows)
    table["relative_x_sqrt_cpu"] = table["relative"] * np.sqrt(table["cpu_s"])  # lower: more precision per second
    return table


def choose(table):
    """N: the lowest mean relative width × √CPU-s at r = 10 over the scenarios; r: the largest in REPLICATES whose
    leaderboard (8 scenarios on 2 workers, at this N and the slower scenario's seconds) fits in half the 60-minute
    budget, leaving room for slower tables."""
    at_ten = table[table["r"] == 10].groupby("N")["relative_x_sqrt_cpu"].mean()
    n = int(at_ten.idxmin())
    slowest = table[table["N"] == n].groupby("r")["cpu_s"].max()
    minutes = slowest * SCENARIOS_IN_LEADERBOARD / WORKERS / 60
    fits = minutes[minutes <= BUILD_MINUTES / 2]
    return n, int(fits.index.max()) if len(fits) else min(REPLICATES), minutes


def markdown(runs, table, choice):
    n, r, minutes = choice
    lines = ["# Design study: the paired gain's interval per CPU-second", "",
             "Made by `make design-study` (`parameters/sweeps/design-study.yaml`, `benchmarks/design_study.py`). "
             "Width: the leaderboard's interval for a candidate's gain over the original, simultaneous over a "
             "scenario's candidates, in points of the ceiling, at the median candidate's spread; projected from "
             "each run's 8 report replicates. Room: retraining's mean gain over the original, in points; relative "
             "width: the width over the room (1: as wide as the whole distance from doing nothing to retraining). "
             "CPU-s: one run's seconds with one torch thread.", "",
             "## Measured per run", "",
             "| scenario | N | candidates | gain sd (median, 75th pct.), pts | room, pts | first tuning replicate s | "
             "each further tuning replicate s | each report replicate s | other s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for x in runs.itertuples():
        lines.append(f"| {x.scenario} | {x.N} | {x.candidates} | {100 * x.gain_sd:.1f}, {100 * x.gain_sd_q75:.1f} | "
                     f"{100 * x.room:.1f} | "
                     f"{x.first_tuning_s:.0f} | {x.further_tuning_s:.1f} | {x.report_s:.1f} | {x.other_s:.0f} |")
    lines += ["", "## Width against CPU-seconds (two tuning replicates)", "",
              "| scenario | N | report replicates r | width, pts | relative width | CPU-s per run | "
              "relative × √CPU-s |",
              "|---|---|---|---|---|---|---|"]
    for x in table.itertuples():
        lines.append(f"| {x.scenario} | {x.N} | {x.r} | {x.width:.1f} | {x.relative:.2f} | {x.cpu_s:.0f} | "
                     f"{x.relative_x_sqrt_cpu:.1f} |")
    lines += ["", "## The choice", "",
              f"- N = {n}: the lowest mean relative width × √CPU-s at r = 10 over the two scenarios (precision per "
              "CPU-second, relative to the room a method has; N is then fixed within every comparison and printed "
              "beside every share).",
              f"- report replicates r = {r}: the most whose leaderboard (8 scenarios, 2 workers, the slower "
              f"scenario's seconds) is projected within 30 minutes, half the 60-minute budget: "
              + ", ".join(f"r = {k}: {v:.0f} min" for k, v in minutes.items()) + ".",
              "- tuning replicates do not change the fresh interval's width; they decide which operating point is "
              "tested. Each further one costs the seconds above; the report keeps two, the fewest the one-"
              "standard-error gate can use (issue 22's re-choosing simulation: the gate, not averaging, removed "
              "the losses)."]
    return "\n".join(lines) + "\n"


def _section(seconds, prefix):
    return sum(v for k, v in seconds.items() if k.startswith(prefix))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the design study's sweep folder (reports/design-study)")
    parser.add_argument("--output", type=Path, help="write the markdown here (default: print it)")
    args = parser.parse_args(argv)
    runs = measure(args.folder)
    table = curve(runs)
    text = markdown(runs, table, choose(table))
    write_or_print(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
