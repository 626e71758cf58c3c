"""The deterministic cost: multiply-adds counted as the engines run, the same in one process or several."""

import pytest
import torch

from conftest import CPU, make_ensemble
from nbutils import cost, engine, runtime
from nbutils.methods import METHODS, fisher, importance, steps
from nbutils.train import train_ensemble

WEIGHTS = 8 * 16 + 16 * 8 + 8 * 2  # make_ensemble's Linear layers: 8 -> 16 -> 8 -> 2


def training_macs(k, n_rows, batch_size, epochs):
    """What training k models must count: per row, a forward (every weight once) and a backward (every weight's
    gradient, and every layer's input gradient but the first layer's)."""
    rows = sum(min(batch_size, n_rows - s) for s in range(0, n_rows, batch_size) if n_rows - s > 1)
    return k * epochs * rows * (WEIGHTS + WEIGHTS + (WEIGHTS - 8 * 16))


@pytest.mark.parametrize("parallel", [False, True])
def test_training_counts_its_multiply_adds_in_one_process_or_several(small_splits, monkeypatch, parallel):
    monkeypatch.setattr(engine, "ROWS_PER_BLOCK", 16)  # two blocks, so two processes when parallel
    monkeypatch.setattr(engine, "PARALLEL_BLOCKS", parallel)
    torch.set_num_threads(2)
    X, y = small_splits.X_train, small_splits.y_train
    with cost.counted() as work:
        train_ensemble(make_ensemble(5), X, y, epochs=2, batch_size=16, lr=1e-2, generator=runtime.generator(CPU, 1))
    assert work.macs == training_macs(5, len(X), 16, 2)


def test_training_only_the_last_layers_counts_a_shorter_backward(small_splits):
    net = steps.network(make_ensemble(3))
    X = small_splits.X_retain[:10].expand(3, -1, -1)
    counts = []
    for first in (0, 2):
        with cost.counted() as work:
            net.gradient(X, lambda logits: torch.ones_like(logits), first=first)
        counts.append(work.macs)
    assert counts == [3 * 10 * (WEIGHTS + WEIGHTS + WEIGHTS - 128), 3 * 10 * (WEIGHTS + 16 + 0)]


def test_a_reused_importance_is_counted_as_if_computed_again(small_splits):
    model = make_ensemble(3).eval()
    with cost.counted() as first:
        fisher.noise_std(model, small_splits.X_retain, 1e-6)
    with importance.charged(), cost.counted() as again:
        fisher.noise_std(model, small_splits.X_retain, 1e-5)
    assert first.macs > 0 and again.macs == first.macs


def test_noise_alone_costs_nothing_and_fine_tuning_costs_its_steps(small_splits):
    model = make_ensemble(4).eval()
    params = {"gaussian_sigmas": [0.1], "finetune_steps": [5], "finetune_lr": 0.1, "finetune_batch_size": 16}
    counts = {}
    for name, value in [("gaussian", 0.1), ("finetune", 5)]:
        with cost.counted() as work:
            METHODS[name].apply(model, value, runtime.generator(CPU, 2), small_splits, params)
        counts[name] = work.macs
    assert counts == {"gaussian": 0, "finetune": 4 * 5 * 16 * (3 * WEIGHTS - 128)}
