"""How many column kinds of the messy files (tests/messy) a library finds as this project's reader does.

Each case is a file's column with the kind a careful reader gives it: numeric, categorical, dates, empty or id
(the column that identifies rows). The libraries start from the table as pandas reads it as text with the
separator, encoding and ``na_values`` given, as a user would hand it over; the project's reader starts from the
file. skrub's ``Cleaner(parse_numbers=True)`` and ``TableVectorizer``, and pandas' ``convert_dtypes`` after
``to_numeric``/``to_datetime`` attempts, are scored: a kind counts when it equals the expected one. Run it with
``.venv/bin/python benchmarks/column_kinds.py`` (skrub is not a dependency: ``pip install skrub`` first).
"""

import sys
import unicodedata
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nbutils import params  # noqa: E402
from nbutils.data import reading  # noqa: E402

MESSY = Path(__file__).resolve().parents[1] / "tests" / "messy"
N, C, D, E, ID = "numeric", "categorical", "dates", "empty", "id"
# file, read options for pandas, parameters for the project's reader, {column: expected kind}
CASES = [
    ("patients.csv", {}, {"id_column": "patient_id"},
     {"patient_id": ID, "age": N, "monthly income": N, "class": C, "smoking": C}),
    ("stray_numbers.csv", {}, {"na_values": ["?", "unknown"]}, {"income": N, "visits": N, "age": N}),
    ("identifiers.csv", {}, {"drop_columns": ["email"]}, {"visit_date": D, "updated": D, "age": N}),
    ("empty_columns.csv", {}, {}, {"age": N, "notes": E, "Unnamed: 3": E}),
    ("semicolons.csv", {"sep": ";"}, {}, {"age": N, "monthly income": N}),
    ("formatted.csv", {}, {}, {"income": N, "share": N, "age": N}),
    ("decimal_commas.csv", {"sep": ";"}, {}, {"income": N, "weight": N}),
    ("visits.csv", {}, {}, {"visit": D, "age": N}),
    ("sentinels.parquet", {}, {"na_values": ["-999"]}, {"income": N, "age": N}),
    ("decimals.parquet", {}, {}, {"price": N, "age": N}),
    ("float_ids.parquet", {}, {"id_column": "id"}, {"id": ID, "age": N}),
    ("numbered.csv", {}, {"id_column": "id"}, {"id": ID, "age": N}),
    ("utf16.csv", {"sep": "\t", "encoding": "utf-16"}, {}, {"age": N, "city": C}),
    ("cp1252.csv", {"sep": ";", "encoding": "cp1252"}, {}, {"age": N, "city": C}),
    ("excel_debris.csv", {"sep": ";", "skiprows": 1}, {"id_column": "patient_id"}, {"patient_id": ID, "age": N}),
    ("decomposed.csv", {}, {"target": "résultat"}, {"âge": N, "ville": C}),
]


def as_text(name, read, na_values):
    """The table as pandas reads it as text (Parquet as typed), ``na_values`` missing, names trimmed and in NFC."""
    if name.endswith(".parquet"):
        frame = pd.read_parquet(MESSY / name)
        frame = frame.mask(frame.isin([float(v) for v in na_values]))
    else:
        frame = pd.read_csv(MESSY / name, dtype=str, keep_default_na=False, na_values=["", *na_values],
                            **{"encoding": "utf-8-sig", **read})
    return frame.rename(columns=lambda c: unicodedata.normalize("NFC", c.strip()))


def kind_of(column):
    if column.isna().all():
        return E
    if pd.api.types.is_datetime64_any_dtype(column):
        return D
    return N if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) else C


def by_reader(name, given):
    P = {**params.defaults(), "dataset": f"{'parquet' if name.endswith('parquet') else 'csv'}:{MESSY / name}",
         "target": "outcome", **given}
    table = reading.read(P)
    kinds = {**{c: N for c in table.numeric}, **{c: C for c in table.categorical}, table.id_column: ID}
    return {c: kinds.get(c, {"dates": D, "empty": E}.get(table.dropped.get(c))) for c in table.frame.columns}


def by_cleaner(frame):
    import skrub

    cleaned = skrub.Cleaner(parse_numbers=True).fit_transform(frame)
    return {c: kind_of(cleaned[c]) if c in cleaned else E for c in frame.columns}


def by_vectorizer(frame):
    import skrub

    vectorizer = skrub.TableVectorizer().fit(frame)
    kinds = {c: {"numeric": N, "datetime": D}.get(kind, C) for kind, columns in vectorizer.kind_to_columns_.items()
             for c in columns}
    return {c: kinds.get(c, E) for c in frame.columns}


def by_convert_dtypes(frame):
    def parsed(column):
        numbers = pd.to_numeric(column, errors="coerce")
        if numbers.notna().sum() == column.notna().sum():
            return numbers
        dates = pd.to_datetime(column, errors="coerce", format="mixed")
        return dates if dates.notna().sum() == column.notna().sum() else column

    converted = frame.apply(parsed).convert_dtypes()
    return {c: kind_of(converted[c]) for c in frame.columns}


def main():
    scorers = {"project reader": None, "skrub Cleaner": by_cleaner, "skrub TableVectorizer": by_vectorizer,
               "pandas convert_dtypes": by_convert_dtypes}
    agree = dict.fromkeys(scorers, 0)
    misses = {name: [] for name in scorers}
    total = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, read, given, expected in CASES:
            target = given.get("target", "outcome")
            frame = as_text(name, read, given.get("na_values", [])).drop(columns=[target])
            for scorer, score in scorers.items():
                found = by_reader(name, given) if score is None else score(frame)
                for c, kind in expected.items():
                    if found.get(c) == kind:
                        agree[scorer] += 1
                    else:
                        misses[scorer].append(f"{name}:{c} {found.get(c)} (not {kind})")
            total += len(expected)
    for scorer, n in agree.items():
        print(f"{scorer}: {n}/{total} cases" + (f"; missed {', '.join(misses[scorer])}" if misses[scorer] else ""))


if __name__ == "__main__":
    main()
