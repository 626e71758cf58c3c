import numpy as np
import torch

from conftest import make_ensemble
from nbutils import metrics
from nbutils.methods import steps
from nbutils.metrics import Predictions, diverged, predict


def test_a_diverged_model_is_flagged_and_predicts_ties(small_splits):
    model = make_ensemble(3)
    with torch.no_grad():
        model.linears[1].weight[1, 0, 0] = float("nan")
    assert diverged(model).tolist() == [False, True, False]
    preds = predict(model, small_splits)
    assert np.isfinite(preds.test).all()
    assert (preds.test[1] == 0).all() and (preds.test[0] != 0).any()


def test_a_sample_keeps_the_same_rows_for_every_configuration():
    rng = np.random.default_rng(0)

    def preds(k):
        logits = [rng.normal(size=(k, n, 2)) for n in (5000, 300, 2500)]
        labels = [rng.integers(0, 2, n) for n in (5000, 300, 2500)]
        return Predictions(*logits, *labels, {s: np.arange(n) * 10 for s, n in zip(("retain", "forget", "test"),
                                                                                   (5000, 300, 2500))})

    a, b = preds(2).sample(1000), preds(4).sample(1000)
    assert a.retain.shape == (2, 1000, 2) and a.forget.shape == (2, 300, 2) and b.test.shape == (4, 1000, 2)
    for split in ("retain", "forget", "test"):
        np.testing.assert_array_equal(a.row_ids[split], b.row_ids[split])
    assert (np.diff(a.row_ids["test"]) > 0).all()  # in table order, without repeats


def test_predictions_in_chunks_are_one_pass_over_every_row(small_splits, monkeypatch):
    """Chunks of 7 rows (the last one short) land where one forward pass puts them, the diverged model's
    non-finite logits replaced in place."""
    model = make_ensemble(3).eval()
    with torch.no_grad():
        model.linears[1].weight[2, 0, 0] = float("inf")
        whole = model(small_splits.X_retain).transpose(1, 2).double().numpy()
    monkeypatch.setattr(metrics, "PREDICT_ROWS", 7)
    chunked = predict(model, small_splits).retain
    assert len(small_splits.X_retain) % 7
    np.testing.assert_allclose(chunked[:2], whole[:2], rtol=1e-6, atol=1e-6)
    assert np.isfinite(chunked).all() and (np.abs(chunked[2]) <= 1e30).all()


def test_teacher_logits_in_chunks_are_one_pass_over_every_row(small_splits, monkeypatch):
    model = make_ensemble(3).eval()
    with torch.no_grad():
        whole = model(small_splits.X_retain).transpose(1, 2)
    monkeypatch.setattr(steps, "GRADIENT_ROWS", 7)
    chunked = steps.teacher_logits(model, small_splits.X_retain)
    assert chunked.shape == whole.shape and chunked.is_contiguous()
    torch.testing.assert_close(chunked, whole)
