"""Time the default report on synthetic tables of growing size; append seconds and peak memory to results.md.

Each size is one report run (``python -m nbutils run``: kernel start, every section and HTML) on the default
parameters with 50 features, 8 models per ensemble (``n_seeds`` and ``challenge_models``), batch size 1024 and
5 epochs, 1024 rows per fine-tuning step, one tuning and one report replicate, and each baseline at its authors'
setting alone with 1/20 of their epochs, as training's (``SCALE``). Peak memory is sampled over the whole run,
every process included (:func:`tree_memory`); metrics.json's kernel peak is recorded beside it.

``--against COMMIT`` runs the same report at that commit too, side by side (a git worktree of it, its own
nbutils first on the path), on the methods both versions have: the figure of a speed-up. Run it with
``make bench-scale``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from nbutils import NOTEBOOK, ROOT, params
from nbutils.catalog import CATALOG
from record import append

HERE = Path(__file__).resolve().parent
SCALE = {"n_features": 50, "n_informative": 30, "n_redundant": 5, "n_seeds": 8, "challenge_models": 8,
         "batch_size": 1024, "epochs": 5, "finetune_batch_size": 1024, "tuning_replicates": 1, "report_replicates": 1,
         # the baselines at their authors' setting alone, where the report sweeps around it ...
         "neggrad_alphas": [0.95], "neggrad_lr_factors": [1.0], "scrub_lrs": [0.0005], "salun_mask_fractions": [0.5],
         "salun_lr_factors": [1.0], "cfk_layers": [1], "euk_layers": [1], "l1_weights": [0.0001],
         "badteacher_lrs": [0.0001], "fcs_uniform_weights": [1.0], "msg_rates": [0.3], "cfw_sigmas": [0.6],
         # ... with their epochs a share of training's as in the default report: training runs 5 epochs here, not
         # 100, so each baseline's epochs are 1/20 of its authors' (at least 1; SCRUB's and EU-k's follow their
         # regime and training's epochs). At the authors' 10, NegGrad+ alone would cost 4 retrainings.
         **dict.fromkeys(["salun_epochs", "last_layers_epochs", "l1_epochs", "msg_epochs", "cfw_epochs"], 1),
         **dict.fromkeys(["neggrad_epochs", "badteacher_epochs", "fcs_epochs"], [1])}
TARGET_ROWS, TARGET_SECONDS, TARGET_MEMORY_GIB = 1_000_000, 900, 4.0
SAME_WORK = ("4.", "5.")  # sections both versions run alike: training and scoring the references, the sweeps


def report(checkout, values, name):
    """Run the report of the project in ``checkout`` with ``values``: (seconds, metrics.json's content, with
    ``peak_pss_mib``: the peak of :func:`tree_memory` over the run, sampled every second: reading the
    processes' memory maps takes about 10 ms of a core, which more often would take from the run it measures)."""
    command = [sys.executable, "-m", "nbutils", "run", "-f", "parameters/default.yaml", "--name", name, "--no-progress"]
    for key, value in values.items():
        command += ["-p", key, json.dumps(value)]
    start = time.perf_counter()
    run = subprocess.Popen(command, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)},
                           stdout=subprocess.DEVNULL)
    peak = 0
    while run.poll() is None:
        peak = max(peak, tree_memory(run.pid))
        time.sleep(1.0)
    seconds = time.perf_counter() - start
    if run.returncode:
        raise subprocess.CalledProcessError(run.returncode, command)
    out = Path(checkout) / "reports" / name
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["peak_pss_mib"] = peak / 2**20
    metrics["sweep_seconds"] = sweep_seconds(pd.read_csv(out / "results.csv"))
    shutil.rmtree(out)
    return seconds, metrics


def tree_memory(root):
    """Bytes of memory process ``root`` and all its descendants hold (the runner, the kernel and its forked
    workers): the sum of their proportional set sizes, in which a page shared by n processes counts 1/n in each,
    so shared pages count once (Linux's /proc; 0 elsewhere)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, tree = 0, [root]
    while tree:
        pid = tree.pop()
        tree += children.get(pid, [])
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total


def sweep_seconds(results):
    """Each method's sweep on the first tuning replicate, in seconds: its settings' seconds per model times the
    models, summed."""
    rows = results[(results["stage"] == "tuning") & (results["replicate"] == 0)]
    per_setting = rows.groupby(["method", "setting"], sort=False).agg(seconds=("seconds_per_model", "first"),
                                                                      models=("model", "nunique"))
    totals = (per_setting["seconds"] * per_setting["models"]).groupby(level="method", sort=False).sum()
    return {method: float(seconds) for method, seconds in totals.items() if method in CATALOG}


def worktree(commit):
    """A temporary git worktree of ``commit`` (removed by the caller)."""
    folder = Path(tempfile.mkdtemp()) / "checkout"
    made = subprocess.run(["git", "worktree", "add", "--detach", str(folder), commit], cwd=ROOT, capture_output=True,
                          text=True)
    if made.returncode:
        sys.exit(f"bench_scale: cannot check out {commit!r} beside this one ({made.stderr.strip()}); name a commit "
                 "this clone has, or run without --against")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--against", metavar="COMMIT", help="also run the report at this commit, side by side")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    versions = {"this version": ROOT}
    methods = params.defaults(NOTEBOOK)["methods"]
    if args.against:
        versions[args.against] = worktree(args.against)
        theirs = params.defaults(versions[args.against] / "notebooks" / "unlearning.ipynb")["methods"]
        methods = [m for m in methods if m in theirs]
    rows, sweeps = [], {}
    try:
        for n in args.rows:
            values = {**SCALE, "n_samples": n, "threads": args.threads, "methods": methods}
            for version, checkout in versions.items():
                known = params.defaults(Path(checkout) / "notebooks" / "unlearning.ipynb")  # an older one has fewer
                seconds, metrics = report(checkout, {k: v for k, v in values.items() if k in known}, f"bench-scale-{n}")
                memory = metrics["peak_pss_mib"], metrics["environment"]["peak_memory_mib"]
                rows.append((n, version, seconds, memory, metrics["seconds_per_section"]))
                sweeps[n, version] = metrics["sweep_seconds"]
                print(f"{n:>9,} rows, {version}: {seconds:7.1f} s, peak {memory[0] / 1024:.2f} GiB (all processes)",
                      flush=True)
    finally:
        if args.against:
            subprocess.run(["git", "worktree", "remove", "--force", str(versions[args.against])], cwd=ROOT)
    lines = [f"### Scale: synthetic, {SCALE['n_features']} features, 8 models, batch 1024, 5 epochs, fine-tuning "
             f"batch 1024, one tuning and one report replicate, the baselines at their authors' setting with 1/20 "
             f"of their epochs (as training's), "
             f"{args.threads} threads, {len(methods)} methods, {time.strftime('%Y-%m-%d')}", "",
             "| rows | version | seconds (whole report) | peak memory, all processes (GiB) | the kernel's peak when "
             "metrics.json is written (GiB) | slowest sections (s) |",
             "|---|---|---|---|---|---|"]
    for n, version, seconds, (pss, kernel), sections in rows:
        slowest = ", ".join(f"{k} {v:.0f}" for k, v in sorted(sections.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {n:,} | {version} | {seconds:.1f} | {pss / 1024:.2f} | {kernel / 1024:.2f} | {slowest} |")
    ours = {n: (s, m[0]) for n, v, s, m, _ in rows if v == "this version"}
    if TARGET_ROWS in ours:
        s, m = ours[TARGET_ROWS]
        fast, small = s <= TARGET_SECONDS, m / 1024 <= TARGET_MEMORY_GIB
        per_method = sweeps[TARGET_ROWS, "this version"]
        lines += ["", f"- {TARGET_ROWS:,} rows, {len(methods)} methods: {s:.0f} s (target ≤ {TARGET_SECONDS}: "
                      f"{'met' if fast else 'NOT met'}), peak {m / 1024:.2f} GiB over all its processes (target ≤ {TARGET_MEMORY_GIB:g}: "
                      f"{'met' if small else 'NOT met'})",
                  f"- each method's sweep at {TARGET_ROWS:,} rows (first tuning replicate, s): "
                  + ", ".join(f"{CATALOG[name].label} {sec:.0f}" for name, sec in per_method.items())]
        if 100_000 in ours:
            lines.append(f"- 100,000 to 1,000,000 rows: time × {s / ours[100_000][0]:.1f} for rows × 10")
    if args.against:
        for n in args.rows:
            (_, _, mine, _, my_sections), (_, _, theirs, _, their_sections) = [r for r in rows if r[0] == n]
            same = [name for name in their_sections if name.startswith(SAME_WORK)]
            a, b = sum(my_sections.get(name, 0) for name in same), sum(their_sections[name] for name in same)
            lines.append(f"- {n:,} rows: this version {mine:.0f} s against {theirs:.0f} s at {args.against}, side "
                         f"by side: {theirs / mine:.2f}× as fast (target at 1,000,000 rows: ≥ 2×); sections 4 and 5, "
                         f"the same work in both, {a:.0f} s against {b:.0f} s: {b / a:.2f}×")
    text = "\n".join(lines) + "\n"
    print(text)
    append(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
