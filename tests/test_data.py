import torch

from nbutils import data


def test_seed_split_sizes(seed_splits):
    assert seed_splits.sizes == {"retain": 1440, "forget": 160, "test": 400}


def test_splits_are_stratified_and_scaled_on_the_retain_rows(seed_splits):
    overall = (seed_splits.y_train.sum() + seed_splits.y_test.sum()).item() / 2000  # share of class 1
    for y in (seed_splits.y_retain, seed_splits.y_forget, seed_splits.y_test):
        assert abs(y.sum().item() - overall * len(y)) <= 1  # class counts proportional to within one row
    torch.testing.assert_close(seed_splits.X_retain.mean(0), torch.zeros(20), atol=1e-5, rtol=0)
    assert seed_splits.X_forget.mean(0).abs().max() > 1e-3  # not refit on the forget rows
    assert seed_splits.X_train.shape == (1600, 20)
