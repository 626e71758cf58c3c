"""Writes the messy tables and id lists tests/test_data.py reads, one per case of issue 18, as a new user's
files come: a UTF-8 byte-order mark, CRLF line ends, quoted fields and padded values. Rerun it after changing
it: ``.venv/bin/python tests/messy/make_messy.py``."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
rng = np.random.default_rng(18)


def write(name, lines, sep=","):
    """A CSV file from rows of values, with a BOM and CRLF; text values quoted, some padded."""
    text = "\r\n".join(sep.join(map(str, row)) for row in lines) + "\r\n"
    (HERE / name).write_text("\ufeff" + text, encoding="utf-8", newline="")


n = 120
ids = [f"{i:06d}" for i in range(1000, 1000 + n)]  # zero-padded: 001000 ...
age = rng.integers(20, 90, n)
income = rng.normal(3000, 800, n).round(2)
group = rng.choice(["A", "B", "C"], n)
smoking = rng.choice(["None", "light", "heavy", ""], n, p=[0.5, 0.25, 0.2, 0.05])  # "None" is a value
outcome = np.select([age < 45, age < 65], ["low", "NA"], "high")  # "NA" is a class
# patients.csv: a keyword column (class), a spaced one (monthly income), text "None" and "NA", zero-padded ids
write("patients.csv", [["patient_id", " age", "monthly income", "class", "smoking", "outcome"]]
      + [[f'"{i}"', f" {a}", m, f'"{g}"', f'"{s}"' if s else "", o]
         for i, a, m, g, s, o in zip(ids, age, income, group, smoking, outcome)])
forgotten = sorted(rng.choice(ids, 30, replace=False))
write("ids_no_header.csv", [[f'"{i}"'] for i in forgotten])  # case 1: every line an id
write("ids_header.csv", [["patient_id", "reason"]] + [[f" {i}", "gdpr"] for i in forgotten] + [[""]])
# case 2: a copy of the label under the same name
write("duplicate_columns.csv", [["age", "outcome", "income", "outcome"]]
      + [[a, o, m, o] for a, o, m in zip(age, outcome, income)])
# case 4: one label spelt four ways
spelt = rng.choice(["yes", "Yes", "YES", '"yes "', "no", "maybe"], n)
write("labels.csv", [["age", "answer"]] + [[a, s] for a, s in zip(age, spelt)])
# case 5: numbers with a few stray texts
stray = [str(m) if rng.random() > 0.08 else rng.choice(["?", "unknown"]) for m in income]
visits = [str(v) if rng.random() > 0.1 else "?" for v in rng.poisson(3, n)]
write("stray_numbers.csv", [["income", "visits", "age", "outcome"]]
      + [[s, v, a, o] for s, v, a, o in zip(stray, visits, age, outcome)])
# case 6: a per-row e-mail, a date and a timestamp on a small table
days = rng.integers(0, 900, n)
write("identifiers.csv", [["email", "visit_date", "updated", "age", "outcome"]]
      + [[f"person{i}@example.org", np.datetime64("2022-01-01") + d, f'"{np.datetime64("2023-03-01T08:00") + 7 * d}"',
          a, o] for i, (d, a, o) in enumerate(zip(days.tolist(), age, outcome))])
# case 7: Excel's trailing empty column and an empty notes column
write("empty_columns.csv", [["age", "notes", "outcome", ""]] + [[a, "", o, ""] for a, o in zip(age, outcome)])
# case 8: semicolons between fields, a space in a column name
write("semicolons.csv", [["age", "monthly income", "outcome"]] + [[a, m, o] for a, m, o in zip(age, income, outcome)],
      sep=";")
# case 12: Parquet with a repeated column name
pq.write_table(pa.table([pa.array(age), pa.array(outcome), pa.array(outcome)], names=["age", "outcome", "outcome"]),
               HERE / "duplicate_columns.parquet")

# Issue 25: exports as Excel, databases and scripts write them.
import decimal  # noqa: E402
import gzip  # noqa: E402
import unicodedata  # noqa: E402

import pandas as pd  # noqa: E402

rng = np.random.default_rng(25)
city = rng.choice(["Köln", "Zürich", "Besançon"], n)
rows = [["age", "city", "outcome"]] + [[a, c, o] for a, c, o in zip(age, city, outcome)]
text = "".join("\t".join(map(str, row)) + "\r\n" for row in rows)
(HERE / "utf16.csv").write_bytes(text.encode("utf-16"))  # Excel's "Unicode Text": a BOM, tabs
(HERE / "cp1252.csv").write_bytes(text.replace("\t", ";").encode("cp1252"))  # Excel's "CSV" on Windows
with gzip.open(HERE / "patients.csv.gz", "wb") as f:
    f.write((HERE / "patients.csv").read_bytes())
# thousands separators and percent signs (quoted), then decimal commas with ';' between fields
write("formatted.csv", [["income", "share", "age", "outcome"]]
      + [[f'"{m:,.2f}"', f"{s}%", a, o] for m, s, a, o in zip(income * 2, rng.integers(0, 100, n), age, outcome)])
write("decimal_commas.csv", [["income", "weight", "outcome"]]
      + [[f"{m:,.2f}".replace(",", " ").replace(".", ",").replace(" ", "."), f"{w:.1f}".replace(".", ","), o]
         for m, w, o in zip(income * 2, rng.normal(70, 10, n), outcome)], sep=";")
# day-first dates as text: 15/02/2023 is unambiguous, so the whole column reads day-first
visit = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 180, n), unit="D")
write("visits.csv", [["visit", "age", "outcome"]] + [[d.strftime("%d/%m/%Y"), a, o] for d, a, o in zip(visit, age, outcome)])
# a -999 sentinel in Parquet number columns; an id column of floats; a DECIMAL column
sentinel = np.where(rng.random(n) < 0.15, -999, income)
pq.write_table(pa.table({"income": sentinel, "age": np.where(rng.random(n) < 0.1, -999, age), "outcome": outcome}),
               HERE / "sentinels.parquet")
pq.write_table(pa.table({"id": np.arange(1, n + 1, dtype=float), "age": age, "outcome": outcome}),
               HERE / "float_ids.parquet")
price = pa.array([decimal.Decimal(f"{m:.2f}") for m in income], pa.decimal128(9, 2))
pq.write_table(pa.table({"price": price, "age": age, "outcome": outcome}), HERE / "decimals.parquet")
# an id column counted from 1 that the ids: request does not name; a record number in a file sorted by outcome
write("numbered.csv", [["id", "age", "outcome"]] + [[i, a, o] for i, (a, o) in enumerate(zip(age, outcome), 1)])
order = np.argsort(outcome, kind="stable")
write("record_numbers.csv", [["record", "age", "outcome"]]
      + [[r, a, o] for r, (a, o) in enumerate(zip(age[order], outcome[order]), 1001)])
# Excel's sep= first line, then rows of bare separators at the end; ids that differ only by a trailing space
text = "sep=;\r\n" + "".join(f"{i};{a};{o}\r\n" for i, a, o in zip(["patient_id", *ids], ["age", *age],
                                                                  ["outcome", *outcome]))
(HERE / "excel_debris.csv").write_text(text + ";;\r\n" * 4, encoding="utf-8", newline="")
spaced = [*ids[:-1], ids[0] + " "]
write("spaced_ids.csv", [["patient_id", "age", "outcome"]] + [[f'"{i}"', a, o] for i, a, o in zip(spaced, age, outcome)])
# column names in decomposed Unicode, as macOS may write them
write("decomposed.csv", [[unicodedata.normalize("NFD", name) for name in ["âge", "ville", "résultat"]]]
      + [[a, c, o] for a, c, o in zip(age, city, outcome)])
write("three_rows.csv", [["name", "age", "outcome"], ["ann", 30, "low"], ["bob", 50, "NA"], ["cy", 70, "high"]])
