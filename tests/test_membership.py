import numpy as np
import pytest

from conftest import CPU, make_ensemble
from nbutils import evaluation, runtime
from nbutils.data import reading, tensors
from nbutils.membership import loss_attack, mia_efficacy, per_example_attack
from nbutils.metrics import Predictions, predict
from nbutils.train import train_ensemble


@pytest.fixture(scope="module")
def memorised():
    """Models that memorised 40 noisy-label rows (the forget set), and models that never saw them."""
    X, y = reading.make_synthetic(n_samples=400, n_features=8, n_informative=4, n_redundant=0, n_classes=2,
                               flip_y=0.4, seed=1)
    splits = tensors.split(X, y, test_ratio=0.5, forget_ratio=0.2, seed=1)
    seen = make_ensemble(4, hidden=(128, 64), dropout=0.0, seed=1)
    train_ensemble(seen, splits.X_train, splits.y_train, epochs=150, batch_size=16, lr=3e-3,
                   generator=runtime.generator(CPU, 2))
    unseen = make_ensemble(4, hidden=(128, 64), dropout=0.0, seed=3)
    train_ensemble(unseen, splits.X_retain, splits.y_retain, epochs=150, batch_size=16, lr=3e-3,
                   generator=runtime.generator(CPU, 4))
    return predict(seen, splits), predict(unseen, splits)


def test_loss_attack_finds_memorised_rows_and_not_unseen_ones(memorised):
    seen, unseen = memorised
    assert loss_attack(seen)["mia_auc"].min() > 0.7
    assert np.abs(loss_attack(unseen)["mia_auc"] - 0.5).max() < 0.15


def test_loss_attack_on_separable_losses():
    """Forget rows predicted with certainty, test rows not: every threshold up to 0 % FPR finds them all."""
    y_forget, y_test = np.zeros(50, int), np.zeros(500, int)
    forget = np.tile([[10.0, -10.0]], (1, 50, 1))
    test = np.stack([np.linspace(-2, 2, 500), np.zeros(500)], axis=-1)[None]
    preds = Predictions(forget[:, :0], forget, test, y_forget[:0], y_forget, y_test, {})
    attack = loss_attack(preds)
    assert attack["mia_auc"][0] == 1.0
    assert attack["mia_tpr@0.01"][0] == attack["mia_tpr@0.001"][0] == 100.0


def test_mia_efficacy_calls_memorised_rows_members(memorised):
    seen, unseen = memorised
    assert mia_efficacy(seen).mean() < 20
    assert mia_efficacy(unseen).mean() > mia_efficacy(seen).mean() + 20


def test_retrain_against_itself_has_no_gap(memorised):
    seen, unseen = memorised
    model = make_ensemble(4, hidden=(128, 64))
    reference = evaluation.Reference(model, seen, unseen, n_seeds=4, challenge_models=4, retrain_macs=1.0)
    rows = evaluation.evaluate("retrain", "-", np.nan, unseen, reference, target=True).rows
    assert (rows[["gap_forget", "gap_retain", "gap_test", "gap_mia", "avg_gap"]] == 0).all().all()
    assert rows[["avg_gap_lo", "avg_gap_hi", "challenge_score"]].isna().all().all()  # no spread, no score
    original = evaluation.evaluate("original", "-", np.nan, seen, reference).rows
    assert (original["avg_gap"] > 5).all()
    assert (original["avg_gap_lo"] <= original["avg_gap"]).all() and (original["avg_gap"] <= original["avg_gap_hi"]).all()


def brute_force_attack(unlearned, retrained):
    """The per-example attack written as its definition: each of the 2N models held out in turn."""
    models = np.r_[unlearned, retrained]
    kinds = np.r_[np.ones(len(unlearned)), np.zeros(len(retrained))]
    correct = np.zeros(models.shape[1])
    for j in range(len(models)):
        others = np.arange(len(models)) != j
        fits = [models[others & (kinds == k)] for k in (1, 0)]
        u_ll, r_ll = (-0.5 * (np.log(2 * np.pi * np.maximum(f.var(0, ddof=1), 1e-6))
                              + (models[j] - f.mean(0)) ** 2 / np.maximum(f.var(0, ddof=1), 1e-6)) for f in fits)
        called_unlearned = (u_ll > r_ll) + 0.5 * (u_ll == r_ll)
        correct += called_unlearned if kinds[j] else 1 - called_unlearned
    return correct / len(models)


def test_the_per_example_attack_is_its_leave_one_out_definition():
    rng = np.random.default_rng(0)
    unlearned, retrained = rng.normal(0.5, 1.2, (8, 40)), rng.normal(0, 1, (8, 40))
    np.testing.assert_allclose(per_example_attack(unlearned, retrained), brute_force_attack(unlearned, retrained))


def test_the_per_example_attack_is_at_chance_on_one_distribution_and_high_on_two():
    rng = np.random.default_rng(1)
    same = per_example_attack(rng.normal(0, 1, (32, 500)), rng.normal(0, 1, (32, 500)))
    apart = per_example_attack(rng.normal(3, 1, (32, 500)), rng.normal(0, 1, (32, 500)))
    assert abs(same.mean() - 0.5) < 0.03 and apart.mean() > 0.9
