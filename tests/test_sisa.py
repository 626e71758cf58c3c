"""Exact unlearning by shards (SISA): shards dealt by row id, and a deletion that gives, bit for bit, the sharded
model trained without the deleted rows."""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from nbutils import cost, leaderboard, params, runtime, sisa
from tests.conftest import CPU

ARCHITECTURE = {"hidden_sizes": [16, 8], "n_classes": 2, "dropout": 0.3, "epochs": 2, "batch_size": 16,
                "learning_rate": 1e-3}


def stream(s):
    return runtime.generator(CPU, 0, "sharded", s)


def test_shards_are_balanced_disjoint_and_follow_the_ids_not_their_order():
    ids = np.array([f"row-{i}" for i in range(103)])
    rows = sisa.assign(ids, 5, seed=0)
    assert sorted(np.concatenate(rows)) == list(range(103)) and {len(r) for r in rows} == {20, 21}
    shard_of = {ids[p]: s for s, r in enumerate(rows) for p in r}
    permuted = np.random.default_rng(1).permutation(103)  # another forget set reorders the training rows
    moved = sisa.assign(ids[permuted], 5, seed=0)
    assert {ids[permuted][p]: s for s, r in enumerate(moved) for p in r} == shard_of
    assert [list(ids[r]) for r in rows] == [list(ids[permuted][r]) for r in moved]  # same order within shards
    assert sisa.assign(ids, 5, seed=1)[0].tolist() != rows[0].tolist()  # the seed redraws them


def test_sisa_is_the_sharded_model_trained_without_the_rows_bit_for_bit(small_splits):
    X, y = small_splits.X_train, small_splits.y_train
    rows = sisa.assign(np.arange(len(y)), 4, seed=0)
    original = sisa.fit(ARCHITECTURE, X, y, rows, 3, stream)
    deleted = rows[1][:3]  # three rows of shard 1 only
    with cost.counted() as work:
        unlearned, hit = sisa.unlearn(original, ARCHITECTURE, X, y, rows, deleted, stream)
    scratch = sisa.fit(ARCHITECTURE, X, y, sisa.without(rows, deleted), 3, stream)
    assert hit == [1]
    for a, b in zip([*unlearned.parameters(), *unlearned.buffers()], [*scratch.parameters(), *scratch.buffers()]):
        assert torch.equal(a, b)
    assert not torch.equal(unlearned.parts[1].linears[0].weight, original.parts[1].linears[0].weight)
    assert unlearned.parts[0] is original.parts[0]  # untouched shards are kept, not retrained
    with cost.counted() as full:
        sisa.fit(ARCHITECTURE, X, y, sisa.without(rows, deleted), 3, stream)
    assert 0.2 < work.macs / full.macs < 0.3  # one shard of four


def test_the_aggregate_averages_the_sub_models_probabilities(small_splits):
    X, y = small_splits.X_train, small_splits.y_train
    model = sisa.fit(ARCHITECTURE, X, y, sisa.assign(np.arange(len(y)), 2, seed=0), 2, stream).eval()
    with torch.no_grad():
        expected = (model.parts[0](X[:5]).softmax(1) + model.parts[1](X[:5]).softmax(1)) / 2
        assert torch.allclose(model(X[:5]).exp(), expected)


def test_a_shard_left_too_small_to_train_is_refused_before_training():
    with pytest.raises(ValueError, match="lower `shards`"):
        sisa.check([np.arange(10), np.arange(1)])


@pytest.mark.parametrize("given, fragment", [
    ({"shards": -1}, "shards: the training shards of the sharded model, 2 or more (0 or 1: off)"),
    ({"shards": 200, "n_samples": 300}, "leave fewer than 2 rows per shard, too few for BatchNorm; lower shards"),
])
def test_shards_are_checked_before_anything_runs(given, fragment):
    with pytest.raises(params.ParameterError, match=re.escape(fragment)):
        params.validate({**given, "methods": []})


def fake_results(shards_on=True):
    """results.csv rows of tuning replicate 0 (two models per configuration), with a sharded model or without."""
    rows = []

    def add(method, stage, test_acc, cost_share, seconds, score, value=np.nan):
        for model, wiggle in enumerate((-1.0, 1.0)):
            rows.append({"method": method, "setting": "-" if stage == "tuning" else "S=5", "value": value,
                         "stage": stage, "replicate": 0, "model": model, "test_acc": test_acc + wiggle,
                         "cost_share": cost_share, "seconds_per_model": seconds, "challenge_score": score,
                         "challenge_score_lo": score - 0.1, "challenge_score_hi": score + 0.1})

    add("original", "tuning", 90.0, 0.0, np.nan, 0.3)
    add("retrain", "tuning", 89.0, 1.0, 2.0, np.nan)
    add("retrain_2", "tuning", 89.0, 1.0, 2.0, 0.8)
    if shards_on:
        add("sharded", "shards", 86.0, 0.0, np.nan, 0.4, 5)
        add("sisa", "shards", 85.0, 0.4, 1.0, 0.75, 5)
        add("sharded_retrain", "shards", 85.0, 0.98, 2.0, np.nan, 5)
        add("sharded_retrain_2", "shards", 85.0, 0.98, 2.0, 0.78, 5)
    return pd.DataFrame(rows)


def test_the_leaderboard_reads_each_runs_sharded_rows_and_skips_runs_without():
    runs = [("with", {}, fake_results()), ("without", {}, fake_results(shards_on=False))]
    table = leaderboard.sharded(runs)
    assert table["scenario"].tolist() == ["with"]
    row = table.iloc[0]
    assert row["shards"] == 5 and row["acc_before"] == pytest.approx(-4.0) and row["acc_after"] == pytest.approx(-4.0)
    assert row["acc_after_lo"] < -4.0 < row["acc_after_hi"]
    assert row["cost_share"] == pytest.approx(0.4) and row["share_of_shards"] == pytest.approx(0.4 / 0.98)
    assert row["seconds_share"] == pytest.approx(0.5) and row["share"] == pytest.approx(0.75 / 0.78)
    text = "\n".join(leaderboard.sharded_markdown(table))
    assert "## Exact unlearning by shards (SISA)" in text and "| with | 5 | -4.0 [" in text and "| 40.0% |" in text
    assert leaderboard.sharded_markdown(leaderboard.sharded(runs[1:])) == []
