"""Replicates: each draws its own forget set for a random request, from the model seed too; requests that name
their rows keep them."""

from nbutils import params
from nbutils.data import tensors

SMALL = {"n_samples": 300, "methods": []}


def forget_and_test(P, replicate):
    dataset = tensors.load(P, "cpu", replicate)
    return set(dataset.ids["forget"]), set(dataset.ids["test"])


def test_every_replicate_of_a_random_request_draws_its_own_forget_set_and_keeps_the_test_set():
    P = params.validate(SMALL)
    (forget_0, test_0), (forget_1, test_1) = forget_and_test(P, 0), forget_and_test(P, 1)
    assert test_0 == test_1 and forget_0 != forget_1 and len(forget_0) == len(forget_1)
    reseeded, _ = forget_and_test(params.validate({**SMALL, "train_seed": 1}), 0)
    assert reseeded != forget_0  # the table's own split is not special: reseeding the models redraws it


def test_a_request_that_names_its_rows_keeps_them_in_every_replicate():
    P = params.validate({**SMALL, "forget": "where:x0 > x0.quantile(0.9)"})
    dataset = tensors.load(P, "cpu", 0)
    assert tensors.for_replicate(dataset, P, "cpu", 3) is dataset
