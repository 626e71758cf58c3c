"""A run's files: examples.parquet is compact, and every value reads back as it was written."""

import numpy as np
import pandas as pd

from nbutils.results import write_examples


def test_examples_parquet_is_smaller_and_reads_back_every_value(tmp_path):
    rng = np.random.default_rng(0)
    n = 6000
    table = pd.DataFrame({
        "method": pd.Categorical(rng.choice(["gaussian", "retrain"], n)),
        "model": rng.integers(0, 4, n).astype(np.int32),
        "row_id": rng.integers(0, 100_000, n),
        "patient": rng.choice(["a-17", "b-4"], n).astype(object),  # an id column of text
        "confidence": rng.normal(0, 3, n),  # float64 values: they stay float64
        "points": np.where(rng.random(n) < 0.2, 0.5 ** rng.integers(0, 4, n), np.nan),  # exact in float32
    })
    table.to_parquet(tmp_path / "plain.parquet", index=False)
    write_examples(table, tmp_path / "compact.parquet")
    back = pd.read_parquet(tmp_path / "compact.parquet")
    pd.testing.assert_frame_equal(back, table, check_dtype=False, check_categorical=False, check_exact=True)
    assert back["confidence"].dtype == np.float64 and back["points"].dtype == np.float32
    assert back["row_id"].dtype == np.int32 and back["model"].dtype == np.int8
    assert isinstance(back["patient"].dtype, pd.CategoricalDtype)
    assert (tmp_path / "compact.parquet").stat().st_size < 0.9 * (tmp_path / "plain.parquet").stat().st_size
