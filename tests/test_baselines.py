"""The field's baselines and the competition's entries: tests with a known answer."""

import copy

import pytest
import torch
import torch.nn.functional as F

from conftest import CPU, first_layer, make_ensemble, reference_logits
from nbutils import engine, evaluation, runtime
from nbutils.catalog import CATALOG
from nbutils.data import reading, tensors
from nbutils.methods import METHODS, baselines, competition, steps
from nbutils.model import MLPEnsemble
from nbutils.params import defaults as params_defaults
from nbutils.train import train_ensemble

BASELINE_PARAMS = dict(
    finetune_batch_size=16, finetune_lr=0.1, finetune_steps=[0, 5], repair_base="gaussian", repair_base_value=0.05,
    neggrad_lr=0.01, forget="random", salun_epochs=2, salun_lr=0.013, salun_branch="sequential", epochs=2,
    last_layers_epochs=2, last_layers_lr=0.01, l1_epochs=2, l1_lr=0.01, badteacher_retain_share=0.3, msg_epochs=2,
    msg_lr=0.001, cfw_epochs=2, cfw_lr=0.0007)
NEW = [name for name, entry in CATALOG.items() if entry.family in ("baseline", "competition")]
SETTING = {"neggrad": (0.9, 1, 1.0), "scrub": 0.005, "salun": (0.5, 1.0), "cfk": 2, "euk": 2, "l1sparse": 1e-4,
           "badteacher": (1, 0.001), "fcs": (1, 1.0), "msg": 0.3, "cfw": 0.2}
STRENGTH_ZERO = {"neggrad": (0.9, 0, 1.0), "scrub": 0.0, "badteacher": (0, 0.001)}
# Whether a method's steps run BatchNorm in training mode (batch statistics, running ones moved), as its authors'
# code does (docs/methods.md); EU-k runs in evaluation mode but recomputes its re-initialised layers' statistics
TRAINS_BATCHNORM = {"neggrad": False, "scrub": True, "salun": True, "cfk": False, "l1sparse": True,
                    "badteacher": True, "fcs": True, "msg": True, "cfw": True}


def generator(seed=7):
    return runtime.generator(CPU, seed)


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def same_parameters(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def trained_like(model, seed=0):
    """Non-trivial BatchNorm statistics and affine parameters, so every term of the algebra counts."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in model.norms:
            norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=g) * 0.3)
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=g) + 0.5)
            norm.weight.copy_(1 + 0.3 * torch.randn(norm.weight.shape, generator=g))
            norm.bias.copy_(0.3 * torch.randn(norm.bias.shape, generator=g))
    return model


# The engine


@pytest.mark.parametrize("batch_statistics", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_engine_gradient_is_autograds_for_any_loss_on_the_logits(dropout, batch_statistics):
    """Running statistics (evaluation mode) or the batch's (training mode, which also moves the running ones)."""
    model = trained_like(make_ensemble(3, dropout=dropout)).eval()
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(3, 10, 8, generator=g), torch.randint(0, 2, (3, 10), generator=g)
    teacher = torch.randn(3, 10, 2, generator=g)
    keep = engine.keep_mask(model, 10, g)
    before = [norm.running_mean.clone() for norm in model.norms]
    net = steps.network(model)
    net.gradient(X, lambda z: steps.ce_grad(z, y, 0.7) + steps.loss_grad(steps.distill_kl, z, teacher, 4.0), keep,
                 batch_statistics=batch_statistics)
    model.train(batch_statistics)
    logits = reference_logits(model, X, keep).transpose(1, 2)
    loss = 0.7 * F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(1).sum() + \
        steps.distill_kl(logits, teacher, 4.0)
    expected = torch.autograd.grad(loss, list(model.parameters()))
    for (name, _), e in zip(model.named_parameters(), expected):
        if batch_statistics and name in ("linears.0.bias", "linears.1.bias"):
            assert torch.equal(net.grad[name], torch.zeros_like(e)) and e.abs().max() < 1e-5  # BatchNorm cancels them
        else:
            torch.testing.assert_close(net.grad[name], e)
    for ours, torchs, mean in zip(net.model.norms, model.norms, before):  # as nn.BatchNorm1d moves them, or not
        assert torch.equal(ours.running_mean, mean) == (not batch_statistics)
        torch.testing.assert_close(ours.running_mean, torchs.running_mean)
        torch.testing.assert_close(ours.running_var, torchs.running_var)


@pytest.mark.parametrize("name", ["neggrad", "cfw"])
def test_a_method_on_large_tables_runs_in_blocks_the_same_in_one_process_or_two(name, small_splits, monkeypatch):
    """Past METHOD_BLOCK_ROWS retain rows the models split in two blocks, each unlearned alone from its own stream,
    in two processes at two threads and in one at one thread, with the same bits."""
    monkeypatch.setattr(engine, "METHOD_BLOCK_ROWS", 100)
    model = trained_like(make_ensemble(4))
    setting = {"neggrad": (0.9, 1, 1.0), "cfw": 0.1}[name]
    before, outs = torch.get_num_threads(), []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outs.append(METHODS[name].apply(model, setting, generator(), small_splits, BASELINE_PARAMS))
    finally:
        torch.set_num_threads(before)
    assert same(*outs)
    streams = engine.block_streams([[slice(0, 2), slice(2, 4)]], generator())
    alone = METHODS[name].apply.__wrapped__(model.select(slice(2, 4)), setting, streams[2], small_splits,
                                            BASELINE_PARAMS)
    assert same(alone, outs[0].select(slice(2, 4)))
    assert not same(outs[0].select(slice(0, 2)), model.select(slice(0, 2)))


def test_retain_statistics_are_those_of_the_retain_rows_with_dropout_below():
    model = trained_like(make_ensemble(2, dropout=0.0))
    X = torch.randn(500, 8, generator=torch.Generator().manual_seed(2))
    steps.retain_statistics(model, X, generator())
    z = first_layer(model, X)  # (K, h, n)
    torch.testing.assert_close(model.norms[0].running_mean, z.mean(dim=2))
    torch.testing.assert_close(model.norms[0].running_var, z.var(dim=2))


# Known answers


def test_neggrad_at_alpha_one_is_fine_tuning_on_the_same_batches(small_splits):
    model = trained_like(make_ensemble(3))
    out = baselines.neggrad(model, (1.0, 2, 3.0), generator(), small_splits, BASELINE_PARAMS)
    (g_retain,) = runtime.streams(generator(), "retain")
    net = steps.network(model)
    lr = 3.0 * 0.01 * 16 / 256  # three times DeepUnlearn's learning rate, rescaled linearly from batch 256 to 16
    baselines.fine_tune(net, steps.sgd(net, lr), small_splits.X_retain, small_splits.y_retain, epochs=2,
                        batch_size=16, generator=g_retain)
    assert same(out, net.result())
    assert not same(out, model)


def test_scrub_without_max_steps_and_alpha_zero_is_fine_tuning_with_gamma_ce(small_splits, monkeypatch):
    model = trained_like(make_ensemble(3))
    regime = baselines.ScrubRegime(0, 2, 0.5, 32, 0.0, 0.7, 4.0, ())
    monkeypatch.setitem(baselines.SCRUB_REGIMES, "selective", regime)
    out = baselines.scrub(model, 0.01, generator(), small_splits, BASELINE_PARAMS)
    (g_retain,) = runtime.streams(generator(), "retain")
    net = steps.network(model)
    optimizer = steps.sgd(net, 0.01 * 16 / 32, weight_decay=baselines.SCRUB_WEIGHT_DECAY)
    baselines.fine_tune(net, optimizer, small_splits.X_retain, small_splits.y_retain, epochs=2, batch_size=16,
                        generator=g_retain, scale=0.7, batch_statistics=True)
    assert same(out, net.result())


def test_scrub_takes_the_authors_class_setting_for_a_class_request_and_the_selective_one_otherwise():
    for forget, regime in [("class:Adelie", "class"), ("random", "selective"), ("where:age > 3", "selective"),
                           ("ids:rows.csv", "selective")]:
        assert baselines.scrub_regime({"forget": forget}) is baselines.SCRUB_REGIMES[regime]
    assert baselines.SCRUB_REGIMES["class"].max_epochs == 2 and baselines.SCRUB_REGIMES["selective"].max_epochs == 3


def test_salun_mask_of_zero_moves_the_weights_by_weight_decay_alone(small_splits, monkeypatch):
    """The mask multiplies the loss's gradient, not the weight decay the optimiser adds (as the authors' code)."""
    model = trained_like(make_ensemble(3))
    decayed = baselines.salun(model, (0.0, 1.0), generator(), small_splits, BASELINE_PARAMS)
    assert not same_parameters(decayed, model)
    monkeypatch.setattr(baselines, "SALUN_WEIGHT_DECAY", 0.0)
    out = baselines.salun(model, (0.0, 1.0), generator(), small_splits, BASELINE_PARAMS)
    assert out is not model and same_parameters(out, model)


def test_salun_mask_of_one_is_random_labelling(small_splits):
    model = trained_like(make_ensemble(3))
    out = baselines.salun(model, (1.0, 3.0), generator(), small_splits, BASELINE_PARAMS)
    plain = baselines.random_labelling(model, 3.0, generator(), small_splits, BASELINE_PARAMS)
    assert same(out, plain)
    assert not same(out, model)


def test_salun_mask_keeps_the_weights_with_the_largest_forget_gradients(small_splits):
    model = trained_like(make_ensemble(3))
    mask = baselines.saliency_mask(model, small_splits, 0.3)
    net = steps.network(model)
    steps.mean_gradient(net, small_splits.X_forget, small_splits.y_forget)
    size = net.flat_grads.abs()
    assert (mask.sum(dim=1) == int(0.3 * mask.shape[1])).all()
    for k in range(3):  # every kept weight's |gradient| is at least every other's
        assert size[k][mask[k] == 1].min() >= size[k][mask[k] == 0].max()


@pytest.mark.parametrize("k", [1, 2])
def test_cfk_leaves_every_layer_but_the_last_k_bit_identical(k, small_splits):
    model = trained_like(make_ensemble(3))
    out = baselines.cfk(model, k, generator(), small_splits, BASELINE_PARAMS)
    first = len(model.linears) - k
    before, after = model.state_dict(), out.state_dict()
    for name, value in before.items():
        layer = int(name.split(".")[1])
        if layer < first:
            assert torch.equal(value, after[name]), name
        elif name.startswith("linears"):
            assert not torch.equal(value, after[name]), name


@pytest.mark.parametrize("k", [1, 2])
def test_euk_reinitialises_the_last_k_layers_as_a_fresh_model_would(k, small_splits):
    model = trained_like(make_ensemble(3))
    out = baselines.euk(model, k, generator(), small_splits, {**BASELINE_PARAMS, "epochs": 0})
    _, g_init, _ = runtime.streams(generator(), "retain", "init", "statistics")
    fresh = steps.fresh_model(model, g_init)
    first = len(model.linears) - k
    for name, value in out.named_parameters():
        layer = int(name.split(".")[1])
        reference = dict((fresh if layer >= first else model).named_parameters())[name]
        assert torch.equal(value, reference), name
    for i, norm in enumerate(out.norms):  # statistics recomputed only where layers were re-initialised
        assert torch.equal(norm.running_mean, model.norms[i].running_mean) == (i < first)


def test_l1_with_weight_zero_is_fine_tuning(small_splits):
    model = trained_like(make_ensemble(3))
    out = baselines.l1_sparse(model, 0.0, generator(), small_splits, BASELINE_PARAMS)
    (g_retain,) = runtime.streams(generator(), "retain")
    net = steps.network(model)
    optimizer = steps.sgd(net, 0.01 * 16 / 256, weight_decay=baselines.L1_WEIGHT_DECAY)
    baselines.fine_tune(net, optimizer, small_splits.X_retain, small_splits.y_retain,
                        epochs=BASELINE_PARAMS["l1_epochs"], batch_size=16, generator=g_retain, batch_statistics=True)
    assert same(out, net.result())
    assert not same(out, baselines.l1_sparse(model, 1e-3, generator(), small_splits, BASELINE_PARAMS))


def test_bad_teacher_loss_is_zero_when_the_student_equals_the_teachers_on_their_rows():
    g = torch.Generator().manual_seed(3)
    targets = torch.randn(3, 12, 4, generator=g)  # competent on some rows, incompetent on others: any logits
    assert baselines.bad_teacher_loss(targets, targets).abs() < 1e-6
    assert steps.loss_grad(baselines.bad_teacher_loss, targets, targets).abs().max() < 1e-6
    assert baselines.bad_teacher_loss(torch.randn(3, 12, 4, generator=g), targets) > 0.01


# Forget-set gradient directions, on a two-row toy problem: one retain row, one forget row


@pytest.fixture
def toy():
    g = torch.Generator().manual_seed(5)
    X = torch.randn(2, 8, generator=g)
    from types import SimpleNamespace
    return SimpleNamespace(X_retain=X[:1], y_retain=torch.tensor([0]), X_forget=X[1:], y_forget=torch.tensor([1]),
                           X_test=X[:1], y_test=torch.tensor([0]))


def _forget_ce(model, splits):
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(splits.X_forget), splits.y_forget.expand(model.n_models, -1),
                               reduction="none").mean(dim=1)


def _forget_confidence(model, splits):
    model.eval()
    with torch.no_grad():
        return model(splits.X_forget).softmax(dim=1).amax(dim=1).mean(dim=1)


def test_neggrad_ascends_the_forget_loss(toy):
    model = trained_like(make_ensemble(2, dropout=0.0))
    out = baselines.neggrad(model, (0.0, 1, 1.0), generator(), toy, {**BASELINE_PARAMS, "finetune_batch_size": 1})
    assert (_forget_ce(out, toy) > _forget_ce(model, toy)).all()


def test_fcs_first_stage_pulls_the_forget_outputs_towards_uniform_as_strongly_as_its_weight(small_splits):
    model = trained_like(make_ensemble(2, dropout=0.0))
    before = _forget_confidence(model, small_splits)
    weak, strong = (competition.fcs(model, (0, weight), generator(), small_splits, BASELINE_PARAMS)
                    for weight in (0.3, 1.0))
    assert (_forget_confidence(strong, small_splits) < _forget_confidence(weak, small_splits)).all()
    assert (_forget_confidence(weak, small_splits) < before).all()


def test_scrub_max_step_moves_the_student_away_from_the_teacher():
    g = torch.Generator().manual_seed(6)
    student, teacher = torch.randn(2, 1, 2, generator=g), torch.randn(2, 1, 2, generator=g)
    ascent = -steps.loss_grad(steps.distill_kl, student, teacher, 4.0)  # SCRUB's max-step gradient
    moved = student - 0.01 * ascent
    assert steps.distill_kl(moved, teacher, 4.0) > steps.distill_kl(student, teacher, 4.0)


def test_bad_teacher_and_salun_descend_towards_their_forget_targets():
    g = torch.Generator().manual_seed(8)
    student, incompetent = torch.randn(2, 1, 2, generator=g), torch.randn(2, 1, 2, generator=g)
    moved = student - 0.01 * steps.loss_grad(baselines.bad_teacher_loss, student, incompetent)
    assert baselines.bad_teacher_loss(moved, incompetent) < baselines.bad_teacher_loss(student, incompetent)
    random_label = torch.tensor([[1], [0]])
    moved = student - 0.1 * steps.ce_grad(student, random_label)
    ce = lambda z: F.cross_entropy(z.transpose(1, 2), random_label)  # noqa: E731
    assert ce(moved) < ce(student)


def test_msg_scores_subtract_the_forget_gradient(toy):
    model = trained_like(make_ensemble(2, dropout=0.0))
    scores = competition.msg_scores(model, toy, generator())
    net = steps.network(model)
    steps.mean_gradient(net, toy.X_retain, toy.y_retain)  # the retain subset is the single retain row
    steps.mean_gradient(net, toy.X_forget, toy.y_forget, scale=-1.0)
    for name, s in scores.items():
        torch.testing.assert_close(s, net.grad[name].abs())


# Every new method


@pytest.mark.parametrize("name", list(STRENGTH_ZERO))
def test_each_baseline_at_strength_zero_leaves_the_weights_unchanged(name, small_splits):
    """Bit for bit; a method in training mode still moves BatchNorm's running statistics if it takes steps."""
    model = trained_like(make_ensemble(3))
    out = METHODS[name].apply(model, STRENGTH_ZERO[name], generator(), small_splits, BASELINE_PARAMS)
    assert out is not model and same_parameters(out, model)


@pytest.mark.parametrize("name", list(TRAINS_BATCHNORM))
def test_a_method_moves_batchnorms_running_statistics_exactly_when_its_authors_train_them(name, small_splits):
    model = trained_like(make_ensemble(2))
    out = METHODS[name].apply(model, SETTING[name], generator(), small_splits, BASELINE_PARAMS)
    for ours, theirs in zip(out.buffers(), model.buffers()):
        assert torch.equal(ours, theirs) != TRAINS_BATCHNORM[name]


def test_step_decay_counts_epochs_as_each_authors_loop_does():
    scrub = steps.step_decay(1.0, (3, 5, 9), counted_from=1)  # SCRUB's notebooks: epochs 1 to E
    assert [scrub(e) for e in range(5)] == pytest.approx([1, 1, 1, 0.1, 0.1])
    deepunlearn = steps.step_decay(1.0, (5, 8, 9), counted_from=0)  # DeepUnlearn's CF-k: epochs 0 to E - 1
    assert [deepunlearn(e) for e in range(10)] == pytest.approx([1] * 6 + [0.1] * 3 + [0.01])


def test_the_engine_without_a_mask_is_the_model_in_evaluation_mode():
    """No mask, no dropout: the forward is the seed's evaluation forward, dropout rate or not."""
    model = trained_like(make_ensemble(3, dropout=0.3)).eval()
    X = torch.randn(3, 10, 8, generator=torch.Generator().manual_seed(4))
    logits, _ = engine.Stack.of(model).forward(X)
    torch.testing.assert_close(logits, reference_logits(model, X))


@pytest.mark.parametrize("optimiser, factor", [("sgd", 32 / 256), ("adam", (32 / 256) ** 0.5)])
def test_a_learning_rate_is_rescaled_linearly_for_sgd_and_by_the_square_root_for_adam(optimiser, factor):
    assert steps.rescaled_lr(0.01, 256, 32, optimiser) == pytest.approx(0.01 * factor)
    assert steps.rescaled_lr(0.01, 64, 64, optimiser) == 0.01


def test_each_methods_learning_rate_is_its_authors_at_their_batch_rescaled_to_ours(small_splits, monkeypatch):
    """The rate every optimiser starts at, per method: the authors' rate and batch as docs/methods.md lists them."""
    seen = {}

    def recording(name):
        def make(net, lr, *args, **kwargs):
            seen.setdefault(name, []).append(lr)
            return original[name](net, lr, *args, **kwargs)
        return make

    original = {"sgd": steps.sgd, "adam": steps.adam}
    model = trained_like(make_ensemble(2))
    b = BASELINE_PARAMS["finetune_batch_size"]
    expected = {"neggrad": [0.01 * b / 256], "salun": [0.013 * b / 256], "l1sparse": [0.01 * b / 256],
                "cfk": [0.01 * b / 256], "badteacher": [1e-4 * (b / 256) ** 0.5], "msg": [0.001 * b / 64],
                "cfw": [0.0007 * b / 64], "fcs": [0.005 * b / 256, 3e-4 * b / 256, 0.004 * b / 256]}
    settings = {**SETTING, "badteacher": (1, 1e-4)}
    for name, rates in expected.items():
        seen.clear()
        for module in (baselines, competition):
            for optimiser in original:
                if hasattr(module, optimiser):
                    monkeypatch.setattr(module, optimiser, recording(optimiser))
        METHODS[name].apply(model, settings[name], generator(), small_splits, BASELINE_PARAMS)
        monkeypatch.undo()
        assert [lr for lrs in seen.values() for lr in lrs] == pytest.approx(rates), name


@pytest.mark.parametrize("name", NEW)
def test_each_model_gets_its_own_batches_and_draws(name, small_splits):
    model = trained_like(make_ensemble(2))
    with torch.no_grad():
        for p in [*model.parameters(), *model.buffers()]:
            p[1] = p[0]  # two identical models
    before = copy.deepcopy(model)
    out = METHODS[name].apply(model, SETTING[name], generator(), small_splits, BASELINE_PARAMS)
    assert same(model, before)  # the input is untouched
    assert all(torch.isfinite(p).all() for p in out.parameters())
    assert any(not torch.equal(p[0], p[1]) for p in out.parameters())


def test_repair_with_a_method_is_the_noise_then_that_method(small_splits):
    model = trained_like(make_ensemble(2))
    params = {**BASELINE_PARAMS, "repair_with": "neggrad", "neggrad_alphas": [0.9], "neggrad_epochs": [1],
              "neggrad_lr_factors": [1.0]}
    out = METHODS["repair"].apply(model, (0.9, 1, 1.0), generator(), small_splits, params)
    g = generator()
    noisy = METHODS["gaussian"].apply(model, params["repair_base_value"], runtime.substream(g, "noise"), small_splits, params)
    assert same(out, baselines.neggrad(noisy, (0.9, 1, 1.0), g, small_splits, params))
    assert METHODS["repair"].settings(params) == METHODS["neggrad"].settings(params) == {
        "alpha=0.9, epochs=1, lr×=1": (0.9, 1, 1.0)}
    assert METHODS["repair"].settings({**params, "repair_with": "finetune"}) == {"steps=0": 0, "steps=5": 5}


@pytest.mark.parametrize("repair_with, setting", [("finetune", 5), ("neggrad", (0.9, 1, 1.0))])
def test_repair_with_zero_noise_is_its_control_exactly(small_splits, repair_with, setting):
    """Common random numbers: the repair draws the batches and masks its control draws; only the noise differs."""
    model = trained_like(make_ensemble(2))
    params = {**BASELINE_PARAMS, "repair_with": repair_with, "repair_base": "gaussian", "repair_base_value": 0.0}
    repaired = METHODS["repair"].apply(model, setting, generator(), small_splits, params)
    assert same(repaired, METHODS[repair_with].apply(model, setting, generator(), small_splits, params))
    noisy = METHODS["repair"].apply(model, setting, generator(), small_splits, {**params, "repair_base_value": 0.01})
    assert not same(noisy, repaired)


def test_noise_then_repair_and_its_control_share_a_stream_per_setting():
    params = {"noise_seed": 0, "repair_with": "finetune"}
    seeds = {(name, label): evaluation.method_generator(torch.device("cpu"), params, name, label).initial_seed()
             for name in ("repair", "finetune", "neggrad") for label in ("steps=5", "steps=10")}
    assert seeds[("repair", "steps=5")] == seeds[("finetune", "steps=5")] != seeds[("finetune", "steps=10")]
    assert seeds[("neggrad", "steps=5")] not in (seeds[("repair", "steps=5")], seeds[("neggrad", "steps=10")])


# Class forgetting, on a three-class table: the class grids reach it


@pytest.fixture(scope="module")
def class_request():
    """Two models trained on a three-class table, and the splits of forgetting class 0 (every training row of it)."""
    X, y = reading.make_synthetic(n_samples=600, n_features=8, n_informative=6, n_redundant=1, n_classes=3,
                                  flip_y=0.0, seed=1)
    table = tensors.split(X, y, test_ratio=0.25, forget_ratio=0.1, seed=0)
    X_train, y_train = torch.cat([table.X_retain, table.X_forget]), torch.cat([table.y_retain, table.y_forget])
    kept = y_train != 0
    splits = tensors.Splits(X_train[kept], y_train[kept], X_train[~kept], y_train[~kept], table.X_test, table.y_test)
    model = MLPEnsemble(2, 8, [32, 16], 3, 0.1, runtime.generator(CPU, 0, "class"))
    train_ensemble(model, X_train, y_train, epochs=30, batch_size=32, lr=3e-3, generator=runtime.generator(CPU, 1))
    return model, splits


def _forget_accuracy(model, splits):
    model.eval()
    with torch.no_grad():
        return (model(splits.X_forget).argmax(dim=1) == splits.y_forget).float().mean().item()


@pytest.mark.parametrize("name, setting, below", [
    ("neggrad", (0.9, 10, 1.0), 0.2), ("salun", (0.5, 3.0), 0.2), ("scrub", 0.05, 0.2),
    # the incompetent teacher predicts each class about as often: its students reach chance (1/3), not below
    ("badteacher", (10, 0.01), 0.45)])
def test_class_forgetting_on_the_class_grid_drives_forget_accuracy_down(name, setting, below, class_request):
    model, splits = class_request
    params = {**params_defaults(), "forget": "class:0", "epochs": 30}  # the authors' settings, as the defaults
    assert setting in CATALOG[name].settings(params).values()
    assert _forget_accuracy(model, splits) > 0.9
    out = METHODS[name].apply(model, setting, generator(), splits, params)
    assert _forget_accuracy(out, splits) < below
