"""The kinds of a table's columns: numbers, categories, dates, empty columns and identifiers; target values
spelled two ways; the features as the encoder takes them."""

import re

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

from nbutils.data.refusals import _examples

# A categorical column with more distinct values than this, or than half the table's rows, is an id or free
# text, not a category: one-hot encoding it would add a feature per value, most of them for a single row.
MAX_CATEGORIES = 200
# A whole-number column that alone classifies this share of the rows (with two thresholds per class) is warned
# about as an id that leaks the label, as record numbers in a file sorted by outcome do.
PREDICTIVE_SHARE = 0.95
# Column names of identifiers: "id", "patient_id", "Record No", "row", "#"; and "patientId" (CAMEL_ID)
ID_NAME = re.compile(r"(?:^|[\W_])(?:id|ids|identifier|key|no|nr|num|number|index|idx|record|row)$|^#$", re.IGNORECASE)
CAMEL_ID = re.compile(r"[a-z]Id$")


def _identifier_notes(raw, numeric, target):
    """Warnings on numeric features with a different whole number in every labelled row that look like row ids:
    named like one, rising or falling with the row order, or telling the label apart alone."""
    labelled = raw[raw[target].notna()]
    labels = pd.factorize(labelled[target])[0]
    notes = []
    for c in numeric:
        x = labelled[c]
        if x.isna().any() or not x.mod(1).eq(0).all() or x.nunique() < len(x):
            continue
        if x.is_monotonic_increasing or x.is_monotonic_decreasing:
            why = ("rises or falls with the row order, as a record number does: a model can learn the file's order "
                   "(in a file sorted by outcome, the label)")
        elif _separates(x.to_numpy(dtype=float), labels):
            why = "alone tells the labels apart, as numbers given out by outcome do"
        elif ID_NAME.search(str(c)) or CAMEL_ID.search(str(c)):
            why = "is named like an identifier"
        else:
            continue
        notes.append(f"warning: column {c!r} holds a different whole number in every row and {why}; it is scaled as a "
                     f"feature: if it identifies rows, list it in drop_columns (or set id_column: {c})")
    return notes


def _separates(x, labels):
    """Whether a few thresholds on ``x`` (a tree of two leaves per class) classify ``PREDICTIVE_SHARE`` of the rows
    right, and at least halve the errors of always guessing the most frequent label."""
    counts = np.bincount(labels)
    tree = DecisionTreeClassifier(max_leaf_nodes=2 * len(counts), random_state=0).fit(x.reshape(-1, 1), labels)
    share, majority = tree.score(x.reshape(-1, 1), labels), counts.max() / counts.sum()
    return share >= PREDICTIVE_SHARE and 1 - share <= (1 - majority) / 2


def features(table, positions):
    """The feature columns of the rows at ``positions``, ready for the encoder: declared-numeric columns as
    numbers, categorical ones as strings (missing values stay missing)."""
    columns = table.frame.columns.get_indexer(table.numeric + table.categorical)
    frame = table.frame.iloc[positions, columns]
    for c in table.numeric:
        if not _is_number(frame[c]):
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
    for c in table.categorical:  # as text in an object column, missing as NaN: scikit-learn's imputer cannot test pd.NA
        values = frame[c] if pd.api.types.is_string_dtype(frame[c]) else frame[c].map(str, na_action="ignore")
        frame[c] = values.astype(object).where(frame[c].notna(), np.nan)
    return frame


def _is_text(column):
    """Whether a column holds text: a string dtype, or categories that are strings."""
    return pd.api.types.is_string_dtype(column) or isinstance(column.dtype, pd.CategoricalDtype) and \
        pd.api.types.is_string_dtype(column.cat.categories)


def _label_notes(raw, target, normalize):
    """Sentences on target values that differ only in case or surrounding spaces: merged, or a warning."""
    groups = _spellings(raw[target])
    if not groups:
        return []
    listed = "; ".join(", ".join(map(repr, group)) for group in groups)
    if normalize:
        return [f"normalize_labels merged target values that differ only in case or spaces: {listed} "
                "(each group into its most frequent spelling, trimmed)"]
    return [f"target values that differ only in case or surrounding spaces are separate classes: {listed}; "
            "class: and where: match only the spelling given. If they mean one class, set normalize_labels: true"]


def _spellings(column):
    """Groups of a text column's values that differ only in case or surrounding spaces, most frequent first."""
    if _is_number(column):
        return []
    counts = column.dropna().astype(str).value_counts()
    keys = pd.Series(counts.index.str.strip().str.casefold(), index=counts.index)
    return [list(group.index) for _, group in keys.groupby(keys, sort=False) if len(group) > 1]


def _merged_labels(column):
    """``column`` with each group of ``_spellings`` replaced by its most frequent spelling, trimmed."""
    merged = {spelling: group[0].strip() for group in _spellings(column) for spelling in group}
    return column.replace(merged) if merged else column


def _left_out(raw, target, P):
    """Columns left out of the features, with why: listed in drop_columns, empty, or dates (unless listed)."""
    dropped = {c: "drop_columns" for c in P["drop_columns"]}
    listed = {*P["numeric_columns"], *P["categorical_columns"]}
    for c in raw.columns:
        if c in {target, P["id_column"], *dropped}:
            continue
        if raw[c].isna().all():
            dropped[c] = "empty"
        elif c not in listed and _looks_like_dates(raw[c]):
            dropped[c] = "dates"
    return dropped


def _looks_like_dates(column):
    """Whether a column holds dates or times: a datetime type, or text whose every value parses as one with a
    year (so "1st", "T1" or "10-12" do not count)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return True
    if _is_number(column) or pd.api.types.is_bool_dtype(column):
        return False
    values = pd.Series(column.dropna().unique()[:200]).astype(str)
    if not values.str.contains(r"\d").all() or pd.to_numeric(values, errors="coerce").notna().any():
        return False
    parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    return bool(parsed.notna().all() and (parsed.dt.year >= 1000).all())


def _feature_problems(raw, features, categorical):
    """Sentences for no feature left, or a categorical column with too many distinct values to one-hot encode."""
    if not features:
        return ["drop_columns: no feature column is left; drop fewer columns"]
    limit = min(MAX_CATEGORIES, len(raw) // 2)
    problems = []
    for c in categorical:
        n = raw[c].nunique()
        if n > limit:
            text = _stray_text(raw[c])
            hint = (f"it is mostly numbers: read its {text.sum()} other values (e.g. {_examples(text.index)}) as "
                    "missing with na_values, or list it in numeric_columns" if text is not None
                    else "else add it to drop_columns")
            problems.append(f"column {c!r} has {n} distinct values in {len(raw)} rows, too many to one-hot encode (at "
                            f"most {limit}: half the rows, and {MAX_CATEGORIES}); if it identifies rows set "
                            f"id_column: {c}; {hint}")
    return problems


def _stray_text(column):
    """How often each value that is not a number occurs, for a text column most of whose values are numbers;
    None for any other column."""
    counts = column.value_counts()
    text = counts[pd.to_numeric(counts.index.to_series(), errors="coerce").isna().to_numpy()]
    return text if 0 < text.sum() < counts.sum() / 2 else None


def _kind_notes(raw, categorical, dropped, P):
    """Sentences on the columns read differently from what their values suggest: mostly-numeric text encoded as
    categories, empty columns and dates left out."""
    notes = []
    for c in categorical:
        text = None if c in P["categorical_columns"] else _stray_text(raw[c])
        if text is not None:
            notes.append(f"column {c!r} is mostly numbers, but {text.sum()} values are not (e.g. "
                         f"{_examples(text.index)}), so it is one-hot encoded as categories; to scale it as numbers "
                         f"list it in numeric_columns and read those values as missing with na_values")
    for why, sentence in [("empty", "no value in any row"), ("dates", "dates or times; list them in categorical_columns "
                                                            "to one-hot encode them, or derive a number in the file")]:
        columns = [c for c, reason in dropped.items() if reason == why]
        if columns:
            notes.append(f"left out of the features: {', '.join(map(repr, columns))} ({sentence})")
    return notes


def _is_number(column):
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
