"""An exported model's folder and its chain of deletion records, read without PyTorch.

A run exports the model its verdict chose to ``<run>/model/`` (:mod:`nbutils.export`). A later run with
``original_model: <that folder>`` starts from it: its test rows stay the first record's (rows the deployed model
never trained on), its encoder stays the exported one, and its retrained models train without every row
forgotten so far, the union over the chain of records. Each record names its parent's folder and the parent
record's SHA-256, so a chain can be audited back to training. :func:`problems` refuses, before any training, a
table or parameters that differ from the model's and a request for rows the chain already forgot.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from nbutils import ROOT, results
from nbutils.data import forget_requests, reading, refusals, splits

RECORD = "deletion-record.json"
WEIGHTS = "model.safetensors"
PREPROCESSING = "preprocessing.skops"
FORGOTTEN_IDS = "forgotten-ids.txt"  # this request's rows, sorted, one id per line
TEST_IDS = "test-ids.txt"  # the rows the first model of the chain never trained on: every request's test rows
# Parameters that shape the table, its encoding and the models: a later request must repeat the model's.
TABLE_PARAMETERS = ["dataset", "target", "id_column", "categorical_columns", "numeric_columns", "drop_columns",
                    "na_values", "csv_separator", "csv_encoding", "csv_decimal", "normalize_labels", "data_seed"]
SYNTHETIC_PARAMETERS = ["n_samples", "n_features", "n_informative", "n_redundant", "n_classes", "flip_y"]
MODEL_PARAMETERS = ["hidden_sizes", "dropout", "epochs", "batch_size", "learning_rate"]


def sha256_file(path):
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_sha256(P, table):
    """(SHA-256, what it hashes): a csv:/parquet: table's file bytes (``sha256sum`` gives the same), else a
    bundled table's columns and values as read."""
    if P["dataset"].split(":", 1)[0] in reading.FILE_KINDS:
        return sha256_file(reading.input_files(P)[0]), "file"
    digest = hashlib.sha256(json.dumps(list(map(str, table.frame.columns))).encode())
    digest.update(pd.util.hash_pandas_object(table.frame, index=False).to_numpy().tobytes())
    return digest.hexdigest(), "frame"


def sorted_ids(ids):
    """Row ids as text in a stable order: numerically when they all read as whole numbers, else as text."""
    texts = [str(i) for i in ids]
    whole = all(t.lstrip("-").isdigit() for t in texts)
    return sorted(texts, key=lambda t: (int(t), t) if whole else t)


def ids_text(ids):
    """The text of an id file: the sorted ids, one a line (its SHA-256 is the record's)."""
    return "".join(f"{i}\n" for i in sorted_ids(ids))


def parameters_kept(P):
    """The parameters a later request on the model must repeat (:data:`TABLE_PARAMETERS` and the rest)."""
    names = TABLE_PARAMETERS + MODEL_PARAMETERS + (SYNTHETIC_PARAMETERS if P["dataset"] == "synthetic" else [])
    return {name: P[name] for name in names}


def folder(path):
    """An exported model's folder: relative paths from the project root."""
    return reading.resolve(path)


def shown(path):
    """``path`` as a record writes it: relative to the project root when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def read_record(path):
    """The deletion record in model folder ``path``."""
    return json.loads((folder(path) / RECORD).read_text())


def read_ids(path, name):
    """The ids in file ``name`` of model folder ``path``, as text."""
    return (folder(path) / name).read_text().split()


def ancestry(path):
    """[(folder, record)] from model folder ``path`` back to the model trained from scratch; raises ValueError
    when a folder or record is missing or a record changed after a child was exported from it."""
    chain, current = [], folder(path)
    while True:
        if not (current / RECORD).is_file():
            raise ValueError(f"no {RECORD} in {current}; name a model folder a run exported (reports/<run>/model)")
        record = json.loads((current / RECORD).read_text())
        chain.append((current, record))
        parent = record.get("parent")
        if not parent:
            return chain
        current = folder(parent["path"])
        if (current / RECORD).is_file() and sha256_file(current / RECORD) != parent["sha256"]:
            raise ValueError(f"the record {current / RECORD} changed after {chain[-1][0]} was exported from it "
                             f"(SHA-256 {sha256_file(current / RECORD)}, recorded {parent['sha256']}): the chain "
                             "cannot be audited; export the model again from a run on the record as it is")


def forgotten_so_far(path):
    """{id (text): the folder of the record that forgot it} over model folder ``path``'s chain."""
    return {i: str(f) for f, _ in ancestry(path) for i in read_ids(f, FORGOTTEN_IDS)}


def rows(table, request, P):
    """The row split of a request on the model in ``P["original_model"]``: the first record's test rows, the
    requested rows as forget rows (:func:`requested`) and, as retain rows, every other row not forgotten earlier
    in the chain."""
    path = P["original_model"]
    position = {str(i): n for n, i in enumerate(table.ids)}
    test = np.sort([position[i] for i in read_ids(path, TEST_IDS)])
    earlier = np.array([position[i] for i in forgotten_so_far(path)], dtype=int)
    forget = requested(table, request, test, earlier)
    retain = np.setdiff1d(np.arange(len(table.ids)), np.concatenate([test, earlier, forget]))
    return splits.RowSplit(retain, forget, test, read_record(path)["split"]["stratified"])


def requested(table, request, test, earlier):
    """The table positions a request forgets. An id list is taken as it is (:func:`problems` refuses ids that are
    test rows or were forgotten before); a class or a condition names rows by what they hold, so its rows among
    the ``test`` rows (never trained on) and those forgotten ``earlier`` in the chain are left out."""
    rows = np.flatnonzero(table.labels == request.class_index) if request.kind == "class" else request.rows
    return np.sort(rows) if request.kind == "ids" else np.setdiff1d(rows, np.concatenate([test, earlier]))


def scenario_note(P, rows):
    """A sentence for the report's scenario: where the model, its test rows and its retain rows come from."""
    earlier = len(forgotten_so_far(P["original_model"]))
    return (f"This request is made on the model exported to `{P['original_model']}`, loaded instead of trained: its "
            f"{len(rows.test)} test rows are that model's own, never trained on, and the retrained models train on "
            f"the {len(rows.retain)} rows left without these and the {earlier} rows forgotten before in its chain "
            "(a class or condition forgets only its rows among those the model still holds).")


def problems(P):
    """Sentences, each with its fix, refusing a request on ``P["original_model"]`` before any training."""
    path = P["original_model"]
    try:
        chain = ancestry(path)
    except ValueError as error:
        return [f"original_model: {error}"]
    record = chain[0][1]
    replaced = results.run_folder(P) / "model"
    if replaced.resolve() in [f.resolve() for f, _ in chain]:
        return [f"run_name: this run would export its model to {replaced}, which holds the model it starts from (or "
                "one it descends from); give the run another run_name"]
    out = [f"{name}: the model in {path} was made with {name}: {json.dumps(kept)}, this run has "
           f"{json.dumps(P[name])}; set {name} to the model's value (or train a new model: original_model: '')"
           for name, kept in record["parameters"].items() if P.get(name) != kept]
    if P["forget"] == "random":
        out.append("forget: random draws a new forget set per replicate; a deployed model forgets named rows: "
                   "use ids:<path>, where:<condition> or class:<label> with original_model")
    if out:
        return out
    try:
        table = reading.read(P)
        request = forget_requests.forget_request(table, P)
    except refusals.DataError as error:
        return error.problems
    return _table_problems(P, table, record) or _request_problems(table, request, chain, P)


def _table_problems(P, table, record):
    kept, out = record["table"], []
    sha, _ = table_sha256(P, table)
    if sha != kept["sha256"]:
        out.append(f"dataset: the table {P['dataset']} has SHA-256 {sha} ({len(table.frame)} rows), the model in "
                   f"{P['original_model']} was trained on {kept['sha256']} ({kept['rows']} rows): it is not the "
                   "table the model was trained on; use that table, or train a new model (original_model: '')")
    for kind in ("numeric", "categorical"):
        now, then = getattr(table, kind), kept[kind]
        if now != then:
            added, missing = sorted(set(now) - set(then)), sorted(set(then) - set(now))
            out.append(f"the table's {kind} feature columns differ from the model's: {added or 'none'} not in the "
                       f"model's, {missing or 'none'} missing (the model's: {then}); use the model's table and "
                       "column parameters, or train a new model (original_model: '')")
    return out


def _request_problems(table, request, chain, P):
    path, out = P["original_model"], []
    ids = np.array([str(i) for i in table.ids], dtype=object)
    test, earlier = set(read_ids(path, TEST_IDS)), forgotten_so_far(path)
    forget = ids[requested(table, request, np.flatnonzero(np.isin(ids, list(test))),
                           np.flatnonzero(np.isin(ids, list(earlier))))]
    again = [i for i in forget if i in earlier]
    if again:
        where = sorted({shown(earlier[i]) for i in again})
        out.append(f"forget: {len(again)} of the {len(forget)} requested ids were already forgotten by "
                   f"{', '.join(where)} (e.g. {', '.join(sorted_ids(again)[:5])}); a chain forgets each row once: "
                   "leave them out of the request")
    held_out = [i for i in forget if i in test]
    if held_out:
        out.append(f"forget: {len(held_out)} of the requested ids are test rows the model never trained on (e.g. "
                   f"{', '.join(sorted_ids(held_out)[:5])}, listed in {TEST_IDS}); there is nothing to unlearn for "
                   "them: leave them out of the request")
    n_retain = len(ids) - len(test) - len(set(earlier) | set(forget))
    for split, n in {"forget": len(forget), "retain": n_retain}.items():
        if n < refusals.MIN_ROWS:
            out.append(f"the {split} set would have only {n} of the {refusals.MIN_ROWS} rows needed to evaluate it; "
                       + ("request more rows (a class or condition forgets only rows not forgotten before and "
                          "not in the test rows)" if split == "forget" else "forget fewer rows, or retrain"))
    return out
