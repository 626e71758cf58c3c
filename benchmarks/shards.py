"""Where exact unlearning by shards (SISA) pays: its cost per request against retraining, by request size and S.

On the default synthetic table (parameters/default.yaml), N models (``--models``, fewer than the report's to
stay fast) are trained monolithic and sharded with S in ``--shards``. Requests of 1, 10 and 100 training rows
and of 10 % of them are drawn at random (the same rows for every S). For each, the monolithic models are
retrained without the rows, and SISA retrains the sharded models' shards that held one. Recorded: the shards
retrained, the multiply-adds as a share of retraining the monolithic models and of training every shard, the
seconds, and the test accuracy (%, mean over the N models) after the request.

Writes benchmarks/shards.csv, benchmarks/shards.md and benchmarks/shards.png. Usage: ``make bench-shards``.
"""

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure

from nbutils import PARAMETERS, data, params, runtime, sisa
from nbutils.metrics import accuracy, predict
from nbutils.train import fit_ensemble

HERE = Path(__file__).parent
REQUESTS = {"1 row": 1, "10 rows": 10, "100 rows": 100, "10 %": 0.1}


def test_accuracy(model, splits):
    """Mean test accuracy over the models, in %."""
    return float(accuracy(predict(model, splits).test, splits.y_test.cpu().numpy()).mean())


def measure(P, n_models, shard_counts, device):
    """One row per request and model kind (monolithic, then each S)."""
    dataset = data.load(P, device)
    splits = dataset.splits
    X, y = splits.X_train, splits.y_train
    ids = np.concatenate([dataset.ids["retain"], dataset.ids["forget"]])
    architecture = {**P, "n_classes": dataset.n_classes}
    rng = np.random.default_rng(P["train_seed"])
    requests = {name: np.sort(rng.choice(len(y), size if size >= 1 else round(size * len(y)), replace=False))
                for name, size in REQUESTS.items()}

    def kept(deleted):
        rows = torch.as_tensor(np.setdiff1d(np.arange(len(y)), deleted), device=device)
        return X[rows], y[rows]

    out, mono_macs = [], {}
    for name, deleted in requests.items():
        retrain = runtime.generator(device, P["train_seed"], "retrain")
        model, macs, seconds = sisa.timed(
            lambda: fit_ensemble(architecture, *kept(deleted), n_models, retrain, progress=False)[0], device)
        mono_macs[name] = macs
        out.append({"request": name, "rows": len(deleted), "model": "monolithic", "shards": 1, "retrained": 1,
                    "cost_share": 1.0, "share_of_shards": 1.0, "seconds": seconds,
                    "test_acc": test_accuracy(model, splits)})
    for S in shard_counts:
        rows = sisa.assign(ids, S, P["train_seed"])

        def stream(s):
            return runtime.generator(device, P["train_seed"], "sharded", s)

        original, all_macs, _ = sisa.timed(lambda: sisa.fit(architecture, X, y, rows, n_models, stream), device)
        for name, deleted in requests.items():
            sisa.check(sisa.without(rows, deleted))
            (model, hit), macs, seconds = sisa.timed(
                lambda: sisa.unlearn(original, architecture, X, y, rows, deleted, stream), device)
            out.append({"request": name, "rows": len(deleted), "model": f"SISA, S = {S}", "shards": S,
                        "retrained": len(hit), "cost_share": macs / mono_macs[name], "share_of_shards": macs / all_macs,
                        "seconds": seconds, "test_acc": test_accuracy(model, splits)})
        print(f"S = {S} done")
    return pd.DataFrame(out)


def figure(table, path):
    """Cost share and test accuracy against the request's rows, one line per model kind."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    sns.lineplot(table, x="rows", y="cost_share", hue="model", marker="o", ax=left)
    left.set(xscale="log", ylabel="multiply-adds, share of retraining", xlabel="rows in the request",
             title="Cost of one request")
    sns.lineplot(table, x="rows", y="test_acc", hue="model", marker="o", ax=right, legend=False)
    right.set(xscale="log", ylabel="test accuracy (%)", xlabel="rows in the request", title="After the request")
    fig.savefig(path, dpi=100)


def _span(values, fmt):
    """"low–high" of ``values``, or the one value when they agree at that format."""
    low, high = format(values.min(), fmt), format(values.max(), fmt)
    return low if low == high else f"{low}–{high}"


def markdown(table, P, n_models, seconds, load):
    """The page: how it was run, the table, and what it says (every figure from ``table``)."""
    mono = table[table["model"] == "monolithic"].set_index("request")
    lines = [
        "# Exact unlearning by shards: where it pays", "",
        f"- date: {datetime.now(UTC):%Y-%m-%d}; machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads; {seconds / 60:.1f} min in all",
        f"- table: `{P['dataset']}`, {P['n_samples']} rows ({P['n_samples'] - round(P['n_samples'] * P['test_ratio'])}"
        f" training rows), {P['epochs']} epochs, batch {P['batch_size']}; N = {n_models} models per kind",
        "- each request is drawn at random among the training rows, the same rows for every S; cost: multiply-adds "
        "as a share of retraining the monolithic models without the rows (`cost_share`) and of training every shard "
        "(`share_of_shards`); seconds: wall time of the retraining; test accuracy: mean over the N models, after the "
        "request. `benchmarks/shards.csv` holds the table, `benchmarks/shards.png` the figure.", "",
        "![Cost share and test accuracy by request size](shards.png)", "",
        "| request | rows | model | shards retrained | cost share | of every shard | seconds | test acc (%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(f"| {r.request} | {r.rows} | {r.model} | {r.retrained} of {r.shards} | {r.cost_share:.1%} | "
                     f"{r.share_of_shards:.1%} | {r.seconds:.2f} | {r.test_acc:.2f} |")
    sisa = table[table["model"] != "monolithic"]
    one, tenth = sisa[sisa["request"] == "1 row"], sisa[sisa["request"] == "10 %"]
    accuracy_cost = (sisa.groupby("shards")["test_acc"].mean() - mono["test_acc"].mean()).round(1)
    lines += ["", "## Reading", "",
              f"- One row: SISA retrains one shard, {_span(one['cost_share'], '.1%')} of retraining's multiply-adds "
              f"({_span(one['seconds'], '.2f')} s against {mono.loc['1 row', 'seconds']:.2f} s).",
              f"- 10 % of the rows ({int(tenth['rows'].iloc[0])}): every shard holds one "
              f"({', '.join(f'{r} of {s}' for r, s in zip(tenth['retrained'], tenth['shards']))} retrained), so SISA "
              f"costs {_span(tenth['cost_share'], '.0%')} of retraining: it saves nothing.",
              "- Seconds are noisier than multiply-adds: they depend on what else the machine runs (load average "
              f"{load:.1f} on {os.cpu_count()} cores at the start), and on how many rows a shard's steps hold.",
              "- Test accuracy, sharded minus monolithic, mean over the requests, by S: "
              + ", ".join(f"S = {s}: {d:+.1f} points" for s, d in accuracy_cost.items()) + ".",
              f"- Slices (checkpoints inside a shard) were not built: they could save at most the part of one "
              f"shard's retraining before the first slice holding a deleted row, about half of it for one row "
              f"(≤ {one['seconds'].max() / 2:.2f} s here), and nothing once every slice holds one (10 %).", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8, help="N models per kind (default: %(default)s)")
    parser.add_argument("--shards", type=int, nargs="+", default=[2, 5, 10], help="S values (default: 2 5 10)")
    args = parser.parse_args()
    P = params.validate(params.load([PARAMETERS / "default.yaml"], {"methods": []}))
    device = runtime.resolve_device("cpu")
    runtime.configure(P["threads"])
    load, start = os.getloadavg()[0], time.perf_counter()
    table = measure(P, args.models, args.shards, device)
    seconds = time.perf_counter() - start
    table.to_csv(HERE / "shards.csv", index=False, float_format="%.6g")
    figure(table, HERE / "shards.png")
    (HERE / "shards.md").write_text(markdown(table, P, args.models, seconds, load))
    print(f"wrote {HERE / 'shards.md'}, .csv and .png in {seconds:.0f} s")


if __name__ == "__main__":
    main()
