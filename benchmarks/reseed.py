"""Does the leaderboard survive a reseed? Two builds' ``leaderboard.csv`` (different master seeds), compared class by
class: for every scenario and candidate, better than, tied with or worse than the original in each.

    python benchmarks/reseed.py benchmarks/leaderboard.csv reports/leaderboard-seed1/leaderboard.csv \\
        --output benchmarks/leaderboard-reseed.md

``agreement`` is the share of (scenario, candidate) pairs with the same class in both builds; the original is
left out (it is the reference, "tie" by definition). A ``flip`` is better in one build and worse in the other.
The goal (issue 22): agreement at least 90 %, no flips.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from record import write_or_print

KEY = ["scenario", "method"]


def compare(first, second):
    """One row per scenario and candidate present in both builds, the original left out: both classes, both
    gains, whether the classes agree and whether they flip."""
    both = first.merge(second, on=KEY, suffixes=("_a", "_b"), validate="one_to_one")
    both = both[both["method"] != "original"]
    classes = both["against_original_a"], both["against_original_b"]
    both["agree"] = classes[0] == classes[1]
    both["flip"] = [{a, b} == {"better", "worse"} for a, b in zip(*classes)]
    return both


def report(both, first, second, names):
    """The comparison as markdown: the two headline lines, the cross-tabulation, then every disagreement."""
    methods = both[both["method"] != "retrain"]
    seeds = [", ".join(map(str, sorted(set(build["seed"])))) for build in (first, second)]
    lines = ["# The leaderboard, reseeded", "",
             f"Two builds of the same sweep: `{names[0]}` (master seed {seeds[0]}) and `{names[1]}` (master seed "
             f"{seeds[1]}). For every scenario and candidate (the original, the reference, left out), its class "
             "against the original in each: better, tie or worse (Holm within a scenario, 5 % family-wise).", "",
             f"agreement: {100 * both['agree'].mean():.0f} %", f"flips: {int(both['flip'].sum())}", "",
             f"{int(both['agree'].sum())} of {len(both)} classifications agree; "
             "the methods alone (retraining left out): "
             f"{int(methods['agree'].sum())} of {len(methods)} "
             f"({100 * methods['agree'].mean():.0f} %).", "",
             "| first build ↓ / second → | better | tie | worse |", "|---|---|---|---|"]
    table = pd.crosstab(both["against_original_a"], both["against_original_b"]).reindex(
        index=["better", "tie", "worse"], columns=["better", "tie", "worse"], fill_value=0)
    lines += [f"| {row} | " + " | ".join(str(v) for v in table.loc[row]) + " |" for row in table.index]
    disagree = both[~both["agree"]]
    if len(disagree):
        lines += ["", "Disagreements (gain over the original in points of the ceiling, [simultaneous interval]):", "",
                  "| scenario | candidate | first | second |", "|---|---|---|---|"]
        for r in disagree.itertuples():
            first = f"{r.against_original_a} {_gain(r.gain_a, r.gain_lo_a, r.gain_hi_a)}"
            second = f"{r.against_original_b} {_gain(r.gain_b, r.gain_lo_b, r.gain_hi_b)}"
            lines.append(f"| {r.scenario} | {r.method} | {first} | {second} |")
    return "\n".join(lines) + "\n"


def _gain(gain, low, high):
    return f"{100 * gain:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--output", type=Path, help="write the markdown here (default: print it)")
    args = parser.parse_args(argv)
    first, second = pd.read_csv(args.first), pd.read_csv(args.second)
    if set(first["seed"]) == set(second["seed"]):
        print(f"error: both builds have master seed {set(first['seed'])}; build one with another seed "
              "(make leaderboard-reseed)", file=sys.stderr)
        return 2
    text = report(compare(first, second), first, second, (args.first, args.second))
    write_or_print(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
