"""Time the default report on synthetic tables of growing size; append seconds and peak memory to results.md.

Each size is one report run (papermill, kernel start and HTML included) on the default parameters with
50 features, 8 models per ensemble (``n_seeds`` and ``challenge_models``), batch size 1024 and 5 epochs.
Peak memory is the kernel's resident set size, which metrics.json records. Run it with ``make bench-scale``.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from nbutils import PARAMETERS, runner
from record import append

HERE = Path(__file__).resolve().parent
SCALE = {"n_features": 50, "n_informative": 30, "n_redundant": 5, "n_seeds": 8, "challenge_models": 8,
         "batch_size": 1024, "epochs": 5}
TARGET_ROWS, TARGET_SECONDS, TARGET_MEMORY_GIB = 1_000_000, 600, 4.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    rows = []
    for n in args.rows:
        name = f"bench-scale-{n}"
        start = time.perf_counter()
        out = runner.run([PARAMETERS / "default.yaml"], {**SCALE, "n_samples": n, "threads": args.threads}, name,
                         progress=False)
        seconds = time.perf_counter() - start
        metrics = json.loads((out / "metrics.json").read_text())
        memory = metrics["environment"]["peak_memory_mib"]
        rows.append((n, seconds, memory, metrics["seconds_per_section"]))
        print(f"{n:>9,} rows: {seconds:7.1f} s, peak {memory / 1024:.2f} GiB", flush=True)
        shutil.rmtree(out)
    lines = [f"### Scale: synthetic, {SCALE['n_features']} features, 8 models, batch 1024, 5 epochs, "
             f"{args.threads} threads, {time.strftime('%Y-%m-%d')}", "",
             "| rows | seconds (whole report) | peak memory (GiB) | slowest sections (s) |", "|---|---|---|---|"]
    for n, seconds, memory, sections in rows:
        slowest = ", ".join(f"{k} {v:.0f}" for k, v in sorted(sections.items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {n:,} | {seconds:.1f} | {memory / 1024:.2f} | {slowest} |")
    by_rows = {n: (s, m) for n, s, m, _ in rows}
    if TARGET_ROWS in by_rows:
        s, m = by_rows[TARGET_ROWS]
        lines += ["", f"- {TARGET_ROWS:,} rows: {s:.0f} s (target < {TARGET_SECONDS}: {'met' if s < TARGET_SECONDS else 'NOT met'}), "
                      f"peak {m / 1024:.2f} GiB (target < {TARGET_MEMORY_GIB:g}: {'met' if m / 1024 < TARGET_MEMORY_GIB else 'NOT met'})"]
        if 100_000 in by_rows:
            lines.append(f"- 100,000 to 1,000,000 rows: time × {s / by_rows[100_000][0]:.1f} for rows × 10")
    text = "\n".join(lines) + "\n"
    print(text)
    append(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
