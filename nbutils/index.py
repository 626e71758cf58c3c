"""A sweep's index page: one self-contained HTML file built from the files its runs left, never by re-running.

The table reads each run's status record (``sweep-run.json``) and the summary in its ``metrics.json``:
every method at the operating point that run chose. The figures read the runs' ``results.csv``.
"""

import base64
import html
import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from nbutils.catalog import ORIGINAL, REFERENCES, RETRAIN, SHARDED
from nbutils.results import write_atomically
from nbutils.sweep import MANIFEST, read_status

KEY_METRICS = ["Forget acc (%)", "Test acc (%)", "Avg. Gap", "Challenge score"]  # columns of metrics.json's summary
REFERENCE = "Retrain from scratch"  # the summary row every method is compared with: its accuracies are the target
STATUS_COLOURS = {"ok": "tab:green", "failed": "tab:red", "skipped": "tab:gray", "interrupted": "tab:orange",
                  "outdated": "tab:orange", "not run": "tab:gray"}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; text-align: center; }
td:first-child { text-align: left; }
.ok { color: #1a7f37; } .failed { color: #c62828; font-weight: bold; } .skipped, .not-run { color: #777; }
.interrupted, .outdated { color: #b26a00; }
pre { background: #f7f7f7; padding: 0.5em; white-space: pre-wrap; }
img { max-width: 100%; }
"""


def runs(folder):
    """One dict per planned run: slug, varying values, folder, status record, metrics.json (or None), link."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    found = []
    for planned in manifest["runs"]:
        out = Path(folder) / planned["slug"]
        record = read_status(out)
        if record and record.get("digest") != planned["digest"]:  # left by a run of other parameters
            record = {**record, "status": "outdated", "reason": "run with other parameters; rerun the sweep"}
        metrics_file = out / "metrics.json"
        complete = record.get("status") == "ok" and metrics_file.is_file()
        link = next((f"{planned['slug']}/{name}" for name in ("unlearning.html", "unlearning.ipynb")
                     if (out / name).is_file() and (complete or name.endswith(".ipynb"))), None)
        found.append({**planned, "path": out, "status": record.get("status", "not run"), "link": link,
                      "reason": record.get("reason", ""), "seconds": record.get("seconds"),
                      "metrics": json.loads(metrics_file.read_text()) if complete else None})
    return found


def run_table(found):
    """The table of every run as HTML: what varies, status, seconds, then each method at its operating point."""
    rows = []
    for run in found:
        row = {("Run", "report"): _link(run["slug"], run["link"])}
        row.update({("Run", name): html.escape(_show(value)) for name, value in run["varying"].items()})
        css = run["status"].replace(" ", "-")
        row[("Run", "status")] = f'<span class="{css}">{html.escape(run["status"])}</span>'
        row[("Run", "seconds")] = "" if run["seconds"] is None else f"{run['seconds']:.1f}"
        for entry in (run["metrics"] or {}).get("summary", []):
            configuration = entry.get("configuration", "")
            group, _, setting = configuration.partition(" · ")
            if configuration == REFERENCE:
                row.update({(group, metric): html.escape(str(entry.get(metric, ""))) for metric in KEY_METRICS[:2]})
            elif setting:
                row[(group, "setting")] = html.escape(setting)
                row.update({(group, metric): html.escape(str(entry.get(metric, ""))) for metric in KEY_METRICS})
        rows.append(row)
    table = pd.DataFrame(rows)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table.to_html(escape=False, index=False, na_rep="", border=0, classes="runs")


def _link(text, href):
    return f'<a href="{quote(href)}">{html.escape(text)}</a>' if href else html.escape(text)


def _show(value):
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def results(found):
    """Every complete run's results.csv rows, with its dataset (``dataset`` parameter, else one group)."""
    frames = []
    for run in found:
        if run["metrics"] is None or not (run["path"] / "results.csv").is_file():
            continue
        frame = pd.read_csv(run["path"] / "results.csv")
        frame = frame[frame["replicate"] == 0] if "replicate" in frame else frame  # the sweeps: the tuning replicate
        frame["dataset"] = str(run["metrics"]["parameters"].get("dataset", "all runs"))
        frame["run"] = run["slug"]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def forgetting_figure(rows):
    """Per dataset, each method's forget accuracy against test accuracy over its settings, mean over runs and models."""
    datasets = list(dict.fromkeys(rows["dataset"]))
    methods = [m for m in dict.fromkeys(rows["method"]) if m not in REFERENCES and m not in SHARDED]
    colours = dict(zip(methods, itertools.cycle(colormaps["tab20"].colors + colormaps["tab20b"].colors)))
    fig = Figure(figsize=(7.5 * len(datasets), 4.5), layout="constrained")
    for ax, dataset in zip(fig.subplots(1, len(datasets), squeeze=False)[0], datasets):
        subset = rows[rows["dataset"] == dataset]
        means = subset.groupby(["method", "setting"], sort=False)[["test_acc", "forget_acc"]].mean().reset_index()
        for method, points in means.groupby("method", sort=False):
            if method in REFERENCES or method in SHARDED:
                continue
            ax.plot(points["test_acc"], points["forget_acc"], marker="o", label=method, color=colours[method])
        for method, marker, colour in [(ORIGINAL, "*", "tab:red"), (RETRAIN, "D", "black")]:
            point = means[means["method"] == method]
            ax.scatter(point["test_acc"], point["forget_acc"], marker=marker, s=120, color=colour, zorder=3,
                       label={ORIGINAL: "original (before unlearning)", RETRAIN: "retrain (the target)"}[method])
        ax.set(title=f"{dataset}: {subset['run'].nunique()} run(s)", xlabel="Test accuracy (%): utility",
               ylabel="Forget accuracy (%): forgetting")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def seconds_figure(found):
    """Wall seconds of each run (kernel start and HTML included), coloured by status."""
    timed = [run for run in found if run["seconds"] is not None]
    fig = Figure(figsize=(8, 1 + 0.3 * len(timed)), layout="constrained")
    ax = fig.subplots()
    ax.barh([run["slug"] for run in timed], [run["seconds"] for run in timed],
            color=[STATUS_COLOURS.get(run["status"], "tab:blue") for run in timed])
    ax.invert_yaxis()
    ax.set(xlabel="seconds", title="Seconds per run (green ok, red failed, grey skipped)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def page(folder):
    """The index page's HTML for the sweep in ``folder``."""
    folder = Path(folder)
    found = runs(folder)
    counts = pd.Series([run["status"] for run in found]).value_counts()
    problems = "".join(f"<h3>{html.escape(run['slug'])}: {html.escape(run['status'])}</h3>"
                       f"<pre>{html.escape(run['reason'])}</pre>" for run in found if run["reason"])
    rows = results(found)
    figures = [_png(forgetting_figure(rows))] if not rows.empty else []
    figures += [_png(seconds_figure(found))] if any(run["seconds"] is not None for run in found) else []
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sweep {html.escape(folder.name)}</title>
<style>{STYLE}</style></head><body>
<h1>Sweep {html.escape(folder.name)}</h1>
<p>{len(found)} runs: {html.escape(", ".join(f"{n} {status}" for status, n in counts.items()))}.
Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from the runs' files. Each method is shown at the operating
point its run chose (best challenge score, then lowest Avg. Gap), as in that run's summary table.</p>
<div class="scroll">{run_table(found)}</div>
{"<h2>Failed and skipped runs</h2>" + problems if problems else ""}
<h2>Figures</h2>
{"".join(figures) or "<p>No run has finished yet.</p>"}
</body></html>
"""


def write_index(folder):
    """Write ``<folder>/index.html`` atomically; returns its path."""
    path = Path(folder) / "index.html"
    write_atomically(path, page(folder))
    return path
