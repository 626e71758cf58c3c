"""k deletion requests in a row on the default table, each honoured on the model the last one exported.

Request 1 trains the model and honours the first request; each later request starts from the previous export
(``original_model``), so its retrained and ceiling models train without every row forgotten so far. Each
request names ``--rows`` training rows, drawn at random among those the model still holds. Every run uses the
competition's one-original protocol, the only one a later request has, so the requests are scored alike.

Writes ``--output`` (benchmarks/sequence.md): per request, the verdict's action, its counted cost and the
cumulative cost against retraining once at the end, the exported model's test accuracy and its drift from the
model first deployed, and the challenge score of the action as a share of the ceiling's (models retrained
without all rows forgotten so far). Usage: ``make sequence`` (K=5 ROWS=40).
"""

import argparse
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

import nbutils
from nbutils import PARAMETERS, REPORTS, chain, params, runner
from nbutils.data import reading

FILES = [PARAMETERS / "default.yaml"]
FIXED = {"challenge_protocol": "one_original"}


def request_ids(table, model, n, rng):
    """``n`` ids, drawn at random among the rows the model in folder ``model`` trained on and still holds (any row
    for the first request, whose test rows are drawn after it)."""
    held = set(chain.read_ids(model, chain.TEST_IDS)) | set(chain.forgotten_so_far(model)) if model else set()
    free = [str(i) for i in table.ids if str(i) not in held]
    return chain.sorted_ids(rng.choice(free, n, replace=False))


def figures(run, first_test_acc):
    """One request's row of the table, from its run folder's files."""
    model = run / "model"
    record = json.loads((model / chain.RECORD).read_text())
    results = pd.read_csv(run / "results.csv")
    report = results[results["stage"] == "report"]
    action, setting = record["action"]["action"], record["action"]["setting"]
    scored = {"retrain": "retrain_2"}.get(action, action)  # retrain: the ceiling is itself a retrained ensemble
    score = report.groupby(["method", "setting"])["challenge_score"].mean()
    test_rows = table_rows(model)
    accuracy = 100 * np.mean(nbutils.load_model(model).predict(test_rows[0]) == test_rows[1])
    return {"request": record["run"], "rows forgotten": record["request"]["rows_forgotten"],
            "forgotten so far": len(chain.forgotten_so_far(model)),
            "action": action if setting == "-" else f"{action} ({setting})",
            "macs": record["cost"]["macs"], "retrain_macs": record["cost"]["retrain_macs"],
            "seconds": record["cost"]["seconds"], "test accuracy": accuracy, "drift": accuracy - first_test_acc,
            "retrained test accuracy": report.loc[report["method"] == "retrain", "test_acc"].mean(),
            "share of the ceiling": score[(scored, setting)] / score[("retrain_2", "-")]}


def table_rows(model):
    """(raw test rows, their labels as text) of the exported model in folder ``model``."""
    table = reading.read(params.validate(params.load(FILES)))
    position = {str(i): n for n, i in enumerate(table.ids)}
    positions = [position[i] for i in chain.read_ids(model, chain.TEST_IDS)]
    return table.frame.iloc[positions], np.array(table.class_names)[table.labels[positions]]


def markdown(rows, args, seconds):
    frame = pd.DataFrame(rows)
    end = frame["retrain_macs"].iloc[-1]  # retraining once, after the last request: one model, without every row
    frame["cost share"] = frame["macs"] / frame["retrain_macs"]
    frame["cumulative cost (× one retraining at the end)"] = frame["macs"].cumsum() / end
    shown = frame[["request", "rows forgotten", "forgotten so far", "methods", "action", "cost share",
                   "cumulative cost (× one retraining at the end)", "seconds", "test accuracy", "drift",
                   "retrained test accuracy", "share of the ceiling"]]
    formats = {"cost share": "{:.2%}", "cumulative cost (× one retraining at the end)": "{:.3f}",
               "seconds": "{:.2f}", "test accuracy": "{:.2f}", "drift": "{:+.2f}", "retrained test accuracy": "{:.2f}",
               "share of the ceiling": "{:.1%}"}
    body = shown.assign(**{c: shown[c].map(f.format) for c, f in formats.items()})
    header = "| " + " | ".join(body.columns) + " |\n|" + "---|" * len(body.columns) + "\n"
    table = header + "".join("| " + " | ".join(map(str, r)) + " |\n" for r in body.itertuples(index=False))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    total = frame["cumulative cost (× one retraining at the end)"].iloc[-1]
    return f"""# {args.k} deletion requests in a row on the default table

`make sequence` ({datetime.now(UTC):%Y-%m-%d}, commit {commit}, {seconds / 60:.1f} min on this project's 2-core
machine, which was shared with another process). Request 1 trains the model on the default table (2,000 synthetic
rows, 100 epochs) and honours the first request; each later request runs the notebook on the model the previous
one exported (`original_model`). Each request names {args.rows} training rows at random among those the model still
holds; every run uses the competition's one-original protocol (the loaded model unlearned N = 32 times, against 32
models retrained without every row forgotten so far, and 32 more as the ceiling), with 2 tuning and 3 report
replicates.

- **methods**: how many methods the request's run swept and could choose from (`--later-methods` names those of
  the requests after the first).
- **action**: the verdict of that request's run, exported (a method at its setting, `original`: left as it is,
  `retrain`: the first retrained model).
- **cost share**: the action's counted multiply-adds for the one exported model over retraining one model on that
  request's retain rows; **cumulative cost**: the requests' work so far over retraining once, after the last request.
- **test accuracy**: the exported model's, on the first model's test rows (raw rows through `nbutils.load_model`);
  **drift**: its change in points from the model first deployed (the first original model before any request,
  {rows[0]['test accuracy'] - rows[0]['drift']:.2f} %); **retrained test accuracy**: the mean of that request's fresh
  retrained models.
- **share of the ceiling**: the action's mean challenge score on the report replicates over the ceiling's, models
  retrained without every row forgotten so far (for `retrain`, the ceiling itself: 100 %).

{table}
After {args.k} requests the work spent unlearning is {total:.3f} times that of retraining once at the end.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=5, help="requests in a row")
    parser.add_argument("--rows", type=int, default=40, help="training rows each request names")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rows each request names")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "sequence.md")
    parser.add_argument("--later-methods", nargs="+", default=[],
                        help="the methods of every request after the first (default: all, as the first)")
    parser.add_argument("-f", "--file", action="append", default=[], type=Path,
                        help="a parameter file layered over default.yaml (smoke.yaml: a quick check)")
    args = parser.parse_args()
    FILES.extend(args.file)
    folder = REPORTS / "sequence"
    folder.mkdir(parents=True, exist_ok=True)
    table, rng = reading.read(params.validate(params.load(FILES))), np.random.default_rng(args.seed)
    start, model, rows, first = time.perf_counter(), None, [], None
    for number in range(1, args.k + 1):
        ids, run = folder / f"request-{number}.txt", folder / f"request-{number}"
        methods = {"methods": args.later_methods} if number > 1 and args.later_methods else {}
        drawn = request_ids(table, model, args.rows, rng)
        if (run / "model" / chain.RECORD).is_file() and chain.read_ids(run / "model", chain.FORGOTTEN_IDS) == drawn:
            print(f"request {number}: kept from an earlier, interrupted sequence (the same rows)", flush=True)
        else:
            ids.write_text("".join(f"{i}\n" for i in drawn))
            given = {**FIXED, **methods, "forget": f"ids:{ids}", **({"original_model": str(model)} if model else {})}
            runner.run(FILES, given, name=f"request-{number}", reports_dir=folder)
        if first is None:  # the model first deployed: the first original model, before any request
            results = pd.read_csv(run / "results.csv")
            first = results.query("method == 'original' and replicate == 0 and model == 0")["test_acc"].iloc[0]
        rows.append({**figures(run, first), "methods": len(json.loads((run / "metrics.json").read_text())[
            "parameters"]["methods"])})
        model = run / "model"
        print(f"request {number}: {rows[-1]['action']}, test accuracy {rows[-1]['test accuracy']:.2f} %", flush=True)
        args.output.write_text(markdown(rows, args, time.perf_counter() - start))  # after each request
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
