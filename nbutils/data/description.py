"""Section 1 of the report: the table, its classes and its splits described; the forget scenario in words."""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nbutils.data.splits import unfit_columns


@dataclass(frozen=True)
class Description:
    """Section 1 of the report: headline facts, the columns, the class balance, the splits and notes on reading."""

    overview: pd.Series
    columns: pd.DataFrame
    classes: pd.DataFrame
    splits: pd.DataFrame
    notes: str  # Markdown: a list of what was detected, merged or left out ("" when nothing was)


def scenario(table, request, rows):
    """Markdown for the report: what is forgotten, how the test set was drawn, and how to read the metrics."""
    n_forget, n_test = len(rows.forget), len(rows.test)
    drawn = "stratified by class" if rows.stratified else "not stratified (a class has too few rows)"
    if request.kind == "random":
        return (f"Forget a random {n_forget} of the {n_forget + len(rows.retain)} training rows, {drawn}; the "
                f"{n_test} test rows are drawn first from the whole table. Forget and test rows come from one "
                "distribution, so a model that forgot well scores on the forget rows about as on the test rows.")
    if request.kind == "class":
        held_out = int(np.sum(table.labels[rows.test] == request.class_index))
        return (f"Forget the whole class {_code(request.argument)}: all {n_forget} of its training rows. The retrained "
                f"models never see it and score about 0 % on these rows, so good forgetting means a forget "
                f"accuracy near 0 %, not near the test accuracy; read every metric against retrain's. The {n_test} "
                f"test rows, {drawn}, keep the class's share ({held_out} rows, never trained on): retrain "
                "misclassifies those too, so its test accuracy sits about that share below the original's.")
    if request.kind == "where":
        what = f"the {n_forget} rows where {_code(request.argument)}" + (f" ({request.read})" if request.read else "")
    else:
        by = f"values of {_code(table.id_column)}" if table.id_column else "row positions"
        what = f"the {n_forget} rows listed in {_code(Path(request.argument).name)}, by {by} ({request.read})"
    return (f"Forget {what}. The {n_test} test rows are drawn from the other rows, {drawn}, so the forget rows "
            "may differ from the test rows in kind (a category seen only in forget rows is unknown to the encoder, "
            "fit on the retain rows): compare each method with retrain, not with test accuracy.")


def _code(text):
    """``text`` as a Markdown code span, fenced with more backticks than it holds in a row (CommonMark)."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if "`" in text else f"{fence}{text}{fence}"


def describe(table, rows, n_encoded):
    """Section 1: headline facts (how the table was read among them), each column, the class balance per split,
    each split, and the notes on what was detected, merged or left out."""
    frame = table.frame
    isna = frame.isna()
    missing, row_missing = isna.sum(), isna.any(axis=1).to_numpy()
    overview = pd.Series({
        "source": table.source, "rows": len(frame), "rows left out (no target value)": table.n_unlabelled,
        "numeric features": len(table.numeric), "categorical features": len(table.categorical),
        "features after encoding": n_encoded,
        "dropped columns": ", ".join(f"{c} ({why})" for c, why in table.dropped.items()) or "none",
        "row ids": table.id_column or "row positions", "target": table.target, "classes": len(table.class_names),
        **table.reading, "missing cells": f"{int(missing.sum()):,} ({missing.sum() / max(frame.size, 1):.1%})",
    }, name=table.source, dtype=object)
    role = {table.target: "target", table.id_column: "id", **{c: "numeric" for c in table.numeric},
            **{c: "categorical" for c in table.categorical},
            **{c: "dropped" if why == "drop_columns" else f"dropped ({why})" for c, why in table.dropped.items()}}
    columns = pd.DataFrame({
        "kind": [role.get(c, "dropped") for c in frame.columns],
        "dtype": frame.dtypes.astype(str),
        "missing": missing,
        "missing %": (100 * missing / max(len(frame), 1)).round(1),
        "distinct": [frame[c].nunique() if role.get(c) in ("categorical", "target") else pd.NA for c in frame.columns],
    })
    counts = {name: np.bincount(table.labels[positions], minlength=len(table.class_names))
              for name, positions in [("table", slice(None)), *rows.items()]}
    classes = pd.DataFrame(counts, index=pd.Index(table.class_names, name=table.target))
    classes.insert(1, "table %", (100 * classes["table"] / classes["table"].sum()).round(1))
    splits = pd.DataFrame.from_dict({
        name: {"rows": len(positions), "% of table": round(100 * len(positions) / len(frame), 1),
               "rows with a missing value": int(row_missing[positions].sum()),
               "classes present": int(np.count_nonzero(np.bincount(table.labels[positions])))}
        for name, positions in rows.items()}, orient="index")
    unfit = unfit_columns(table, rows)
    notes = [*table.notes, *([f"left out of the encoded features: {', '.join(map(repr, unfit))} (no value in the "
                              "retain rows, which the encoder is fit on)"] if unfit else [])]
    notes = "".join(f"\n- {note}" for note in notes)
    return Description(overview, columns, classes, splits, notes and "Notes on reading the table:\n" + notes)
