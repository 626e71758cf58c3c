"""Command line: ``python -m nbutils run ...``, ``python -m nbutils sweep ...`` and ``python -m nbutils render ...``."""

import argparse
import sys
from pathlib import Path

import pandas as pd
import yaml
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from nbutils import KERNEL, NOTEBOOK, REPORTS, runner, sweep
from nbutils.index import write_index
from nbutils.params import ParameterError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nbutils", description=(
        "Run the noise-unlearning benchmark notebook with papermill and render its HTML report."))
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks/unlearning.ipynb into reports/<name>/ and render it", description=(
        "Execute the master notebook on layered parameters and write reports/<name>/unlearning.ipynb, "
        "unlearning.html, results.csv, examples.parquet and metrics.json. Parameters are checked before anything runs."))
    run.add_argument("-f", "--file", action="append", default=[], metavar="YAML",
                     help="parameter file; repeat to layer them, later files win (e.g. parameters/default.yaml)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                     help="override one parameter; VALUE is read as YAML (-p epochs 5, -p methods '[gaussian]')")
    run.add_argument("--name", default="default", help="the run's folder under reports/ (default: %(default)s)")
    run.add_argument("--kernel", default=KERNEL, help="Jupyter kernel to execute with (default: %(default)s)")
    run.add_argument("--cell-timeout", type=int, default=1800, help="seconds one cell may run (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")

    grid = commands.add_parser("sweep", help="run every combination of a sweep file, then write its index.html",
                               description=(
        "Run each combination of a sweep file's axes as one notebook run in reports/<sweep>/<slug>/, locally in "
        "parallel processes or on a Dask cluster, then write reports/<sweep>/index.html. Every combination is "
        "validated first; complete runs with unchanged parameters are kept. Exits 1 if any run failed."))
    grid.add_argument("file", help="sweep file (e.g. parameters/sweeps/seed-replication.yaml)")
    grid.add_argument("--name", help="the sweep's folder under reports/ (default: the file's stem)")
    where = grid.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, default=1, metavar="N",
                       help="runs at once in local processes; each gets cores/N torch threads (default: %(default)s)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on this Dask distributed scheduler instead; its workers need the project installed "
                            "at the same path and a shared reports folder")
    grid.add_argument("--seed", type=int, metavar="N", help="the master seed: every run's train_seed (models, method "
                      "draws, random forget sets); overrides the sweep file's seed")
    grid.add_argument("--force", action="store_true", help="rerun complete runs too")
    grid.add_argument("--cell-timeout", type=int, default=1800, help="seconds one cell may run (default: %(default)s)")
    grid.add_argument("--kernel", default=KERNEL, help="Jupyter kernel to execute with (default: %(default)s)")
    grid.add_argument("--notebook", type=Path, default=NOTEBOOK,
                      help="notebook to execute (default: the master notebook)")
    grid.add_argument("--reports-dir", type=Path, default=REPORTS, help="folder that holds the sweep's folder "
                                                                           "(default: the project's reports/)")
    grid.add_argument("--index-only", action="store_true",
                      help="only rebuild index.html (and --leaderboard) from the runs' files")
    grid.add_argument("--leaderboard", type=Path, metavar="MARKDOWN", help="also write the runs' leaderboard "
                      "there, with its CSV, heatmap and critical-difference diagram beside it (e.g. "
                      "benchmarks/leaderboard.md; see `make leaderboard`)")
    grid.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    render = commands.add_parser("render", help="render an executed notebook to self-contained HTML, code hidden")
    render.add_argument("notebook", help="an executed .ipynb")
    render.add_argument("html", help="the .html file to write")

    args = parser.parse_args(argv)
    if args.command == "render":
        runner.render_html(args.notebook, args.html)
        return 0
    if args.command == "sweep":
        return _sweep(args)
    try:
        overrides = {key: yaml.safe_load(value) for key, value in args.parameter}
        out = runner.run(args.file, overrides, args.name, kernel=args.kernel, cell_timeout=args.cell_timeout,
                         progress=not args.no_progress)
    except (DeadKernelError, CellTimeoutError) as error:
        print(f"error: the run stopped: {type(error).__name__}: {error}\n"
              f"the notebook as far as it ran is in {REPORTS / args.name}/unlearning.ipynb", file=sys.stderr)
        return 1
    except (ParameterError, RuntimeError, FileNotFoundError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except PapermillExecutionError as error:
        print(f"error: the notebook failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
              f"the executed notebook, error included, is in {REPORTS / args.name}/unlearning.ipynb", file=sys.stderr)
        return 1
    print(f"wrote {out}/unlearning.ipynb, unlearning.html, results.csv, examples.parquet and metrics.json")
    return 0


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _leaderboard(folder, output):
    from nbutils import leaderboard  # imports PyTorch (the registry): only when asked for

    return ", ".join(map(str, leaderboard.write(folder, output)))


def _sweep(args):
    """Plan, run and index a sweep; 0 if every run is ok or skipped, 1 if any failed, 2 if it could not start."""
    try:
        folder = sweep.sweep_folder(args.file, args.name, args.reports_dir)
        if args.index_only:
            if not (folder / sweep.MANIFEST).is_file():
                raise sweep.SweepError(f"{folder} holds no sweep yet (no {sweep.MANIFEST}); run the sweep first")
            print(f"wrote {write_index(folder)}")
            if args.leaderboard:
                print(f"wrote {_leaderboard(folder, args.leaderboard)}")
            return 0
        spec = sweep.read_spec(args.file)
        if args.seed is not None:
            spec = sweep.with_seed(spec, args.seed)
        executor = (sweep.dask_executor(args.scheduler, args.kernel, args.notebook) if args.scheduler
                    else sweep.local_executor(args.workers))
        with executor as (pool, threads):
            jobs = sweep.plan(spec, folder, threads=threads, notebook=args.notebook, kernel=args.kernel,
                              cell_timeout=args.cell_timeout)
            sweep.write_manifest(jobs, folder, args.file, spec["seed"])
            try:
                records = sweep.execute(jobs, pool, force=args.force, progress=not args.no_progress)
            finally:
                index = write_index(folder)
        if args.leaderboard:
            print(f"wrote {_leaderboard(folder, args.leaderboard)}")
    except (sweep.SweepError, ParameterError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: runs that did not finish have no status record, or one marked interrupted; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    table = pd.DataFrame(records)
    counts = table["status"].value_counts()
    kept = sum(bool(record.get("kept")) for record in records)
    print("runs: " + ", ".join(f"{n} {status}" for status, n in counts.items())
          + f" ({kept} kept from an earlier run)\nindex: {index}")
    unfinished = table[table["status"] != "ok"]
    if not unfinished.empty:
        print("\nruns that did not complete:\n"
              + unfinished[["slug", "status", "seconds", "reason"]].to_string(index=False, max_colwidth=120))
    return 1 if (table["status"] == "failed").any() else 0


if __name__ == "__main__":
    sys.exit(main())
