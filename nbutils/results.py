"""A run's files in <reports_dir>/<run_name>/ (reports/ by default), each written whole or not at all."""

import json
import os
from contextlib import contextmanager

import numpy as np
import pandas as pd

from nbutils import REPORTS, ROOT


@contextmanager
def replaced_when_written(path):
    """Yield a temporary path beside ``path``; once the block has written it, it replaces ``path`` whole."""
    tmp = path.with_name(f".{path.name}.partial")
    yield tmp
    os.replace(tmp, path)


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file, so a reader never sees half a file."""
    with replaced_when_written(path) as tmp:
        tmp.write_text(text)


def run_folder(run_params):
    """The folder a run writes to: <reports_dir>/<run_name>; reports_dir defaults to reports/, is relative to the project."""
    return (ROOT / run_params["reports_dir"] if run_params["reports_dir"] else REPORTS) / run_params["run_name"]


def write_examples(table, path):
    """Write the per-example table to Parquet compactly and losslessly: every value reads back as it was.

    Integers take the narrowest type that holds them, floats float32 where that is exact (the challenge's
    points; confidences and losses are computed in float64 and stay so), text is categorical. Floats are
    stored byte-stream-split, which zstd compresses better than their plain or dictionary-encoded bytes.
    """
    out = table.copy()
    for col in out:
        values = out[col].to_numpy()
        if values.dtype.kind in "iu":
            out[col] = pd.to_numeric(values, downcast="integer")
        elif values.dtype.kind == "f" and np.array_equal(values.astype(np.float32), values, equal_nan=True):
            out[col] = values.astype(np.float32)
        elif values.dtype == object:
            out[col] = out[col].astype("category")
    floats = [col for col in out if out[col].dtype.kind == "f"]
    out.to_parquet(path, engine="pyarrow", index=False, compression="zstd",
                   use_dictionary=[col for col in out if col not in floats], use_byte_stream_split=floats)


def save_results(results, examples, summary, run_params, environment, seconds, decision):
    """Write results.csv, examples.parquet and metrics.json (with the :class:`~nbutils.verdict.Verdict`
    ``decision``, or null without one) into the run's folder; returns that folder."""
    out = run_folder(run_params)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "results.csv", results.to_csv(index=False, float_format="%.6g"))
    with replaced_when_written(out / "examples.parquet") as tmp:
        write_examples(examples, tmp)
    metrics = {
        "parameters": run_params,
        "seeds": {k: run_params[k] for k in ("data_seed", "train_seed", "noise_seed")},
        "environment": environment,
        "seconds_per_section": {k: round(v, 3) for k, v in seconds.items()},
        "verdict": decision.as_dict() if decision else None,
        "summary": summary.reset_index(names="configuration").to_dict(orient="records"),
    }
    write_atomically(out / "metrics.json", json.dumps(metrics, indent=2, default=str))
    return out
