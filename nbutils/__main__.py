"""Command line: ``python -m nbutils run ...`` and ``python -m nbutils render ...``."""

import argparse
import sys

import yaml
from papermill.exceptions import PapermillExecutionError

from nbutils import KERNEL, runner
from nbutils.params import ParameterError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nbutils", description=(
        "Run the noise-unlearning benchmark notebook with papermill and render its HTML report."))
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="execute notebooks/unlearning.ipynb into reports/<name>/ and render it", description=(
        "Execute the master notebook on layered parameters and write reports/<name>/unlearning.ipynb, "
        "unlearning.html, results.csv and metrics.json. Parameters are checked before anything runs."))
    run.add_argument("-f", "--file", action="append", default=[], metavar="YAML",
                     help="parameter file; repeat to layer them, later files win (e.g. parameters/default.yaml)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                     help="override one parameter; VALUE is read as YAML (-p epochs 5, -p methods '[gaussian]')")
    run.add_argument("--name", default="default", help="the run's folder under reports/ (default: %(default)s)")
    run.add_argument("--kernel", default=KERNEL, help="Jupyter kernel to execute with (default: %(default)s)")
    run.add_argument("--cell-timeout", type=int, default=1800, help="seconds one cell may run (default: %(default)s)")
    run.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")

    render = commands.add_parser("render", help="render an executed notebook to self-contained HTML, code hidden")
    render.add_argument("notebook", help="an executed .ipynb")
    render.add_argument("html", help="the .html file to write")

    args = parser.parse_args(argv)
    if args.command == "render":
        runner.render_html(args.notebook, args.html)
        return 0
    overrides = {key: yaml.safe_load(value) for key, value in args.parameter}
    try:
        out = runner.run(args.file, overrides, args.name, kernel=args.kernel, cell_timeout=args.cell_timeout,
                         progress=not args.no_progress)
    except (ParameterError, RuntimeError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except PapermillExecutionError as error:
        print(f"error: the notebook failed in cell {error.exec_count}: {error.ename}: {error.evalue}\n"
              f"the executed notebook, error included, is in reports/{args.name}/unlearning.ipynb", file=sys.stderr)
        return 1
    print(f"wrote {out}/unlearning.ipynb, unlearning.html, results.csv and metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
