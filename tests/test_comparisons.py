"""The paired comparisons keep the error rates they promise, checked by simulation, and the leaderboard's reseed
check counts agreements and flips."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbutils import comparisons

STUDIES = 1000
# a rate at most 5 % seen over STUDIES draws: allow three binomial standard errors above it
BOUND = 0.05 + 3 * np.sqrt(0.05 * 0.95 / STUDIES)


def shared_reference_scores(rng, gains, replicates, replicate_sd=1.0, noise_sd=0.3):
    """Scores of the reference and of candidates with true mean ``gains`` over it, on ``replicates`` replicates:
    a replicate effect every candidate shares (the common random numbers) plus each one's own noise."""
    shared = rng.normal(0, replicate_sd, (replicates, 1))
    columns = {"original": shared[:, 0] + rng.normal(0, noise_sd, replicates)}
    for i, gain in enumerate(gains):
        columns[f"m{i}"] = shared[:, 0] + gain + rng.normal(0, noise_sd, replicates)
    return pd.DataFrame(columns)


def test_holm_keeps_the_family_wise_error_when_no_candidate_differs_from_the_reference():
    rng = np.random.default_rng(0)
    claims = [(comparisons.against(shared_reference_scores(rng, [0.0] * 10, 6))["against"] != "tie").any()
              for _ in range(STUDIES)]
    assert np.mean(claims) <= BOUND


def test_holm_keeps_false_and_wrong_direction_claims_within_the_level_with_real_differences():
    rng = np.random.default_rng(1)
    truth = np.array([1.0, 0.6, 0.0, 0.0, -0.2, -0.4, 0.0, 0.0])
    wrong, found = [], []
    for _ in range(STUDIES):
        classes = comparisons.against(shared_reference_scores(rng, truth, 8))["against"].to_numpy()
        false = ((classes == "better") & (truth <= 0)) | ((classes == "worse") & (truth >= 0))
        wrong.append(false.any())
        found.append(((classes == "better") & (truth > 0)).sum())
    assert np.mean(wrong) <= BOUND
    assert np.mean(found) > 0.5  # and it has power: the real gains are found


def test_the_simultaneous_gain_intervals_cover_every_true_gain_together():
    rng = np.random.default_rng(2)
    truth = np.array([0.3, 0.0, -0.1, 0.5, 0.0])
    covered = []
    for _ in range(STUDIES):
        table = comparisons.against(shared_reference_scores(rng, truth, 5))
        covered.append(((table["gain_lo"] <= truth) & (truth <= table["gain_hi"])).all())
    assert np.mean(covered) >= 1 - BOUND  # at least 95 %, less Monte Carlo error


def test_holm_rejects_in_step_down_order():
    assert list(comparisons.holm([0.01, 0.04, 0.03, 0.2])) == [True, False, False, False]  # 0.03 > 0.05/3
    assert list(comparisons.holm([0.001, 0.012, 0.02, np.nan])) == [True, True, True, False]
    assert list(comparisons.holm([0.06, 0.001])) == [False, True]


def test_a_candidate_with_one_replicate_makes_no_claim():
    scores = pd.DataFrame({"original": [0.5], "a": [0.9]})
    row = comparisons.against(scores).loc["a"]
    assert row["against"] == "tie" and np.isnan(row["gain_lo"])


def test_confirmation_rejects_a_candidate_that_does_not_beat_the_reference_at_most_five_percent_of_the_time():
    rng = np.random.default_rng(3)
    at_zero = [comparisons.confirm(rng.normal(0.0, 1.0, 4)).confirmed for _ in range(STUDIES)]
    below = [comparisons.confirm(rng.normal(-0.5, 1.0, 4)).confirmed for _ in range(STUDIES)]
    assert np.mean(at_zero) <= BOUND and np.mean(below) < np.mean(at_zero)
    result = comparisons.confirm([0.1, 0.2, 0.3])
    assert result.lo == pytest.approx(0.2 - stats.t.ppf(0.95, 2) * 0.1 / np.sqrt(3))


def test_rank_intervals_hold_for_every_candidate_at_once():
    rng = np.random.default_rng(4)
    truth = np.array([0.0, 0.1, 0.5, 0.55, 1.5])
    true_rank = len(truth) - np.argsort(np.argsort(truth))  # 1 is the highest
    covered, narrow = [], []
    for _ in range(STUDIES):
        scores = shared_reference_scores(rng, truth[1:], 8).set_axis(["c0", "c1", "c2", "c3", "c4"], axis=1)
        ranks = comparisons.rank_intervals(scores)
        covered.append(((ranks["rank_lo"].to_numpy() <= true_rank) & (true_rank <= ranks["rank_hi"].to_numpy())).all())
        narrow.append(ranks.loc["c4", "rank_hi"] == 1)
    assert np.mean(covered) >= 1 - BOUND
    assert np.mean(narrow) > 0.5  # the clear winner is usually pinned to rank 1


def test_friedman_matches_demsar_and_groups_within_the_critical_difference():
    # Demšar (2006), section 3.2.2: k = 4 classifiers on N = 14 data sets, q_0.05 = 2.569, CD = 1.25
    rng = np.random.default_rng(5)
    table = pd.DataFrame(rng.normal(size=(14, 4)) + [0, 0.2, 1.5, 1.6], columns=list("abcd"))
    result = comparisons.friedman(table)
    assert result.critical_difference == pytest.approx(2.569 * np.sqrt(4 * 5 / (6 * 14)), abs=1e-3)
    assert result.critical_difference == pytest.approx(1.25, abs=0.01)
    assert set(result.ranks.index[:2]) == {"c", "d"} and result.p_value < 0.01
    assert all(result.ranks[g[-1]] - result.ranks[g[0]] <= result.critical_difference for g in result.groups())
    with pytest.raises(ValueError, match="at least 2 blocks and 3 candidates"):
        comparisons.friedman(table.iloc[:1])


def test_friedman_keeps_its_level_when_no_candidate_differs():
    rng = np.random.default_rng(6)
    p = [comparisons.friedman(pd.DataFrame(rng.normal(size=(8, 6)))).p_value for _ in range(STUDIES // 2)]
    assert np.mean(np.array(p) < 0.05) <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / (STUDIES // 2))


def reseed_module(monkeypatch):
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))  # as when run as a script: its folder is on the path
    spec = importlib.util.spec_from_file_location("reseed", benchmarks / "reseed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reseed_check_counts_agreements_and_flips_and_leaves_the_original_out(tmp_path, monkeypatch):
    def build(seed, classes):
        return pd.DataFrame({"scenario": "s", "method": ["original", "a", "b", "c", "d"], "setting": "-",
                             "share": 0.5, "share_lo": 0.4, "share_hi": 0.6, "gain": 0.01, "gain_lo": -0.01,
                             "gain_hi": 0.03, "against_original": ["tie", *classes], "cost_share": 0.1,
                             "seed": seed})
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    build(0, ["better", "tie", "worse", "tie"]).to_csv(first, index=False)
    build(1, ["worse", "tie", "worse", "better"]).to_csv(second, index=False)
    out = tmp_path / "reseed.md"
    assert reseed_module(monkeypatch).main([str(first), str(second), "--output", str(out)]) == 0
    text = out.read_text()
    assert "agreement: 50 %\n" in text and "flips: 1\n" in text
    assert reseed_module(monkeypatch).main([str(first), str(first)]) == 2  # the same seed twice is not a reseed
