import pytest
import torch

from conftest import CPU, make_ensemble
from nbutils import runtime, unlearning
from nbutils.unlearning import METHODS

KW = dict(importance_weight=2.0)


@pytest.fixture
def forget():
    g = torch.Generator().manual_seed(3)
    return torch.randn(40, 8, generator=g), torch.randint(0, 2, (40,), generator=g)


def diffs(before, after):
    return {name: b - a for (name, a), b in zip(before.named_parameters(), after.parameters())}


@pytest.mark.parametrize("name, zero", [("gaussian", 0.0), ("laplacian", 0.0), ("adaptive", 0.0),
                                        ("layerwise", [0.0, 0.0, 0.0]), ("gradient", 0.0)])
def test_zero_noise_changes_nothing(name, zero, forget):
    model = make_ensemble(3)
    out = METHODS[name].apply(model, zero, runtime.generator(CPU, 1), X_forget=forget[0], y_forget=forget[1], **KW)
    for d in diffs(model, out).values():
        assert torch.count_nonzero(d) == 0
    assert out is not model


@pytest.mark.parametrize("name, level, expected_std", [
    ("gaussian", 0.05, 0.05),
    ("laplacian", 0.05, 0.05 * 2 ** 0.5),  # Laplace(0, b) has standard deviation b * sqrt(2)
])
def test_noise_spread_matches_its_level(name, level, expected_std):
    model = make_ensemble(16, hidden=(64, 32))
    out = METHODS[name].apply(model, level, runtime.generator(CPU, 2))
    noise = torch.cat([d.flatten() for d in diffs(model, out).values()])
    assert noise.std().item() == pytest.approx(expected_std, rel=0.03)
    assert noise.mean().item() == pytest.approx(0, abs=0.01 * expected_std * 10)


def test_each_model_gets_its_own_draw():
    model = make_ensemble(2)
    with torch.no_grad():
        for p in model.parameters():
            p[1] = p[0]
    out = unlearning.gaussian(model, 0.1, runtime.generator(CPU, 0))
    w = out.linears[0].weight
    assert not torch.equal(w[0], w[1])


def test_layerwise_touches_only_linear_layers_with_their_own_sigma():
    model = make_ensemble(32, hidden=(64, 32))
    sigmas = [0.01, 0.05, 0.2]
    out = unlearning.layerwise(model, sigmas, runtime.generator(CPU, 4))
    for name, d in diffs(model, out).items():
        if name.startswith("norms."):
            assert torch.count_nonzero(d) == 0, name
        else:
            layer = int(name.split(".")[1])
            assert d.std().item() == pytest.approx(sigmas[layer], rel=0.1), name


def test_gradient_noise_is_zero_where_the_forget_gradient_is_zero(forget):
    X, y = forget[0].clone(), forget[1]
    X[:, 2] = 0.0  # no gradient reaches the first layer's weights of feature 2
    model = make_ensemble(4)
    grads = unlearning.forget_gradients(model, X, y)
    out = unlearning.gradient(model, 1.0, runtime.generator(CPU, 5), X_forget=X, y_forget=y)
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
    grads = unlearning.forget_gradients(model, *forget)
    importance = {n: g.abs().flatten(1).mean(1) for n, g in grads.items()}
    largest = torch.stack(list(importance.values())).amax(0)
    out = unlearning.adaptive(model, base, runtime.generator(CPU, 6), X_forget=forget[0], y_forget=forget[1],
                              importance_weight=weight)
    standardised, top = [], []
    for name, d in diffs(model, out).items():
        sigma = base * (1 + weight * importance[name] / largest)  # (K,)
        z = d.flatten(1) / sigma[:, None]
        standardised.append(z.flatten())
        is_top = importance[name] == largest  # the most important tensor gets base * (1 + weight)
        top.append(d.flatten(1)[is_top].flatten())
    assert torch.cat(standardised).std().item() == pytest.approx(1.0, rel=0.03)
    assert torch.cat(top).std().item() == pytest.approx(base * (1 + weight), rel=0.05)
