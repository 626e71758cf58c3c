"""Which methods moved between two leaderboard builds, and by how much: each method's mean share of the ceiling over
the scenarios both builds ran, and its classes against the original, before and after.

    git show <commit>:benchmarks/leaderboard.csv > /tmp/before.csv
    python benchmarks/moved.py /tmp/before.csv benchmarks/leaderboard.csv --before-name <commit> \\
        --output benchmarks/leaderboard-moved.md

The goals of issue 23 are read from the second build: at least one method better than the original in 6 of the
8 scenarios, and one method at 80 % of the ceiling or more, on average over the scenarios, at 10 % or less of
retraining's cost.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from nbutils.catalog import CATALOG, REFERENCES
from record import write_or_print

CLASSES = ("better", "tie", "worse")


def label(method):
    return CATALOG[method].label if method in CATALOG else REFERENCES.get(method, method)


def per_method(build, scenarios):
    """Per method: mean share of the ceiling, mean cost share and the count of each class, over ``scenarios``."""
    rows = build[build["scenario"].isin(scenarios)]
    summary = rows.groupby("method", sort=False).agg(share=("share", "mean"), cost=("cost_share", "mean"))
    counts = pd.crosstab(rows["method"], rows["against_original"]).reindex(columns=list(CLASSES), fill_value=0)
    return summary.join(counts)


def report(before, after, names):
    scenarios = sorted(set(before["scenario"]) & set(after["scenario"]))
    old, new = per_method(before, scenarios), per_method(after, scenarios)
    both = old.merge(new, left_index=True, right_index=True, how="outer", suffixes=("_before", "_after"))
    both["moved"] = both["share_after"] - both["share_before"]
    both = both.sort_values("share_after", ascending=False)
    methods = after[~after["method"].isin(REFERENCES)]
    better = methods[methods["against_original"] == "better"].groupby("scenario")["method"].nunique()
    cheap = new[(new["cost"] <= 0.1) & ~new.index.isin(REFERENCES)]
    best = cheap["share"].idxmax() if len(cheap) else None
    lines = [f"# The leaderboard before and after: `{names[0]}` against `{names[1]}`", "",
             f"Over the {len(scenarios)} scenarios both ran. Share: the mean over scenarios of the share of the "
             "ceiling (the original's gap to retraining closed, per replicate); classes: better, tied with or worse "
             "than the original in each scenario (Holm, as the leaderboard).", "",
             f"- At least one method better than the original in {len(better)} of {len(scenarios)} scenarios "
             f"(goal: 6 of 8): {', '.join(better.index) or 'none'}.",
             "- Best mean share at 10 % or less of retraining's cost: "
             + (f"{label(best)}, {100 * cheap.loc[best, 'share']:.0f} % (goal: 80 %)." if best else "none."),
             f"- The original: {100 * new.loc['original', 'share']:.0f} % (before: "
             f"{100 * old.loc['original', 'share']:.0f} %).", "",
             "| method | share before | share after | moved (points) | better / tie / worse before | after | "
             "cost share after |", "|---|---|---|---|---|---|---|"]
    for method, row in both.iterrows():
        if method == "original":
            continue
        counts = ["/".join(str(int(row[f"{c}_{when}"])) if pd.notna(row[f"{c}_{when}"]) else "–" for c in CLASSES)
                  for when in ("before", "after")]
        lines.append(f"| {label(method)} | {_pct(row['share_before'])} | {_pct(row['share_after'])} | "
                     f"{_points(row['moved'])} | {counts[0]} | {counts[1]} | {_pct(row['cost_after'])} |")
    return "\n".join(lines) + "\n"


def _pct(x):
    return "–" if pd.isna(x) else f"{100 * x:.0f} %"


def _points(x):
    return "–" if pd.isna(x) else f"{100 * x:+.0f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--before-name", default="before")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    before, after = pd.read_csv(args.before), pd.read_csv(args.after)
    write_or_print(report(before, after, (args.before_name, args.after.as_posix())), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
