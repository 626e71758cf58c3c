import copy
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from conftest import CPU, first_layer, make_ensemble, reference_logits
from nbutils import engine, runtime
from nbutils.catalog import CATALOG
from nbutils.methods import METHODS, Method, certified, dampening, finetune, fisher, gradients, importance, noise

PARAMS = dict(adaptive_importance_weight=2.0, finetune_lr=0.1, finetune_batch_size=16, repair_base="gaussian",
              repair_base_value=0.05, certified_delta=1e-5, certified_radius=100.0, certified_repair_steps=0,
              langevin_clip_quantile=0.0, langevin_l2=0.0)


@pytest.fixture
def forget():
    g = torch.Generator().manual_seed(3)
    return SimpleNamespace(X_forget=torch.randn(40, 8, generator=g), y_forget=torch.randint(0, 2, (40,), generator=g))


def diffs(before, after):
    return {name: b - a for (name, a), b in zip(before.named_parameters(), after.parameters())}


def with_random_norm_statistics(model, seed=0):
    """BatchNorm with non-trivial running statistics and affine parameters, so every term of the algebra counts."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for norm in model.norms:
            norm.running_mean.copy_(torch.randn(norm.running_mean.shape, generator=g))
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=g) + 0.5)
            norm.weight.copy_(torch.randn(norm.weight.shape, generator=g))
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=g))
    return model


# The seed's five methods


@pytest.mark.parametrize("name, zero", [("gaussian", 0.0), ("laplacian", 0.0), ("adaptive", 0.0),
                                        ("layerwise", [0.0, 0.0, 0.0]), ("gradient", 0.0)])
def test_zero_noise_changes_nothing(name, zero, forget):
    model = make_ensemble(3)
    out = METHODS[name].apply(model, zero, runtime.generator(CPU, 1), forget, PARAMS)
    for d in diffs(model, out).values():
        assert torch.count_nonzero(d) == 0
    assert out is not model


@pytest.mark.parametrize("name, level, expected_std", [
    ("gaussian", 0.05, 0.05),
    ("laplacian", 0.05, 0.05 * 2 ** 0.5),  # Laplace(0, b) has standard deviation b * sqrt(2)
])
def test_noise_spread_matches_its_level(name, level, expected_std):
    model = make_ensemble(16, hidden=(64, 32))
    out = METHODS[name].apply(model, level, runtime.generator(CPU, 2), None, PARAMS)
    values = torch.cat([d.flatten() for d in diffs(model, out).values()])
    assert values.std().item() == pytest.approx(expected_std, rel=0.03)
    assert values.mean().item() == pytest.approx(0, abs=0.01 * expected_std * 10)


def test_each_model_gets_its_own_draw():
    model = make_ensemble(2)
    with torch.no_grad():
        for p in model.parameters():
            p[1] = p[0]
    out = noise.gaussian(model, 0.1, runtime.generator(CPU, 0))
    w = out.linears[0].weight
    assert not torch.equal(w[0], w[1])


def test_layerwise_touches_only_linear_layers_with_their_own_sigma():
    model = make_ensemble(32, hidden=(64, 32))
    sigmas = [0.01, 0.05, 0.2]
    out = noise.layerwise(model, sigmas, runtime.generator(CPU, 4))
    for name, d in diffs(model, out).items():
        if name.startswith("norms."):
            assert torch.count_nonzero(d) == 0, name
        else:
            layer = int(name.split(".")[1])
            assert d.std().item() == pytest.approx(sigmas[layer], rel=0.1), name


def test_gradient_noise_is_zero_where_the_forget_gradient_is_zero(forget):
    forget.X_forget[:, 2] = 0.0  # no gradient reaches the first layer's weights of feature 2
    model = make_ensemble(4)
    grads = noise.forget_gradients(model, forget.X_forget, forget.y_forget)
    out = noise.gradient(model, 1.0, runtime.generator(CPU, 5), forget)
    d = diffs(model, out)
    assert torch.count_nonzero(grads["linears.0.weight"][:, :, 2]) == 0
    assert torch.count_nonzero(d["linears.0.weight"][:, :, 2]) == 0
    for name, g in grads.items():
        assert torch.all(d[name][g == 0] == 0)
        assert torch.count_nonzero(d[name][g != 0]) > 0
    # and it scales with |gradient|: noise / |gradient| is standard normal
    ratio = torch.cat([(d[n][g != 0] / g[g != 0].abs()).flatten() for n, g in grads.items()])
    assert ratio.std().item() == pytest.approx(1.0, rel=0.05)


def test_adaptive_sigma_is_base_times_one_plus_weight_times_importance(forget):
    model = make_ensemble(64, hidden=(32, 16))
    base, weight = 0.01, 2.0
    grads = noise.forget_gradients(model, forget.X_forget, forget.y_forget)
    importance = {n: g.abs().flatten(1).mean(1) for n, g in grads.items()}
    largest = torch.stack(list(importance.values())).amax(0)
    out = noise.adaptive(model, base, runtime.generator(CPU, 6), forget, {"adaptive_importance_weight": weight})
    standardised, top = [], []
    for name, d in diffs(model, out).items():
        sigma = base * (1 + weight * importance[name] / largest)  # (K,)
        z = d.flatten(1) / sigma[:, None]
        standardised.append(z.flatten())
        is_top = importance[name] == largest  # the most important tensor gets base * (1 + weight)
        top.append(d.flatten(1)[is_top].flatten())
    assert torch.cat(standardised).std().item() == pytest.approx(1.0, rel=0.03)
    assert torch.cat(top).std().item() == pytest.approx(base * (1 + weight), rel=0.05)


# Per-example gradients


def per_example_autograd(model, X, y, keep=None):
    """Each row's cross-entropy gradient, row by row with autograd through the seed's forward pass, X (K, B, F):
    {name: (B, *param shape)}."""
    rows = []
    for b in range(y.shape[-1]):
        logits = reference_logits(model, X[:, b:b + 1], None if keep is None else keep[:, b:b + 1])
        loss = F.cross_entropy(logits, y[:, b:b + 1], reduction="sum")
        rows.append(torch.autograd.grad(loss, list(model.parameters())))
    return {name: torch.stack([r[i] for r in rows]) for i, (name, _) in enumerate(model.named_parameters())}


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_per_example_algebra_matches_autograd_row_by_row(dropout):
    model = with_random_norm_statistics(make_ensemble(3, dropout=dropout)).eval()
    g = torch.Generator().manual_seed(1)
    X, y = torch.randn(3, 10, 8, generator=g), torch.randint(0, 2, (3, 10), generator=g)
    keep = engine.keep_mask(model, 10, g)
    reference = per_example_autograd(model, X, y, keep)
    stack = engine.Stack.of(model)
    cache, deltas, logits = finetune.row_deltas(stack, X, y, keep)
    sums = gradients.squared_sums(stack, cache, deltas)
    norms = sum(r.transpose(0, 1).flatten(2).square().sum(2) for r in reference.values())  # (K, B)
    torch.testing.assert_close(stack.row_norms(cache, deltas, logits), norms.sqrt())
    weights = torch.rand(3, 10, generator=g)
    stack.sum_rows(cache, [[t * weights.unsqueeze(2) for t in part] for part in deltas])
    for name, r in reference.items():
        torch.testing.assert_close(sums[name], r.square().sum(0))
        w = weights.T.reshape(10, 3, *[1] * (r.dim() - 2))
        torch.testing.assert_close(stack.grad[name], (r * w).sum(0))


@pytest.mark.parametrize("clip", [None, 0.5])
def test_fine_tuning_step_is_the_mean_of_each_rows_clipped_autograd_gradient(clip):
    model = with_random_norm_statistics(make_ensemble(3, dropout=0.5)).eval()
    g = torch.Generator().manual_seed(4)
    X, y = torch.randn(3, 10, 8, generator=g), torch.randint(0, 2, (3, 10), generator=g)
    keep = engine.keep_mask(model, 10, g)
    reference = per_example_autograd(model, X, y, keep)  # by name, (B, K, *shape)
    stack = engine.Stack.of(model)
    finetune.clipped_gradient(stack, X, y, keep, clip)
    norms = sum(r.flatten(2).square().sum(2) for r in reference.values()).sqrt()  # (B, K)
    weights = (clip / norms).clamp(max=1) / 10 if clip else torch.full_like(norms, 1 / 10)
    for name, r in reference.items():
        w = weights.reshape(10, 3, *[1] * (r.dim() - 2))
        torch.testing.assert_close(stack.grad[name], (r * w).sum(0))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_expected_fisher_weighs_each_label_by_its_predicted_probability(dropout):
    """Evaluation mode: no dropout, whatever the model's rate."""
    model = with_random_norm_statistics(make_ensemble(2, dropout=dropout)).eval()
    X = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
    expected = {name: 0 for name, _ in model.named_parameters()}
    probs = model(X).softmax(dim=1).detach()  # (K, C, B)
    for c in range(2):
        per_row = per_example_autograd(model, X.expand(2, -1, -1), torch.full((2, 6), c))
        for name, r in per_row.items():
            p = probs[:, c, :].T.reshape(6, 2, *[1] * (r.dim() - 2))
            expected[name] = expected[name] + (p * r.square()).sum(0) / 6
    for name, f in gradients.expected_fisher(model, X).items():
        torch.testing.assert_close(f, expected[name])


# Fisher forgetting


def test_fisher_noise_is_smaller_where_the_retain_fisher_is_larger(small_splits):
    model = make_ensemble(8, hidden=(32, 16)).eval()
    alpha = 1e-6
    std = fisher.noise_std(model, small_splits.X_retain, alpha)
    information = gradients.expected_fisher(model, small_splits.X_retain)
    f = torch.cat([information[n].flatten() for n in std if not n.startswith("linears.2.")])
    s = torch.cat([std[n].flatten() for n in std if not n.startswith("linears.2.")])
    order = f.argsort()
    assert torch.all(s[order].diff() <= 1e-12)  # non-increasing in the Fisher
    assert s[order[-1]] < s[order[0]]
    assert s.max().item() == pytest.approx(math.sqrt(alpha * fisher.MAX_INVERSE_FISHER), rel=1e-5)
    out = fisher.fisher_forgetting(model, alpha, runtime.generator(CPU, 3), small_splits)
    z = torch.cat([(d / std[n]).flatten() for n, d in diffs(model, out).items()])
    assert z.std().item() == pytest.approx(1.0, rel=0.05)


# Fine-tuning, repair, Langevin


def test_repair_with_no_steps_is_the_bare_noise_method(small_splits):
    model = make_ensemble(4)
    params = {**PARAMS, "repair_base": "gaussian", "repair_base_value": 0.05}
    repaired = METHODS["repair"].apply(model, 0, runtime.generator(CPU, 9), small_splits, params)
    bare = METHODS["gaussian"].apply(model, 0.05, runtime.substream(runtime.generator(CPU, 9), "noise"), small_splits,
                                     params)  # noise then repair draws its noise from a stream of its own
    for a, b in zip(repaired.parameters(), bare.parameters()):
        assert torch.equal(a, b)
    steps = METHODS["repair"].apply(model, 5, runtime.generator(CPU, 9), small_splits, params)
    assert not torch.equal(steps.linears[0].weight, bare.linears[0].weight)


def test_finetuning_with_learning_rate_zero_changes_nothing(small_splits):
    model = make_ensemble(3)
    out = METHODS["finetune"].apply(model, 20, runtime.generator(CPU, 1), small_splits, {**PARAMS, "finetune_lr": 0.0})
    for a, b in zip([*model.parameters(), *model.buffers()], [*out.parameters(), *out.buffers()]):
        assert torch.equal(a, b)


def test_finetuning_lowers_the_retain_loss(small_splits):
    model = make_ensemble(3)

    def loss(m):
        return F.cross_entropy(m.eval()(small_splits.X_retain), small_splits.y_retain.expand(3, -1)).item()

    out = METHODS["finetune"].apply(model, 50, runtime.generator(CPU, 1), small_splits, PARAMS)
    assert loss(out) < loss(model)


def test_langevin_without_noise_or_clipping_is_gradient_descent(small_splits):
    model = make_ensemble(3, dropout=0.0)
    X, y, lr, steps = small_splits.X_retain, small_splits.y_retain, 0.1, 5
    params = {**PARAMS, "finetune_lr": lr, "finetune_batch_size": len(X)}  # full batches, no clip, no L2 term
    out = METHODS["langevin"].apply(model, (0.0, steps), runtime.generator(CPU, 2), small_splits, params)
    descended = copy.deepcopy(model).eval()
    for _ in range(steps):
        per_model = F.cross_entropy(descended(X), y.expand(3, -1), reduction="none").mean(dim=1)
        grads = torch.autograd.grad(per_model.sum(), list(descended.parameters()))
        with torch.no_grad():
            for p, g in zip(descended.parameters(), grads):
                p.sub_(lr * g)
    for a, b in zip(out.parameters(), descended.parameters()):
        torch.testing.assert_close(a, b)


def test_langevin_at_sigma_zero_without_clip_or_l2_term_is_the_finetuning_control(small_splits):
    """Same generator, same batches and dropout masks: plain SGD, bit for bit."""
    model = make_ensemble(4, dropout=0.3)
    out = METHODS["langevin"].apply(model, (0.0, 7), runtime.generator(CPU, 2), small_splits, PARAMS)
    control = METHODS["finetune"].apply(model, 7, runtime.generator(CPU, 2), small_splits, PARAMS)
    for a, b in zip(out.parameters(), control.parameters()):
        assert torch.equal(a, b)


def test_langevin_clipped_control_draws_the_batches_of_fine_tuning(small_splits, monkeypatch):
    """The clip's quantile pass draws from a stream of its own: with a clip no row reaches (ten times the
    largest norm that pass sees), the clipped run at sigma = 0 is the fine-tuning control up to rounding."""
    model = make_ensemble(4, dropout=0.3)
    params = {**PARAMS, "langevin_clip_quantile": 1.0}
    clip = finetune.gradient_norm_quantile(model, small_splits.X_retain, small_splits.y_retain, 1.0,
                                           runtime.generator(CPU, 9))
    assert clip.shape == (4,) and torch.all(clip > 0)
    quantile = finetune.gradient_norm_quantile
    monkeypatch.setattr(finetune, "gradient_norm_quantile", lambda *args, **kwargs: 10 * quantile(*args, **kwargs))
    one = METHODS["langevin"].apply(model, (0.0, 1), runtime.generator(CPU, 2), small_splits, params)
    control = METHODS["finetune"].apply(model, 1, runtime.generator(CPU, 2), small_splits, params)
    moved = [(a - m).abs().max() for a, b, m in zip(one.parameters(), control.parameters(), model.parameters())]
    assert max(moved) > 0
    for a, b in zip(one.parameters(), control.parameters()):  # one step at the trained weights: nothing clipped
        torch.testing.assert_close(a, b)


def _per_row_gradients(model, X, y, l2):
    """Each row's gradient of CE + l2/2 |theta|^2 by autograd, flattened per model: (K, n, P)."""
    rows = []
    for i in range(len(X)):
        loss = F.cross_entropy(reference_logits(model, X[i:i + 1]), y[i:i + 1].expand(model.n_models, -1),
                               reduction="none").sum()
        loss = loss + l2 / 2 * sum(p.square().sum() for p in model.parameters())
        grads = torch.autograd.grad(loss, list(model.parameters()))
        rows.append(torch.cat([g.flatten(1) for g in grads], dim=1))
    return torch.stack(rows, dim=1)


def test_langevin_l2_term_and_clip_follow_their_formulas_on_a_toy_model(small_splits):
    """The fine-tuning gradient is mean_b clip(g_b + l2 * theta), its row norms |g_b + l2 * theta|, both by autograd,
    and the quantile clip is the quantile of those norms (no dropout, BatchNorm on its running statistics)."""
    model = make_ensemble(3, dropout=0.0).eval()
    X, y, l2 = small_splits.X_retain[:12], small_splits.y_retain[:12], 0.05
    rows = _per_row_gradients(model, X, y, l2)  # (K, B, P)
    norms = rows.norm(dim=2)
    stack = engine.Stack.of(model)
    with torch.no_grad():
        cache, deltas, logits = finetune.row_deltas(stack, X.expand(3, -1, -1), y.expand(3, -1), None)
        torch.testing.assert_close(stack.row_norms(cache, deltas, logits, l2), norms)
        clip = norms.median(dim=1).values.unsqueeze(1)  # (K, 1): about half the rows clipped
        clipped = (rows * (clip / norms).clamp(max=1).unsqueeze(2)).mean(dim=1)
        for bound, expected in [(None, rows.mean(dim=1)), (clip, clipped)]:
            finetune.clipped_gradient(stack, X.expand(3, -1, -1), y.expand(3, -1), None, bound, l2)
            torch.testing.assert_close(torch.cat([g.flatten(1) for g in stack.grads], dim=1), expected)
        quantile = finetune.gradient_norm_quantile(model, X, y, 0.9, runtime.generator(CPU, 0), l2)
    torch.testing.assert_close(quantile, torch.quantile(norms, 0.9, dim=1))
    zero = _per_row_gradients(model, X, y, 0.0)  # the L2 term's own gradient: l2 * theta
    theta = torch.cat([p.detach().flatten(1) for p in model.parameters()], dim=1)
    torch.testing.assert_close(rows - zero, (l2 * theta).unsqueeze(1).expand_as(rows))


def test_langevin_clips_each_rows_gradient_and_adds_noise_of_its_level(small_splits):
    model = make_ensemble(16, hidden=(64, 32))
    clip, lr = 1e-3, 0.1
    X, y = small_splits.X_retain, small_splits.y_retain

    def sgd(sigma):
        return finetune.retain_sgd(model, X, y, steps=1, lr=lr, batch_size=16, generator=runtime.generator(CPU, 3),
                                   clip=clip, sigma=sigma)

    one_step = sgd(0.0)
    moved = sum(d.flatten(1).square().sum(1) for d in diffs(model, one_step).values()).sqrt()
    assert torch.all(moved <= lr * clip * (1 + 1e-5))  # the mean of gradients of norm <= clip
    sigma = 0.01
    noisy = sgd(sigma)
    values = torch.cat([(b - a).flatten() for a, b in zip(one_step.parameters(), noisy.parameters())])
    assert values.std().item() == pytest.approx(sigma, rel=0.03)  # same batches and masks, plus the noise


def test_importances_are_computed_once_per_model_and_rows_and_each_reuse_is_charged(small_splits, monkeypatch):
    calls = []
    for module, name in [(fisher, "expected_fisher"), (dampening, "empirical_fisher")]:
        def counting(*args, real=getattr(module, name), name=name):  # noqa: B008 -- binds this iteration's function
            calls.append(name)
            return real(*args)
        monkeypatch.setattr(module, name, counting)
    model = make_ensemble(3).eval()
    first = fisher.noise_std(model, small_splits.X_retain, 1e-6)
    with importance.charged() as reused:
        second = fisher.noise_std(model, small_splits.X_retain, 1e-5)
        dampening.dampening_factors(model, small_splits, 3.0, 1.0)
        dampening.dampening_factors(model, small_splits, 4.0, 0.1)
    assert calls == ["expected_fisher", "empirical_fisher", "empirical_fisher"]
    assert len(reused) == 2 and min(reused) > 0  # the Fisher once, the dampening importances once
    for name, std in first.items():
        torch.testing.assert_close(second[name], std * 10 ** 0.5)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)  # a changed model: computed again
    fisher.noise_std(model, small_splits.X_retain, 1e-6)
    assert calls.count("expected_fisher") == 2


def test_fine_tuning_in_processes_is_fine_tuning_in_one_bit_for_bit(small_splits, monkeypatch):
    """Each block draws its masks and noise from a stream of its own, so stepping the blocks in forked
    processes changes no bit."""
    model = make_ensemble(5, dropout=0.3)
    monkeypatch.setattr(engine, "ROWS_PER_BLOCK", 16)  # two blocks even for these few models
    torch.set_num_threads(2)

    def tuned(parallel):
        monkeypatch.setattr(engine, "PARALLEL_BLOCKS", parallel)
        assert len(engine.model_groups(5, 16, CPU)) == (2 if parallel else 1)
        return finetune.retain_sgd(model, small_splits.X_retain, small_splits.y_retain, steps=7, lr=0.1,
                                   batch_size=16, generator=runtime.generator(CPU, 5), clip=1.0, sigma=0.01)

    for a, b in zip(tuned(False).parameters(), tuned(True).parameters()):
        assert torch.equal(a, b)


# Certified noise


def test_certified_sigma_follows_the_analytic_gaussian_mechanism():
    for epsilon in [0.1, 1.0, 10.0, 1e4]:
        sigma = certified.gaussian_sigma(epsilon, 1e-5, 2.0)
        assert certified.analytic_delta(epsilon, sigma, 2.0) == pytest.approx(1e-5, rel=1e-6)
        assert certified.gaussian_sigma(epsilon, 1e-5, 6.0) == pytest.approx(3 * sigma, rel=1e-9)  # linear in 2C
    classical = 2.0 * math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5  # valid for epsilon < 1; the analytic one is tighter
    assert certified.gaussian_sigma(0.5, 1e-5, 2.0) < classical
    assert certified.gaussian_sigma(math.inf, 1e-5, 2.0) == 0.0
    assert certified.certificate({**PARAMS, "certified_epsilons": [1.0]})["epsilon=1"] == (
        1.0, 1e-5, certified.gaussian_sigma(1.0, 1e-5, 200.0))


def test_certified_at_infinite_epsilon_leaves_a_model_inside_the_ball_unchanged(small_splits):
    model = make_ensemble(3)
    assert certified.projection_shift(model, PARAMS["certified_radius"]).max() == 0
    out = METHODS["certified"].apply(model, math.inf, runtime.generator(CPU, 4), small_splits, PARAMS)
    for a, b in zip(model.parameters(), out.parameters()):
        assert torch.equal(a, b)
    # BatchNorm's running statistics are the retain rows' own, whatever the trained ones were
    first = first_layer(out, small_splits.X_retain)  # (K, h, n)
    torch.testing.assert_close(out.norms[0].running_mean, first.mean(dim=2))
    torch.testing.assert_close(out.norms[0].running_var, first.var(dim=2))


def test_certified_recomputes_batchnorm_statistics_with_dropout_below_as_training_does(small_splits):
    """The statistics are those of the retain rows through the noisy model, dropout on below each BatchNorm,
    with the masks of the method's "statistics" stream (:func:`nbutils.methods.steps.retain_statistics`)."""
    model = make_ensemble(3, dropout=0.3)
    out = METHODS["certified"].apply(model, 1.0, runtime.generator(CPU, 4), small_splits, PARAMS)
    X = small_splits.X_retain
    keep = engine.keep_mask(model, len(X), runtime.substream(runtime.generator(CPU, 4), "statistics"))
    masks = [k.transpose(1, 2) / (1 - model.dropout) for k in keep.split(model.hidden_sizes, dim=2)]  # (K, h, n)
    a = X.T.expand(3, -1, -1)  # (K, F, n)
    for linear, norm, mask in zip(out.linears, out.norms, masks):
        z = torch.baddbmm(linear.bias, linear.weight, a)  # (K, h, n)
        mean, var = z.mean(dim=2), z.var(dim=2)  # training's running statistics: unbiased variance
        # the engine sums before adding the bias back (it cancels in BatchNorm): rounding of a few 1e-6
        torch.testing.assert_close(norm.running_mean, mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(norm.running_var, var, rtol=1e-5, atol=1e-5)
        normed = (z - mean.unsqueeze(2)) / (z.var(dim=2, unbiased=False).unsqueeze(2) + norm.eps).sqrt()
        a = (normed * norm.weight.unsqueeze(2) + norm.bias.unsqueeze(2)).relu() * mask
    assert not torch.allclose(out.norms[1].running_var, model.norms[1].running_var)


def test_certified_projects_onto_the_ball_and_reports_the_shift(small_splits):
    model = make_ensemble(3)
    norms = certified._norms(model)
    radius = norms.min().item() / 2
    out = METHODS["certified"].apply(model, math.inf, runtime.generator(CPU, 4), small_splits,
                                     {**PARAMS, "certified_radius": radius})
    torch.testing.assert_close(certified._norms(out), torch.full((3,), radius))
    torch.testing.assert_close(torch.as_tensor(certified.projection_shift(model, radius)), 1 - radius / norms)
    noisy = METHODS["certified"].apply(model, 1.0, runtime.generator(CPU, 4), small_splits,
                                       {**PARAMS, "certified_radius": radius})
    values = torch.cat([(b - a).flatten() for a, b in zip(out.parameters(), noisy.parameters())])
    assert values.std().item() == pytest.approx(certified.gaussian_sigma(1.0, 1e-5, 2 * radius), rel=0.05)


# Selective Synaptic Dampening


def test_dampening_leaves_parameters_with_low_forget_importance_untouched(small_splits):
    forget_X = small_splits.X_forget.clone()
    forget_X[:, 2] = 0.0  # no forget-set gradient reaches the first layer's weights of feature 2
    splits = SimpleNamespace(X_retain=small_splits.X_retain, y_retain=small_splits.y_retain,
                             X_forget=forget_X, y_forget=small_splits.y_forget)
    model = make_ensemble(4).eval()
    alpha, lam = 1.0, 0.5
    forget_imp = gradients.empirical_fisher(model, splits.X_forget, splits.y_forget)
    train_imp = gradients.empirical_fisher(model, torch.cat([splits.X_retain, forget_X]),
                                           torch.cat([splits.y_retain, splits.y_forget]))
    out = METHODS["dampening"].apply(model, (alpha, lam), None, splits, PARAMS)
    assert torch.equal(out.linears[0].weight[:, :, 2], model.linears[0].weight[:, :, 2])
    shrunk = 0
    for (name, before), after in zip(model.named_parameters(), out.parameters()):
        f, d = forget_imp[name], train_imp[name]
        low = f <= alpha * d
        assert torch.equal(after[low], before[low]), name
        expected = before[~low] * (lam * d[~low] / f[~low]).clamp(max=1)
        torch.testing.assert_close(after[~low], expected)
        shrunk += int((~low).sum())
    assert shrunk > 0


# Every method


STRENGTH_ZERO = {"gaussian": 0.0, "laplacian": 0.0, "adaptive": 0.0, "layerwise": [0.0, 0.0, 0.0], "gradient": 0.0,
                 "fisher": 0.0, "repair": 0, "finetune": 0, "certified": math.inf, "langevin": (0.0, 0),
                 "dampening": (math.inf, 1.0)}


@pytest.mark.parametrize("name", list(STRENGTH_ZERO))  # the baselines': tests/test_baselines.py
def test_each_method_at_strength_zero_leaves_the_model_unchanged(name, small_splits):
    model = make_ensemble(3)
    params = {**PARAMS, "repair_base_value": 0.0}
    out = METHODS[name].apply(model, STRENGTH_ZERO[name], runtime.generator(CPU, 7), small_splits, params)
    assert out is not model
    for a, b in zip(model.parameters(), out.parameters()):
        assert torch.equal(a, b)
    if name != "certified":  # certified recomputes BatchNorm's statistics from the retain rows
        for a, b in zip(model.buffers(), out.buffers()):
            assert torch.equal(a, b)


def test_the_registry_is_the_catalog_with_each_function():
    assert list(METHODS) == list(CATALOG)
    for name, method in METHODS.items():
        module, function = CATALOG[name].function.split(":")
        assert module.startswith("nbutils.methods.") and method.apply.__name__ == function
        assert method.label == CATALOG[name].label and method.sweep == CATALOG[name].sweep


def test_grid_settings_are_labelled_and_give_their_first_knob_as_the_value():
    settings = METHODS["dampening"].settings({"dampening_alphas": [2, 10], "dampening_lambdas": [0.5, 1]})
    assert settings == {"alpha=2, lambda=0.5": (2, 0.5), "alpha=2, lambda=1": (2, 1),
                        "alpha=10, lambda=0.5": (10, 0.5), "alpha=10, lambda=1": (10, 1)}
    assert Method.numeric((2, 0.5)) == 2
    assert Method.numeric(0.1) == 0.1
    assert math.isnan(Method.numeric([0.1, 0.2]))
    assert METHODS["gaussian"].settings({"gaussian_sigmas": [0.01]}) == {"sigma=0.01": 0.01}
