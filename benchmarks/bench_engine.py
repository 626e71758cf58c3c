"""Training and fine-tuning on this version's engine against another commit's, side by side; appends to results.md.

Each round runs one timing process per version, alternating, each importing its own ``nbutils`` (a git worktree of
``--against``): K models trained for a few epochs, then fine-tuned for some steps, on a synthetic table. The
figure is the ratio of the medians over the rounds, per task (above 1: this version is faster). Run it with
``make bench-engine``; the issue's budget is a ratio of at least 0.95.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_scale import worktree

from nbutils import ROOT
from record import append

HERE = Path(__file__).resolve().parent
TIMING = """
import json, time, torch
from nbutils.model import MLPEnsemble
from nbutils.runtime import configure, generator
from nbutils.train import train_ensemble
from nbutils.methods.finetune import retain_sgd
configure({threads})
cpu = torch.device("cpu")
g = torch.Generator().manual_seed(0)
X = torch.randn({rows}, 20, generator=g)
y = (X[:, :3].sum(dim=1) > 0).long()
model = MLPEnsemble({models}, 20, [64, 32, 16], 2, 0.3, generator(cpu, 0, "bench"))
start = time.perf_counter()
train_ensemble(model, X, y, epochs={epochs}, batch_size=32, lr=1e-3, generator=generator(cpu, 1))
trained = time.perf_counter() - start
start = time.perf_counter()
retain_sgd(model, X, y, steps={steps}, lr=0.1, batch_size=32, generator=generator(cpu, 2))
print(json.dumps({{"train": trained, "finetune": time.perf_counter() - start}}))
"""


def timed(checkout, settings):
    """One timing process with ``checkout``'s nbutils first on the path: {task: seconds}."""
    out = subprocess.run([sys.executable, "-c", TIMING.format(**settings)], cwd=checkout, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(checkout)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", metavar="COMMIT", default="068add5")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    settings = dict(models=args.models, rows=args.rows, epochs=args.epochs, steps=args.steps, threads=args.threads)
    other = worktree(args.against)
    seconds = {"this version": [], args.against: []}
    try:
        for round_ in range(args.rounds):
            for version, checkout in (("this version", ROOT), (args.against, other)):
                seconds[version].append(timed(checkout, settings))
            print(f"round {round_ + 1}: " + ", ".join(f"{v} {s[-1]}" for v, s in seconds.items()), flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT)
    lines = [f"### Engine against {args.against}: {args.models} models, {args.rows:,} rows, batch 32, {args.epochs} "
             f"epochs of training and {args.steps} fine-tuning steps, {args.threads} threads, medians of "
             f"{args.rounds} alternating rounds, {time.strftime('%Y-%m-%d')}", "",
             "| task | this version (s) | " + args.against + " (s) | ratio (above 1: this version faster) |",
             "|---|---|---|---|"]
    for task in ("train", "finetune"):
        mine, theirs = (statistics.median(r[task] for r in seconds[v]) for v in ("this version", args.against))
        lines.append(f"| {task} | {mine:.2f} | {theirs:.2f} | {theirs / mine:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    append(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
