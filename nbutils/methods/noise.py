"""The seed's five noise methods: Gaussian, Laplacian, adaptive, layer-wise and gradient-based.

Each returns a perturbed copy and leaves its input untouched. Noise is drawn for
the whole stacked tensor in one call, so each model gets its own, independent
draw. "Every weight and bias" means every parameter of the ensemble, BatchNorm's
scale and shift included, as in the seed.
"""

import copy

import torch

from nbutils import engine
from nbutils.methods.steps import mean_gradient


def perturbed(model, noise_for):
    """A copy of ``model`` with ``noise_for(name, param)`` added to each parameter it returns noise for."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name, param in out.named_parameters():
            noise = noise_for(name, param)
            if noise is not None:
                param.add_(noise)
    return out


def randn(param, generator):
    """Standard normal noise shaped like ``param``."""
    return torch.randn(param.shape, generator=generator, device=param.device)


def _per_model(values, param):
    """Broadcast one value per model, shape (K,), against a stacked parameter."""
    return values.view(-1, *[1] * (param.dim() - 1))


@torch.no_grad()
def forget_gradients(model, X_forget, y_forget):
    """Gradient of each model's mean cross-entropy on the forget set, in evaluation mode, by name."""
    stack = engine.Stack.of(model.eval())
    mean_gradient(stack, X_forget, y_forget)
    return stack.grad


def gaussian(model, sigma, generator, splits=None, params=None):
    """Add N(0, sigma^2) noise to every parameter."""
    return perturbed(model, lambda name, p: randn(p, generator) * sigma)


def laplacian(model, scale, generator, splits=None, params=None):
    """Add Laplace(0, scale) noise to every parameter (drawn as scale times a difference of two Exp(1))."""

    def noise(name, p):
        e = torch.empty((2, *p.shape), device=p.device).exponential_(generator=generator)
        return (e[0] - e[1]) * scale

    return perturbed(model, noise)


def adaptive(model, base_sigma, generator, splits, params):
    """Gaussian noise whose sigma grows with a tensor's importance to the forget set.

    Importance of a tensor = mean |gradient| of the forget-set loss over its
    elements, divided by the largest such mean in the same model; its noise has
    sigma = base_sigma * (1 + adaptive_importance_weight * importance).
    """
    weight = params["adaptive_importance_weight"]
    grads = forget_gradients(model, splits.X_forget, splits.y_forget)
    mean_abs = {name: g.abs().flatten(1).mean(dim=1) for name, g in grads.items()}  # each (K,)
    largest = torch.stack(list(mean_abs.values())).amax(dim=0).clamp_min(torch.finfo(torch.float32).tiny)

    def noise(name, p):
        sigma = base_sigma * (1 + weight * mean_abs[name] / largest)
        return randn(p, generator) * _per_model(sigma, p)

    return perturbed(model, noise)


def layerwise(model, sigmas, generator, splits=None, params=None):
    """Gaussian noise on the Linear layers only, with ``sigmas[i]`` for the i-th Linear layer."""
    sigma_of = {f"linears.{i}.{kind}": s for i, s in enumerate(sigmas) for kind in ("weight", "bias")}
    return perturbed(model, lambda name, p: randn(p, generator) * sigma_of[name] if name in sigma_of else None)


def gradient(model, multiplier, generator, splits, params=None):
    """Gaussian noise with a per-element sigma of multiplier * |forget-set gradient|."""
    grads = forget_gradients(model, splits.X_forget, splits.y_forget)
    return perturbed(model, lambda name, p: randn(p, generator) * grads[name].abs() * multiplier)
