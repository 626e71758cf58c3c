import os

import numpy as np
import pytest
import torch
from torch import nn

from conftest import CPU, REFERENCE_ENGINE, make_ensemble, reference_logits
from nbutils import engine, runtime
from nbutils.metrics import accuracies, predict
from nbutils.train import _Step, train_ensemble


def seed_classifier(ensemble, k):
    """The seed's nn.Sequential classifier holding model k's weights."""
    layers = []
    for linear, norm in zip(ensemble.linears, ensemble.norms):
        lin = nn.Linear(*reversed(linear.weight.shape[1:]))
        bn = nn.BatchNorm1d(norm.weight.shape[1])
        with torch.no_grad():
            lin.weight.copy_(linear.weight[k])
            lin.bias.copy_(linear.bias[k, :, 0])
            bn.weight.copy_(norm.weight[k])
            bn.bias.copy_(norm.bias[k])
        layers += [lin, bn, nn.ReLU(), nn.Dropout(ensemble.dropout)]
    head = nn.Linear(*reversed(ensemble.linears[-1].weight.shape[1:]))
    with torch.no_grad():
        head.weight.copy_(ensemble.linears[-1].weight[k])
        head.bias.copy_(ensemble.linears[-1].bias[k, :, 0])
    return nn.Sequential(*layers, head)


def test_each_model_computes_what_the_seed_classifier_computes():
    ensemble = make_ensemble(3, dropout=0.0)
    x = torch.randn(3, 32, 8)  # one batch per model, (K, B, F)
    references = [seed_classifier(ensemble, k) for k in range(3)]
    ensemble.train()
    out = ensemble(x)
    for k, ref in enumerate(references):
        ref.train()
        torch.testing.assert_close(out[k].T, ref(x[k]))
        # each model's BatchNorm keeps its own running statistics, updated from its own batch
        for norm, ref_bn in zip(ensemble.norms, [m for m in ref if isinstance(m, nn.BatchNorm1d)]):
            torch.testing.assert_close(norm.running_mean[k], ref_bn.running_mean)
            torch.testing.assert_close(norm.running_var[k], ref_bn.running_var)
    ensemble.eval()
    shared = torch.randn(50, 8)
    out = ensemble(shared)
    for k, ref in enumerate(references):
        ref.eval()
        torch.testing.assert_close(out[k].T, ref(shared))


def test_a_model_trains_the_same_whatever_its_neighbours_are(small_splits):
    """Per-model gradients, Adam state and BatchNorm statistics: changing model 1 leaves model 0 bit-identical."""
    def trained(scale):
        ensemble = make_ensemble(2, seed=7)
        with torch.no_grad():
            for p in ensemble.parameters():
                p[1] *= scale
        train_ensemble(ensemble, small_splits.X_train, small_splits.y_train, epochs=2, batch_size=16, lr=1e-2,
                       generator=runtime.generator(CPU, 8))
        return [t[0] for t in [*ensemble.parameters(), *ensemble.buffers()]]

    for a, b in zip(trained(1.0), trained(3.0)):
        assert torch.equal(a, b)


def test_models_start_different_and_predict_differently_after_training(small_splits):
    ensemble = make_ensemble(4)
    w = ensemble.linears[0].weight
    assert not torch.equal(w[0], w[1])
    train_ensemble(ensemble, small_splits.X_train, small_splits.y_train, epochs=3, batch_size=32, lr=1e-3,
                   generator=runtime.generator(CPU, 1))
    logits = predict(ensemble, small_splits).test
    assert not np.allclose(logits[0], logits[1])
    stats = ensemble.norms[0].running_mean
    assert not torch.equal(stats[0], stats[1])


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_masks_drop_each_unit_with_probability_p(p):
    keep = engine.keep_mask(make_ensemble(4, hidden=(16, 8), dropout=p), 2000, runtime.generator(CPU, 0))
    assert keep.shape == (4, 2000, 24) and keep.dtype == torch.bool
    for mask in keep.split([16, 8], dim=2):
        dropped = (~mask).float().mean(dim=1)  # per unit: every position in the bit pattern counts
        assert dropped.min() > p - 0.05 and dropped.max() < p + 0.05


def test_ensemble_is_as_accurate_as_separately_trained_models(small_splits):
    kwargs = dict(epochs=20, batch_size=32, lr=1e-3)
    ensemble = make_ensemble(8, seed=10)
    train_ensemble(ensemble, small_splits.X_train, small_splits.y_train, generator=runtime.generator(CPU, 11), **kwargs)
    together = accuracies(predict(ensemble, small_splits))["test_acc"].mean()
    alone = []
    for seed in range(8):
        single = make_ensemble(1, seed=100 + seed)
        train_ensemble(single, small_splits.X_train, small_splits.y_train,
                       generator=runtime.generator(CPU, 200 + seed), **kwargs)
        alone.append(accuracies(predict(single, small_splits))["test_acc"][0])
    assert abs(together - np.mean(alone)) < 1.0


def test_training_is_reproducible_from_the_seed(small_splits):
    def run():
        model = make_ensemble(3, seed=5)
        losses = train_ensemble(model, small_splits.X_train, small_splits.y_train, epochs=2, batch_size=16,
                                lr=1e-3, generator=runtime.generator(CPU, 6))
        return losses, predict(model, small_splits).test

    (l1, p1), (l2, p2) = run(), run()
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_array_equal(p1, p2)


def test_hand_written_step_gives_autograds_gradients_and_running_statistics():
    """One step of the engine against autograd through MLPEnsemble.forward with the same dropout masks.

    The hidden Linear biases' exact gradient is 0 (BatchNorm cancels them); autograd's is rounding noise.
    """
    ensemble, reference = make_ensemble(3, seed=1), make_ensemble(3, seed=1)
    X, y = torch.randn(3, 16, 8), torch.randint(0, 2, (3, 16))
    keep = torch.rand(3, 16, 24) > 0.3  # (K, B, sum(hidden)), as the engine takes them
    step = _Step(ensemble, lr=1e-3)
    step.adam.step = lambda: None  # keep the gradients, leave the weights
    loss = torch.zeros(3)
    step(X, y, keep, loss)

    reference.train()
    logits = reference_logits(reference, X, keep)
    expected = torch.nn.functional.cross_entropy(logits, y, reduction="none").mean(dim=1)
    expected.sum().backward()
    torch.testing.assert_close(loss, expected.detach())
    for (name, p), grad in zip(reference.named_parameters(), step.adam.grads):
        if name.endswith("bias") and name.startswith("linears") and name != "linears.2.bias":
            assert torch.equal(grad, torch.zeros_like(grad)) and p.grad.abs().max() < 1e-6
        else:
            torch.testing.assert_close(grad, p.grad, rtol=1e-4, atol=1e-6)
    for ours, theirs in zip(ensemble.buffers(), reference.buffers()):
        torch.testing.assert_close(ours, theirs)


def test_engine_trains_models_as_accurate_as_the_reference_engine(small_splits):
    """Same in distribution as the engine it replaced (benchmarks/reference_engine.py): mean test accuracy
    of 16 models each, within what two draws of 16 differ by."""
    kwargs = dict(epochs=15, batch_size=32, lr=1e-3)
    accs = {}
    for name, fit in (("new", train_ensemble), ("reference", REFERENCE_ENGINE.train_ensemble)):
        ensemble = make_ensemble(16, seed=20)
        fit(ensemble, small_splits.X_train, small_splits.y_train, generator=runtime.generator(CPU, 21), **kwargs)
        accs[name] = accuracies(predict(ensemble, small_splits))["test_acc"]
    spread = np.sqrt(accs["new"].var() / 16 + accs["reference"].var() / 16)
    assert abs(accs["new"].mean() - accs["reference"].mean()) < 3 * spread + 0.5


def test_training_in_processes_is_training_in_one_bit_for_bit(small_splits, monkeypatch):
    """Blocks depend on K alone and each draws from a stream of its own, so training them in forked processes
    changes no bit, and leaves the generator where one process leaves it."""
    monkeypatch.setattr(engine, "ROWS_PER_BLOCK", 16)  # two blocks even for these few models
    torch.set_num_threads(2)

    def trained(parallel):
        monkeypatch.setattr(engine, "PARALLEL_BLOCKS", parallel)
        assert len(engine.model_groups(5, 16, CPU)) == (2 if parallel else 1)
        model, generator = make_ensemble(5, seed=3), runtime.generator(CPU, 4)
        losses = train_ensemble(model, small_splits.X_train, small_splits.y_train, epochs=2, batch_size=16, lr=1e-2,
                                generator=generator)
        return losses, [t.clone() for t in [*model.parameters(), *model.buffers()]], torch.rand(3, generator=generator)

    (losses, tensors, after), (other_losses, others, other_after) = trained(True), trained(False)
    np.testing.assert_array_equal(losses, other_losses)
    assert all(torch.equal(a, b) for a, b in zip(tensors, others))
    assert torch.equal(after, other_after)


def test_fork_map_keeps_order_runs_in_processes_and_raises_a_workers_error():
    offset = 10  # a closure: workers inherit it

    pids = runtime.fork_map(lambda i: (i + offset, os.getpid()), range(5), 2)
    assert [value for value, _ in pids] == [10, 11, 12, 13, 14]
    assert {pid for _, pid in pids[::2]} == {os.getpid()} and os.getpid() not in {pid for _, pid in pids[1::2]}

    def fails_in_a_worker(i):
        if i == 1:
            raise ValueError("item one is bad")
        return i

    with pytest.raises(RuntimeError, match="(?s)in worker process.*ValueError: item one is bad"):
        runtime.fork_map(fails_in_a_worker, range(4), 2)
