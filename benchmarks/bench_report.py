"""The default report's wall time against the seed notebook's, side by side; appends the ratio to results.md.

The seed notebook (``../shared/seed/noise_unlearning_notebook.txt``, a text export) is rebuilt as a notebook
from its code cells and executed by papermill in the project's kernel (no HTML); the default report runs as
``make report`` runs it (kernel start, every section, HTML). The two alternate, ``--repeats`` times each.
The budget: the report takes at most 6 times the seed's wall time (issue 22), and the aim is 4. Run it with
``make bench-report``.
"""

import argparse
import ast
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill
import yaml

from nbutils import KERNEL, PARAMETERS, ROOT, runner
from record import append

HERE = Path(__file__).resolve().parent
SEED = ROOT.parent / "shared" / "seed" / "noise_unlearning_notebook.txt"
BUDGET_RATIO, AIM_RATIO = 6.0, 4.0


def seed_notebook(text):
    """The seed's code cells: each ``In [..]:`` block, cut where its printed output starts (what no longer parses)."""
    lines, cells = text.splitlines(), []
    starts = [i for i, line in enumerate(lines) if re.match(r"^In \[[^\]]*\]:\s*$", line)]
    for start, end in zip(starts, [*starts[1:], len(lines)]):
        body = "\n".join(line for line in lines[start + 1:end])
        body = re.split(r"\n## ", body)[0]  # the next section's heading
        code = ""
        for block in re.split(r"\n\n\n+", body):
            trial = f"{code}\n\n\n{block}" if code else block
            try:
                ast.parse(trial)
            except SyntaxError:
                break
            code = trial
        cells.append(nbformat.v4.new_code_cell(code.strip()))
    return nbformat.v4.new_notebook(cells=cells)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=Path, default=SEED)
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="override a default parameter (VALUE read as YAML), e.g. -p report_replicates 8")
    args = parser.parse_args(argv)
    overrides = {key: yaml.safe_load(value) for key, value in args.parameter}
    work = Path(tempfile.mkdtemp())
    nbformat.write(seed_notebook(args.seed.read_text()), work / "seed.ipynb")
    seed_seconds, report_seconds = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        papermill.execute_notebook(str(work / "seed.ipynb"), str(work / "seed-out.ipynb"), kernel_name=KERNEL,
                                   cwd=str(work), progress_bar=False)
        seed_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = runner.run([PARAMETERS / "default.yaml"], overrides, name="bench-report", progress=False)
        report_seconds.append(time.perf_counter() - start)
        print(f"seed notebook {seed_seconds[-1]:.1f} s, default report {report_seconds[-1]:.1f} s", flush=True)
    shutil.rmtree(work)
    shutil.rmtree(out)
    ratios = [r / s for r, s in zip(report_seconds, seed_seconds)]
    changed = f" (with {', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else ""
    line = (f"- Default report{changed} against the seed notebook, side by side, {time.strftime('%Y-%m-%d')}: report "
            f"{', '.join(f'{s:.1f}' for s in report_seconds)} s, seed {', '.join(f'{s:.1f}' for s in seed_seconds)} s; "
            f"ratio {', '.join(f'{r:.2f}' for r in ratios)} (budget ≤ {BUDGET_RATIO:g}: "
            f"{'met' if max(ratios) <= BUDGET_RATIO else 'NOT met'}; aim ≤ {AIM_RATIO:g}: "
            f"{'met' if max(ratios) <= AIM_RATIO else 'not met'})")
    print(line)
    append(args.output, line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
