"""Writes patients.csv (a small table with an id column, categorical columns, missing values and three string
classes) and forget_ids.txt (a deletion request: 30 of its patient ids). Run from anywhere:
``.venv/bin/python parameters/datasets/example/make_example.py``."""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
rng = np.random.default_rng(0)
n = 600
age = rng.integers(18, 90, n).astype(float)
bmi = rng.normal(27, 5, n).round(1)
sex = rng.choice(["female", "male"], n)
smoker = rng.choice(["yes", "no"], n, p=[0.25, 0.75]).astype(object)
region = rng.choice(["north", "south", "east", "west"], n)
visits = rng.poisson(3, n)
risk = 0.04 * (age - 50) + 0.15 * (bmi - 27) + 1.2 * (smoker == "yes") + 0.3 * visits + rng.normal(0, 1, n)
outcome = np.select([risk < 0.5, risk < 2.0], ["low", "medium"], "high")
age[rng.random(n) < 0.05] = np.nan
bmi[rng.random(n) < 0.05] = np.nan
smoker[rng.random(n) < 0.05] = None
table = pd.DataFrame({"patient_id": [f"P{i:04d}" for i in range(1, n + 1)], "age": age, "bmi": bmi, "sex": sex,
                      "smoker": smoker, "region": region, "visits": visits, "outcome": outcome})
table.to_csv(HERE / "patients.csv", index=False)
(HERE / "forget_ids.txt").write_text("\n".join(sorted(rng.choice(table["patient_id"], 30, replace=False))) + "\n")
