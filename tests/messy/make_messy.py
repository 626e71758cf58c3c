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
