"""A run's files: results.csv and metrics.json in reports/<run_name>/, each written whole or not at all."""

import json
import os

from nbutils import REPORTS


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_results(results, summary, run_params, environment, seconds):
    """Write results.csv and metrics.json into reports/<run_name>/; returns that folder."""
    out = REPORTS / run_params["run_name"]
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "results.csv", results.to_csv(index=False, float_format="%.6g"))
    metrics = {
        "parameters": run_params,
        "seeds": {k: run_params[k] for k in ("data_seed", "train_seed", "noise_seed")},
        "environment": environment,
        "seconds_per_section": {k: round(v, 3) for k, v in seconds.items()},
        "summary": summary.reset_index(names="configuration").to_dict(orient="records"),
    }
    write_atomically(out / "metrics.json", json.dumps(metrics, indent=2, default=str))
    return out
